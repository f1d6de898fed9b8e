ALTER TABLE artifacts DROP COLUMN deleted_by;
ALTER TABLE artifacts DROP COLUMN deleted_at;
ALTER TABLE artifacts DROP COLUMN display_name;
