-- IP enrichment (issue 5): cached lookups per address, the enrichment stored with each scan, and the
-- lead's headline values for the list and export.

CREATE TABLE ip_enrichment (
    ip             text PRIMARY KEY,
    -- The merged result (fields and the source that answered each).
    result         jsonb NOT NULL,
    -- Which source database builds produced it; a different build makes the entry stale.
    source_version text NOT NULL,
    looked_up_at   timestamptz NOT NULL DEFAULT now()
);

ALTER TABLE scans ADD COLUMN enrichment jsonb;

ALTER TABLE lead_state
    ADD COLUMN ip_country text,
    ADD COLUMN ip_asn bigint,
    ADD COLUMN ip_org text,
    ADD COLUMN ip_proxy boolean,
    ADD COLUMN infrastructure_summary text;
