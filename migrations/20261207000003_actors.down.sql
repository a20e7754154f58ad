-- Reverts 20261207000003_actors.up.sql: who tagged, favoured or asked for a rescan is forgotten.
ALTER TABLE batches DROP COLUMN requested_by;
ALTER TABLE favorites DROP COLUMN added_by;
ALTER TABLE tags DROP COLUMN added_by;
