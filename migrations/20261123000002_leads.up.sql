-- The engine's working state: each lead's current scan/score summary (what lists filter and sort on),
-- and work-queue columns for de-duplicated, batch-tracked scans.

CREATE TABLE lead_state (
    company_id         BIGINT PRIMARY KEY REFERENCES companies(id) ON DELETE CASCADE,
    scan_id            BIGINT REFERENCES scans(id) ON DELETE SET NULL,
    score_id           BIGINT REFERENCES scores(id) ON DELETE SET NULL,
    scan_status        TEXT,
    scanned_at         TIMESTAMPTZ,
    provider           TEXT,
    gateway            TEXT,
    local_provider     TEXT,
    mx_root            TEXT,
    tenant_size        TEXT,
    mx_hosts           TEXT[] NOT NULL DEFAULT '{}',
    spf                BOOLEAN,
    spf_record         TEXT,
    spf_includes       TEXT[] NOT NULL DEFAULT '{}',
    dkim               BOOLEAN,
    dkim_selectors     TEXT[] NOT NULL DEFAULT '{}',
    dmarc_policy       TEXT,
    dmarc_pct          SMALLINT,
    score              INTEGER,
    segment            TEXT,
    commercial_segment TEXT,
    technical_heat     TEXT,
    commercial_heat    TEXT,
    priority           TEXT,
    priority_label     TEXT,
    legacy_priority    SMALLINT,
    updated_at         TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX lead_state_score_idx ON lead_state (score DESC NULLS LAST);
CREATE INDEX lead_state_segment_idx ON lead_state (segment);
CREATE INDEX lead_state_provider_idx ON lead_state (provider);
CREATE INDEX lead_state_gateway_idx ON lead_state (gateway);
CREATE INDEX lead_state_priority_idx ON lead_state (priority);
CREATE INDEX lead_state_scanned_idx ON lead_state (scanned_at);

ALTER TABLE scans ADD COLUMN detection JSONB;
ALTER TABLE scores ADD COLUMN reason TEXT;
ALTER TABLE scores ADD COLUMN legacy_priority SMALLINT;
ALTER TABLE scans ADD COLUMN registration JSONB;
ALTER TABLE scans ADD COLUMN duration_ms INTEGER;
ALTER TABLE scans ADD COLUMN scanned_by TEXT;

-- Work-queue: a key that makes "already queued or running" a constraint.
ALTER TABLE job_queue ADD COLUMN dedup_key TEXT;
CREATE UNIQUE INDEX job_queue_dedup_idx ON job_queue (kind, dedup_key) WHERE state IN ('queued', 'running');

-- A batch is the set of companies one add/import/rescan asked to (re)scan; `--wait` follows it until every
-- member has a scan newer than the batch.
CREATE TABLE batches (
    id         UUID PRIMARY KEY,
    kind       TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE TABLE batch_members (
    batch_id   UUID NOT NULL REFERENCES batches(id) ON DELETE CASCADE,
    company_id BIGINT NOT NULL REFERENCES companies(id) ON DELETE CASCADE,
    PRIMARY KEY (batch_id, company_id)
);

-- Free-text search over domains and company names.
CREATE INDEX companies_domain_pattern_idx ON companies (domain text_pattern_ops);

-- Change feed reads newest first per kind.
CREATE INDEX events_kind_time_idx ON events (kind, created_at DESC);
