-- Lead list read model (issue 14): one row per company holding what the lead list filters and sorts on,
-- kept in step with companies, lead_state, favorites and tags by triggers. A page is then an index seek on
-- one table (keyset paging on `(sort column, domain)`), free text is a trigram index, tags need no per-row
-- subquery, and facet counts are one GROUP BY without joins.

-- Free text stays one line per searched column: the text a user types never holds a line break, so a
-- match never spans two columns (the same rows as matching each column on its own).
CREATE FUNCTION lead_list_search(domain text, company_name text, provider text, gateway text, tags text[])
RETURNS text LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT domain || E'\n' || coalesce(company_name, '') || E'\n' || coalesce(provider, '') || E'\n'
           || coalesce(gateway, '') || E'\n' || array_to_string(tags, E'\n')
$$;

CREATE TABLE lead_list (
    company_id         BIGINT PRIMARY KEY REFERENCES companies(id) ON DELETE CASCADE,
    domain             TEXT NOT NULL,
    company_name       TEXT,
    provider           TEXT,
    gateway            TEXT,
    segment            TEXT,
    score              INTEGER,
    priority           TEXT,
    commercial_segment TEXT,
    technical_heat     TEXT,
    commercial_heat    TEXT,
    scan_status        TEXT,
    scanned_at         TIMESTAMPTZ,
    favorite           BOOLEAN NOT NULL DEFAULT false,
    -- Sorted, like the list shows them.
    tags               TEXT[] NOT NULL DEFAULT '{}',
    search             TEXT GENERATED ALWAYS AS (lead_list_search(domain, company_name, provider, gateway, tags)) STORED
);

-- Derives every row from the source tables, set-based: the backfill below, and a repair after bulk loads
-- that bypassed the triggers.
CREATE FUNCTION lead_list_rebuild() RETURNS void LANGUAGE sql AS $$
    DELETE FROM lead_list;
    INSERT INTO lead_list (company_id, domain, company_name, provider, gateway, segment, score, priority,
                           commercial_segment, technical_heat, commercial_heat, scan_status, scanned_at, favorite, tags)
    SELECT c.id, c.domain, c.company_name, ls.provider, ls.gateway, ls.segment, ls.score, ls.priority,
           ls.commercial_segment, ls.technical_heat, ls.commercial_heat, ls.scan_status, ls.scanned_at,
           f.company_id IS NOT NULL, coalesce(t.tags, '{}')
      FROM companies c
      LEFT JOIN lead_state ls ON ls.company_id = c.id
      LEFT JOIN favorites f ON f.company_id = c.id
      LEFT JOIN (SELECT company_id, array_agg(tag ORDER BY tag) AS tags FROM tags GROUP BY company_id) t
             ON t.company_id = c.id;
$$;

SELECT lead_list_rebuild();

CREATE FUNCTION lead_list_company() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO lead_list (company_id, domain, company_name) VALUES (NEW.id, NEW.domain, NEW.company_name);
    ELSE
        UPDATE lead_list SET domain = NEW.domain, company_name = NEW.company_name WHERE company_id = NEW.id;
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER lead_list_company_insert AFTER INSERT ON companies
    FOR EACH ROW EXECUTE FUNCTION lead_list_company();
CREATE TRIGGER lead_list_company_update AFTER UPDATE ON companies
    FOR EACH ROW WHEN (OLD.domain IS DISTINCT FROM NEW.domain OR OLD.company_name IS DISTINCT FROM NEW.company_name)
    EXECUTE FUNCTION lead_list_company();

CREATE FUNCTION lead_list_state() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        UPDATE lead_list SET provider = NULL, gateway = NULL, segment = NULL, score = NULL, priority = NULL,
               commercial_segment = NULL, technical_heat = NULL, commercial_heat = NULL, scan_status = NULL,
               scanned_at = NULL
         WHERE company_id = OLD.company_id;
    ELSE
        UPDATE lead_list SET provider = NEW.provider, gateway = NEW.gateway, segment = NEW.segment, score = NEW.score,
               priority = NEW.priority, commercial_segment = NEW.commercial_segment,
               technical_heat = NEW.technical_heat, commercial_heat = NEW.commercial_heat,
               scan_status = NEW.scan_status, scanned_at = NEW.scanned_at
         WHERE company_id = NEW.company_id;
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER lead_list_state AFTER INSERT OR UPDATE OR DELETE ON lead_state
    FOR EACH ROW EXECUTE FUNCTION lead_list_state();

CREATE FUNCTION lead_list_favorite() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        UPDATE lead_list SET favorite = false WHERE company_id = OLD.company_id;
    ELSE
        UPDATE lead_list SET favorite = true WHERE company_id = NEW.company_id;
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER lead_list_favorite AFTER INSERT OR DELETE ON favorites
    FOR EACH ROW EXECUTE FUNCTION lead_list_favorite();

CREATE FUNCTION lead_list_tags() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP <> 'INSERT' THEN
        UPDATE lead_list SET tags = coalesce((SELECT array_agg(tag ORDER BY tag) FROM tags WHERE company_id = OLD.company_id), '{}')
         WHERE company_id = OLD.company_id;
    END IF;
    IF TG_OP <> 'DELETE' THEN
        UPDATE lead_list SET tags = coalesce((SELECT array_agg(tag ORDER BY tag) FROM tags WHERE company_id = NEW.company_id), '{}')
         WHERE company_id = NEW.company_id;
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER lead_list_tags AFTER INSERT OR UPDATE OR DELETE ON tags
    FOR EACH ROW EXECUTE FUNCTION lead_list_tags();

-- One (column, domain) index per sort key: serves both directions (a backward scan) and the seek
-- `(column, domain) < (key, domain)`; rows without a value are the index's NULL end, ordered by domain.
CREATE UNIQUE INDEX lead_list_domain_idx ON lead_list (domain);
CREATE INDEX lead_list_company_idx ON lead_list (lower(company_name), domain);
CREATE INDEX lead_list_provider_idx ON lead_list (provider, domain);
CREATE INDEX lead_list_gateway_idx ON lead_list (gateway, domain);
CREATE INDEX lead_list_segment_idx ON lead_list (segment, domain);
CREATE INDEX lead_list_score_idx ON lead_list (score, domain);
CREATE INDEX lead_list_priority_idx ON lead_list (priority, domain);
CREATE INDEX lead_list_commercial_segment_idx ON lead_list (commercial_segment, domain);
CREATE INDEX lead_list_technical_heat_idx ON lead_list (technical_heat, domain);
CREATE INDEX lead_list_commercial_heat_idx ON lead_list (commercial_heat, domain);
CREATE INDEX lead_list_scan_status_idx ON lead_list (scan_status, domain);
CREATE INDEX lead_list_scanned_at_idx ON lead_list (scanned_at, domain);
CREATE INDEX lead_list_favorite_idx ON lead_list (domain) WHERE favorite;
CREATE INDEX lead_list_tags_idx ON lead_list USING gin (tags);

-- Facet filters compare lower-case values; statistics on those expressions let the planner see that
-- `segment=Migration` keeps a quarter of the leads (and walk the sort index) rather than guess. Expression
-- statistics need PostgreSQL 14; older servers plan without them.
DO $$
BEGIN
    IF current_setting('server_version_num')::int >= 140000 THEN
        EXECUTE 'CREATE STATISTICS lead_list_segment_stats ON (lower(segment)) FROM lead_list';
        EXECUTE 'CREATE STATISTICS lead_list_provider_stats ON (lower(provider)) FROM lead_list';
        EXECUTE 'CREATE STATISTICS lead_list_gateway_stats ON (lower(gateway)) FROM lead_list';
        EXECUTE 'CREATE STATISTICS lead_list_priority_stats ON (lower(priority)) FROM lead_list';
        EXECUTE 'CREATE STATISTICS lead_list_technical_heat_stats ON (lower(technical_heat)) FROM lead_list';
        EXECUTE 'CREATE STATISTICS lead_list_commercial_heat_stats ON (lower(commercial_heat)) FROM lead_list';
        EXECUTE 'CREATE STATISTICS lead_list_commercial_segment_stats ON (lower(commercial_segment)) FROM lead_list';
        EXECUTE 'CREATE STATISTICS lead_list_scan_status_stats ON (lower(scan_status)) FROM lead_list';
    END IF;
END $$;

-- Free text by trigrams. pg_trgm ships with the PostgreSQL server package and is a trusted extension (a
-- database owner may create it). Where it is missing or may not be created, free text still works by
-- reading every lead, and `hunterd check` says how to add it; the daemon is not refused for it.
DO $$
BEGIN
    BEGIN
        CREATE EXTENSION IF NOT EXISTS pg_trgm;
    EXCEPTION WHEN OTHERS THEN
        RAISE WARNING 'pg_trgm unavailable (%): free-text lead filters will read every lead', SQLERRM;
    END;
    IF EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pg_trgm') THEN
        EXECUTE 'CREATE INDEX lead_list_search_idx ON lead_list USING gin (search gin_trgm_ops)';
    END IF;
END $$;
