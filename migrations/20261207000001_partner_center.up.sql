-- Partner Center referrals (one row per referral id, the whole object kept raw) and the log of
-- every sync run. The watermark a delta sync stops at is taken from the last run that walked every
-- page, never from the referrals themselves: a run killed half-way must not hide the pages it did
-- not reach.
CREATE TABLE pc_referrals (
    id               BIGSERIAL PRIMARY KEY,
    referral_id      TEXT NOT NULL UNIQUE,
    engagement_id    TEXT,
    name             TEXT,
    status           TEXT,
    substatus        TEXT,
    referral_type    TEXT,
    qualification    TEXT,
    direction        TEXT,
    -- co-sell, marketplace, solution-provider, marketing-qualified, own-deal, or NULL when unknown.
    referral_kind    TEXT,
    customer_name    TEXT,
    domain           TEXT,
    contact_emails   TEXT[] NOT NULL DEFAULT '{}',
    deal_value       NUMERIC(18, 2),
    currency         TEXT,
    created_time     TIMESTAMPTZ,
    updated_time     TIMESTAMPTZ,
    expiration_time  TIMESTAMPTZ,
    raw              JSONB NOT NULL,
    -- linked (company found or created), no_domain, free_mail_only (only consumer addresses), invalid.
    link_status      TEXT NOT NULL CHECK (link_status IN ('linked', 'no_domain', 'free_mail_only', 'invalid')),
    link_reason      TEXT,
    company_id       BIGINT REFERENCES companies (id) ON DELETE SET NULL,
    first_seen_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
    last_seen_at     TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX pc_referrals_company_idx ON pc_referrals (company_id, updated_time DESC);
CREATE INDEX pc_referrals_link_status_idx ON pc_referrals (link_status);

CREATE TABLE sync_runs (
    id          BIGSERIAL PRIMARY KEY,
    job         TEXT NOT NULL,
    started_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    finished_at TIMESTAMPTZ,
    -- ok, partial (some records failed), failed; NULL while running (or killed).
    outcome     TEXT CHECK (outcome IN ('ok', 'partial', 'failed')),
    fetched     INTEGER NOT NULL DEFAULT 0,
    created     INTEGER NOT NULL DEFAULT 0,
    updated     INTEGER NOT NULL DEFAULT 0,
    skipped     INTEGER NOT NULL DEFAULT 0,
    failed      INTEGER NOT NULL DEFAULT 0,
    -- Newest updatedDateTime seen; set only when the run walked every page it had to.
    watermark   TIMESTAMPTZ,
    error       TEXT
);
CREATE INDEX sync_runs_job_idx ON sync_runs (job, started_at DESC);
