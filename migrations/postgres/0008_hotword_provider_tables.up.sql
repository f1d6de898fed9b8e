-- Provider-side hotword tables (a Volcano boosting table per hotword set). The table's id
-- goes into the existing `provider_resource_id`; these columns track the sync job.
ALTER TABLE hotword_sets ADD COLUMN provider_sync_state TEXT
    CHECK (provider_sync_state IN ('pending', 'synced', 'failed'));
ALTER TABLE hotword_sets ADD COLUMN provider_sync_error TEXT;
ALTER TABLE hotword_sets ADD COLUMN provider_synced_at TIMESTAMPTZ;
