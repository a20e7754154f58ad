-- Reverts 20261206000001_lead_list.up.sql.

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

-- pg_trgm goes too, unless something else uses it or hunterd may not drop it (then it stays).
DO $$
BEGIN
    DROP EXTENSION IF EXISTS pg_trgm;
EXCEPTION WHEN dependent_objects_still_exist OR insufficient_privilege THEN
    RAISE NOTICE 'pg_trgm stays: %', SQLERRM;
END $$;
