-- Who did it: the login of the account that tagged a lead, made it a favourite or asked for a rescan,
-- as hunterd read it from the socket's peer credentials (SO_PEERCRED). NULL for rows older than this.
ALTER TABLE tags ADD COLUMN added_by TEXT;
ALTER TABLE favorites ADD COLUMN added_by TEXT;
ALTER TABLE batches ADD COLUMN requested_by TEXT;
