ALTER TABLE lead_list DROP COLUMN search;
ALTER TABLE lead_list ADD COLUMN search TEXT
    GENERATED ALWAYS AS (lead_list_search(domain, company_name, provider, gateway, tags)) STORED;
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pg_trgm') THEN
        EXECUTE 'CREATE INDEX lead_list_search_idx ON lead_list USING gin (search gin_trgm_ops)';
    END IF;
END $$;
