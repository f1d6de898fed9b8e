ALTER TABLE hotword_sets DROP COLUMN provider_synced_at;
ALTER TABLE hotword_sets DROP COLUMN provider_sync_error;
ALTER TABLE hotword_sets DROP COLUMN provider_sync_state;
