DROP TRIGGER lead_list_state_update ON lead_state;
DROP TRIGGER lead_list_state ON lead_state;
CREATE TRIGGER lead_list_state AFTER INSERT OR UPDATE OR DELETE ON lead_state
    FOR EACH ROW EXECUTE FUNCTION lead_list_state();
