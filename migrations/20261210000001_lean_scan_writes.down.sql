DROP TRIGGER lead_list_company_insert ON companies;
DROP FUNCTION lead_list_new_companies();
CREATE TRIGGER lead_list_company_insert AFTER INSERT ON companies
    FOR EACH ROW EXECUTE FUNCTION lead_list_company();

DROP TRIGGER lead_list_state_delete ON lead_state;
DROP TRIGGER lead_list_state_update ON lead_state;
DROP TRIGGER lead_list_state_insert ON lead_state;
DROP FUNCTION lead_list_state_rows();
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

ALTER TABLE lead_state RESET (fillfactor);
CREATE INDEX lead_state_score_idx ON lead_state (score DESC NULLS LAST);
CREATE INDEX lead_state_segment_idx ON lead_state (segment);
CREATE INDEX lead_state_provider_idx ON lead_state (provider);
CREATE INDEX lead_state_gateway_idx ON lead_state (gateway);
CREATE INDEX lead_state_priority_idx ON lead_state (priority);
CREATE INDEX lead_state_scanned_idx ON lead_state (scanned_at);

CREATE INDEX job_queue_ready_idx ON job_queue (priority DESC, run_after, id) WHERE state = 'queued';
DROP INDEX job_queue_claim_idx;
