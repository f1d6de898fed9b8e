ALTER TABLE tasks DROP COLUMN audio_purged_at;
