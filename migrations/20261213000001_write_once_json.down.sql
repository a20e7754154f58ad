ALTER TABLE scores
    ALTER COLUMN breakdown TYPE jsonb USING breakdown::jsonb,
    ALTER COLUMN sales_summary TYPE jsonb USING sales_summary::jsonb;
ALTER TABLE scans
    ALTER COLUMN raw_records TYPE jsonb USING raw_records::jsonb,
    ALTER COLUMN signals TYPE jsonb USING signals::jsonb,
    ALTER COLUMN detection TYPE jsonb USING detection::jsonb,
    ALTER COLUMN registration TYPE jsonb USING registration::jsonb,
    ALTER COLUMN enrichment TYPE jsonb USING enrichment::jsonb;
ALTER TABLE lead_state DROP COLUMN spf_status;
