-- When a task's audio was deleted by the retention job (text is kept).
ALTER TABLE tasks ADD COLUMN audio_purged_at TIMESTAMPTZ;
