ALTER FUNCTION lead_list_state_rows() RESET enable_hashjoin;
