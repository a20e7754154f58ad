-- Lead list changes are announced (issue 14): the daemon keeps what a filter matched, its count and its
-- facet counts in memory while nothing the filter reads has changed, and a NOTIFY (sent when the writing
-- transaction commits, one per transaction however many rows it touched) tells it when that is over.
-- A statement-level trigger costs one call per statement, not per row, and takes no lock.

CREATE FUNCTION lead_list_announce() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('hunter_lead_list', '');
    RETURN NULL;
END $$;

CREATE TRIGGER lead_list_announce AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON lead_list
    FOR EACH STATEMENT EXECUTE FUNCTION lead_list_announce();
-- The `referral` filter reads Partner Center referrals.
CREATE TRIGGER lead_list_announce AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON pc_referrals
    FOR EACH STATEMENT EXECUTE FUNCTION lead_list_announce();
