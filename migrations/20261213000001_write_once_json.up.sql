-- Issue 9: the scan history's documents are written once per scan and read back whole (the lead
-- detail, the Dynamics push), never searched inside. As jsonb, PostgreSQL parsed every one into its
-- binary form on insert: about 6 KB per scanned domain. As json, the text is only checked and stored
-- (measured on 1,000 stored scans: 57-79 ms to insert them as jsonb from one JSON document, 21-24 ms
-- as json from text arrays). The one query that looked inside (Partner
-- Center's co-sell check on one score's breakdown) casts that value to jsonb.
--
-- The list's spf_result was read out of the lead's last scan document for every row of every page;
-- it is now a column of the lead's state, like the other listed values.
ALTER TABLE lead_state ADD COLUMN spf_status TEXT;
UPDATE lead_state ls SET spf_status = s.signals -> 'spf' ->> 'status' FROM scans s WHERE s.id = ls.scan_id;

ALTER TABLE scans
    ALTER COLUMN raw_records TYPE json USING raw_records::json,
    ALTER COLUMN signals TYPE json USING signals::json,
    ALTER COLUMN detection TYPE json USING detection::json,
    ALTER COLUMN registration TYPE json USING registration::json,
    ALTER COLUMN enrichment TYPE json USING enrichment::json;
ALTER TABLE scores
    ALTER COLUMN breakdown TYPE json USING breakdown::json,
    ALTER COLUMN sales_summary TYPE json USING sales_summary::json;

-- Keep lz4 where the server has it (as 20261211000001 chose).
DO $$
BEGIN
    ALTER TABLE scans
        ALTER COLUMN raw_records SET COMPRESSION lz4,
        ALTER COLUMN signals SET COMPRESSION lz4,
        ALTER COLUMN detection SET COMPRESSION lz4,
        ALTER COLUMN registration SET COMPRESSION lz4,
        ALTER COLUMN enrichment SET COMPRESSION lz4;
    ALTER TABLE scores
        ALTER COLUMN breakdown SET COMPRESSION lz4,
        ALTER COLUMN sales_summary SET COMPRESSION lz4;
EXCEPTION WHEN feature_not_supported THEN
    RAISE NOTICE 'this PostgreSQL server was built without lz4: scan history stays compressed with pglz';
END $$;
