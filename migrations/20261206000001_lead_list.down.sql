-- Reverts 20261206000001_lead_list.up.sql. The pg_trgm extension stays: other objects may use it, and
-- dropping it needs rights hunterd may not have.

DROP TRIGGER lead_list_tags ON tags;
DROP TRIGGER lead_list_favorite ON favorites;
DROP TRIGGER lead_list_state ON lead_state;
DROP TRIGGER lead_list_company_update ON companies;
DROP TRIGGER lead_list_company_insert ON companies;
DROP FUNCTION lead_list_tags();
DROP FUNCTION lead_list_favorite();
DROP FUNCTION lead_list_state();
DROP FUNCTION lead_list_company();
DROP FUNCTION lead_list_rebuild();
DROP TABLE lead_list;
DROP FUNCTION lead_list_search(text, text, text, text, text[]);
