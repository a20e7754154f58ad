-- Who asked for a lead's push to Dynamics 365 (login from SO_PEERCRED, as for tags and rescans),
-- and the lookup the lead detail's activity list makes by company.
ALTER TABLE d365_push ADD COLUMN requested_by TEXT;
CREATE INDEX batch_members_company_idx ON batch_members (company_id);
