-- Issue 9: what a stored scan costs PostgreSQL.
--
-- lead_state's secondary indexes date from before the lead list had a read model of its own: nothing
-- filters or sorts lead_state any more (the list reads lead_list; everything else finds a lead by its
-- company id, and the rescan query walks lead_list's scanned_at index). Each one was written on every
-- stored scan, and `scanned_at`, which every scan changes, being indexed kept every rescan's update
-- from being a heap-only (HOT) one.
DROP INDEX lead_state_score_idx;
DROP INDEX lead_state_segment_idx;
DROP INDEX lead_state_provider_idx;
DROP INDEX lead_state_gateway_idx;
DROP INDEX lead_state_priority_idx;
DROP INDEX lead_state_scanned_idx;
-- Room on each page for the rescan's new row version, so it can stay on the page (HOT).
ALTER TABLE lead_state SET (fillfactor = 80);

-- lead_list follows lead_state once per statement (the store writes a batch of leads in one), from
-- the statement's transition tables, instead of one trigger call and one UPDATE per row. A row whose
-- listed columns already match is left alone, as before.
DROP TRIGGER lead_list_state_update ON lead_state;
DROP TRIGGER lead_list_state ON lead_state;

CREATE FUNCTION lead_list_state_rows() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- Each branch names only the transition tables its event has.
    IF TG_OP = 'DELETE' THEN
        UPDATE lead_list l SET provider = NULL, gateway = NULL, segment = NULL, score = NULL, priority = NULL,
               commercial_segment = NULL, technical_heat = NULL, commercial_heat = NULL, scan_status = NULL,
               scanned_at = NULL
          FROM old_rows o
         WHERE l.company_id = o.company_id;
        RETURN NULL;
    END IF;
    IF TG_OP = 'UPDATE' THEN
        -- A row moved to another company leaves its old company without state.
        UPDATE lead_list l SET provider = NULL, gateway = NULL, segment = NULL, score = NULL, priority = NULL,
               commercial_segment = NULL, technical_heat = NULL, commercial_heat = NULL, scan_status = NULL,
               scanned_at = NULL
          FROM old_rows o
         WHERE l.company_id = o.company_id AND NOT EXISTS (SELECT 1 FROM new_rows n WHERE n.company_id = o.company_id);
    END IF;
    UPDATE lead_list l SET provider = n.provider, gateway = n.gateway, segment = n.segment, score = n.score,
           priority = n.priority, commercial_segment = n.commercial_segment,
           technical_heat = n.technical_heat, commercial_heat = n.commercial_heat,
           scan_status = n.scan_status, scanned_at = n.scanned_at
      FROM new_rows n
     WHERE l.company_id = n.company_id
       AND (l.provider, l.gateway, l.segment, l.score, l.priority, l.commercial_segment, l.technical_heat,
            l.commercial_heat, l.scan_status, l.scanned_at)
           IS DISTINCT FROM
           (n.provider, n.gateway, n.segment, n.score, n.priority, n.commercial_segment, n.technical_heat,
            n.commercial_heat, n.scan_status, n.scanned_at);
    RETURN NULL;
END $$;

-- Transition tables allow one event per trigger.
CREATE TRIGGER lead_list_state_insert AFTER INSERT ON lead_state
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION lead_list_state_rows();
CREATE TRIGGER lead_list_state_update AFTER UPDATE ON lead_state
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION lead_list_state_rows();
CREATE TRIGGER lead_list_state_delete AFTER DELETE ON lead_state
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION lead_list_state_rows();

-- Claiming work walks one kind's ready items in claim order, straight from the index: the old index
-- led with priority, so every claim read every ready item of every kind (the scans and the
-- registration lookups a bulk import queues) and sorted them — ~10 ms per claim at 10,000 queued.
CREATE INDEX job_queue_claim_idx ON job_queue (kind, priority DESC, run_after, id) WHERE state = 'queued';
DROP INDEX job_queue_ready_idx;

-- New companies (an import adds thousands in one statement) get their list rows in one INSERT.
CREATE FUNCTION lead_list_new_companies() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO lead_list (company_id, domain, company_name) SELECT id, domain, company_name FROM new_rows;
    RETURN NULL;
END $$;
DROP TRIGGER lead_list_company_insert ON companies;
CREATE TRIGGER lead_list_company_insert AFTER INSERT ON companies
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION lead_list_new_companies();
