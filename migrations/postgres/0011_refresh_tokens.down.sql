-- The policy goes with the table.
DROP TABLE refresh_tokens;
