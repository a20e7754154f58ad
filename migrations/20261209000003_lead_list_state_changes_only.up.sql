-- A rescan that finds what the last one found (the usual case for the scheduled rescans) still
-- rewrites its lead_state row, and the trigger used to rewrite the lead_list row with it: a non-HOT
-- update touching every list index. Only a change to a column the list shows now reaches lead_list.
DROP TRIGGER lead_list_state ON lead_state;
CREATE TRIGGER lead_list_state AFTER INSERT OR DELETE ON lead_state
    FOR EACH ROW EXECUTE FUNCTION lead_list_state();
CREATE TRIGGER lead_list_state_update AFTER UPDATE ON lead_state
    FOR EACH ROW WHEN (
        (OLD.provider, OLD.gateway, OLD.segment, OLD.score, OLD.priority, OLD.commercial_segment,
         OLD.technical_heat, OLD.commercial_heat, OLD.scan_status, OLD.scanned_at, OLD.company_id)
        IS DISTINCT FROM
        (NEW.provider, NEW.gateway, NEW.segment, NEW.score, NEW.priority, NEW.commercial_segment,
         NEW.technical_heat, NEW.commercial_heat, NEW.scan_status, NEW.scanned_at, NEW.company_id))
    EXECUTE FUNCTION lead_list_state();
