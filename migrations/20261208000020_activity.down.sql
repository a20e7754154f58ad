DROP INDEX batch_members_company_idx;
ALTER TABLE d365_push DROP COLUMN requested_by;
