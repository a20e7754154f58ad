-- lead_list follows each stored batch of leads (a few hundred rows) by its primary key. With hash
-- joins switched off for the trigger (20261211000002), the planner read and sorted the whole list for
-- a merge join instead (measured on 10,000 leads: 9 of the 42 ms a batch of 256 took), and the cost
-- grew with the list. Naming the batch's ids as an array lets the planner find the rows through the
-- primary key, whatever it joins them with, so the planner settings are back to normal.
CREATE OR REPLACE FUNCTION lead_list_state_rows() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- Each branch names only the transition tables its event has.
    IF TG_OP = 'DELETE' THEN
        UPDATE lead_list l SET provider = NULL, gateway = NULL, segment = NULL, score = NULL, priority = NULL,
               commercial_segment = NULL, technical_heat = NULL, commercial_heat = NULL, scan_status = NULL,
               scanned_at = NULL
          FROM old_rows o
         WHERE l.company_id = o.company_id
           AND l.company_id = ANY (ARRAY(SELECT company_id FROM old_rows));
        RETURN NULL;
    END IF;
    IF TG_OP = 'UPDATE' THEN
        -- A row moved to another company leaves its old company without state.
        UPDATE lead_list l SET provider = NULL, gateway = NULL, segment = NULL, score = NULL, priority = NULL,
               commercial_segment = NULL, technical_heat = NULL, commercial_heat = NULL, scan_status = NULL,
               scanned_at = NULL
          FROM old_rows o
         WHERE l.company_id = o.company_id AND NOT EXISTS (SELECT 1 FROM new_rows n WHERE n.company_id = o.company_id)
           AND l.company_id = ANY (ARRAY(SELECT company_id FROM old_rows));
    END IF;
    UPDATE lead_list l SET provider = n.provider, gateway = n.gateway, segment = n.segment, score = n.score,
           priority = n.priority, commercial_segment = n.commercial_segment,
           technical_heat = n.technical_heat, commercial_heat = n.commercial_heat,
           scan_status = n.scan_status, scanned_at = n.scanned_at
      FROM new_rows n
     WHERE l.company_id = n.company_id
       AND l.company_id = ANY (ARRAY(SELECT company_id FROM new_rows))
       AND (l.provider, l.gateway, l.segment, l.score, l.priority, l.commercial_segment, l.technical_heat,
            l.commercial_heat, l.scan_status, l.scanned_at)
           IS DISTINCT FROM
           (n.provider, n.gateway, n.segment, n.score, n.priority, n.commercial_segment, n.technical_heat,
            n.commercial_heat, n.scan_status, n.scanned_at);
    RETURN NULL;
END $$;
ALTER FUNCTION lead_list_state_rows() RESET ALL;
