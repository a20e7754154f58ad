-- Foundation schema: companies and what we learn about them, plus the daemon's own bookkeeping.
-- Later features add their own migrations; never edit an applied one.

CREATE TABLE companies (
    id           BIGSERIAL PRIMARY KEY,
    -- Normalised registrable domain (lowercase, punycode), the natural key everything hangs on.
    domain       TEXT NOT NULL UNIQUE CHECK (domain <> '' AND domain = lower(domain)),
    company_name TEXT,
    source       TEXT NOT NULL,
    created_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at   TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- Every row that came in (import line, manual add, webhook), kept raw for audit and re-processing.
CREATE TABLE intake_rows (
    id          BIGSERIAL PRIMARY KEY,
    company_id  BIGINT REFERENCES companies(id) ON DELETE SET NULL,
    source      TEXT NOT NULL,
    batch_id    UUID,
    line_no     BIGINT,
    raw         JSONB NOT NULL,
    outcome     TEXT NOT NULL CHECK (outcome IN ('accepted', 'merged', 'rejected')),
    reason      TEXT,
    received_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX intake_rows_company_idx ON intake_rows (company_id);
CREATE INDEX intake_rows_batch_idx ON intake_rows (batch_id);

-- One row per DNS scan; history is kept.
CREATE TABLE scans (
    id          BIGSERIAL PRIMARY KEY,
    company_id  BIGINT NOT NULL REFERENCES companies(id) ON DELETE CASCADE,
    status      TEXT NOT NULL,
    raw_records JSONB NOT NULL DEFAULT '{}'::jsonb,
    signals     JSONB NOT NULL DEFAULT '{}'::jsonb,
    error       TEXT,
    started_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    finished_at TIMESTAMPTZ
);
CREATE INDEX scans_company_time_idx ON scans (company_id, started_at DESC);

-- One row per scoring of a scan; the newest per company is the lead's current score.
CREATE TABLE scores (
    id                 BIGSERIAL PRIMARY KEY,
    company_id         BIGINT NOT NULL REFERENCES companies(id) ON DELETE CASCADE,
    scan_id            BIGINT REFERENCES scans(id) ON DELETE SET NULL,
    score              INTEGER NOT NULL,
    segment            TEXT NOT NULL,
    commercial_segment TEXT,
    technical_heat     TEXT,
    commercial_heat    TEXT,
    priority           TEXT,
    priority_label     TEXT,
    breakdown          JSONB NOT NULL DEFAULT '[]'::jsonb,
    sales_summary      JSONB,
    rules_version      TEXT NOT NULL,
    computed_at        TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX scores_company_time_idx ON scores (company_id, computed_at DESC);

-- Work queue shared by every hunterd on this database; claimed with FOR UPDATE SKIP LOCKED.
CREATE TABLE job_queue (
    id               BIGSERIAL PRIMARY KEY,
    kind             TEXT NOT NULL,
    payload          JSONB NOT NULL DEFAULT '{}'::jsonb,
    state            TEXT NOT NULL DEFAULT 'queued' CHECK (state IN ('queued', 'running', 'done', 'failed')),
    priority         SMALLINT NOT NULL DEFAULT 0,
    attempts         INTEGER NOT NULL DEFAULT 0,
    max_attempts     INTEGER NOT NULL DEFAULT 5,
    run_after        TIMESTAMPTZ NOT NULL DEFAULT now(),
    leased_by        TEXT,
    lease_expires_at TIMESTAMPTZ,
    last_error       TEXT,
    created_at       TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at       TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX job_queue_ready_idx ON job_queue (priority DESC, run_after, id) WHERE state = 'queued';
CREATE INDEX job_queue_lease_idx ON job_queue (lease_expires_at) WHERE state = 'running';

-- Scheduled (periodic) jobs: one row each, shared by every hunterd so a run happens once.
CREATE TABLE job_schedule (
    name             TEXT PRIMARY KEY,
    interval_secs    BIGINT NOT NULL CHECK (interval_secs > 0),
    next_run_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    running_by       TEXT,
    lease_expires_at TIMESTAMPTZ,
    last_started_at  TIMESTAMPTZ,
    last_finished_at TIMESTAMPTZ,
    last_ok          BOOLEAN,
    last_summary     TEXT,
    last_error       TEXT,
    last_error_at    TIMESTAMPTZ
);

-- The change log: what happened to which company (or to the system), for the TUI's feed.
CREATE TABLE events (
    id          BIGSERIAL PRIMARY KEY,
    company_id  BIGINT REFERENCES companies(id) ON DELETE CASCADE,
    kind        TEXT NOT NULL,
    payload     JSONB NOT NULL DEFAULT '{}'::jsonb,
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX events_company_time_idx ON events (company_id, created_at DESC);
CREATE INDEX events_time_idx ON events (created_at DESC);

CREATE TABLE notes (
    id         BIGSERIAL PRIMARY KEY,
    company_id BIGINT NOT NULL REFERENCES companies(id) ON DELETE CASCADE,
    author     TEXT NOT NULL,
    body       TEXT NOT NULL CHECK (body <> ''),
    created_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX notes_company_idx ON notes (company_id, created_at DESC);

CREATE TABLE tags (
    company_id BIGINT NOT NULL REFERENCES companies(id) ON DELETE CASCADE,
    tag        TEXT NOT NULL CHECK (tag <> '' AND tag = lower(tag)),
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (company_id, tag)
);
CREATE INDEX tags_tag_idx ON tags (tag);

CREATE TABLE favorites (
    company_id BIGINT PRIMARY KEY REFERENCES companies(id) ON DELETE CASCADE,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
