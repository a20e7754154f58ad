-- Dynamics 365 push: one queue row per company (its current push state, what was last sent and the
-- D365 records it is bound to) and an audit log of every Dataverse call.

CREATE TABLE d365_push (
    company_id       BIGINT PRIMARY KEY REFERENCES companies(id) ON DELETE CASCADE,
    state            TEXT NOT NULL DEFAULT 'pending'
                     CHECK (state IN ('pending', 'in_flight', 'synced', 'failed', 'duplicate')),
    attempts         INTEGER NOT NULL DEFAULT 0,
    next_attempt_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    leased_by        TEXT,
    lease_expires_at TIMESTAMPTZ,
    last_error       TEXT,
    -- The batch of the latest push request (what `hunter-tui push --wait` follows).
    batch_id         UUID,
    lead_id          UUID,
    account_id       UUID,
    contact_id       UUID,
    opportunity_id   UUID,
    record_url       TEXT,
    -- The columns last acknowledged by D365 and their hash: a re-push sends only what changed.
    sent_payload     JSONB,
    payload_hash     TEXT,
    requested_at     TIMESTAMPTZ NOT NULL DEFAULT now(),
    pushed_at        TIMESTAMPTZ,
    updated_at       TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX d365_push_ready_idx ON d365_push (next_attempt_at) WHERE state = 'pending';
CREATE INDEX d365_push_lease_idx ON d365_push (lease_expires_at) WHERE state = 'in_flight';
CREATE INDEX d365_push_batch_idx ON d365_push (batch_id);

-- Every Dataverse and token call: kept for `dynamics.audit_retention`.
CREATE TABLE d365_audit (
    id          BIGSERIAL PRIMARY KEY,
    at          TIMESTAMPTZ NOT NULL DEFAULT now(),
    company_id  BIGINT,
    operation   TEXT NOT NULL,
    entity      TEXT NOT NULL,
    http_status INTEGER,
    error_code  TEXT,
    message     TEXT,
    duration_ms INTEGER NOT NULL
);
CREATE INDEX d365_audit_at_idx ON d365_audit (at);
CREATE INDEX d365_audit_company_idx ON d365_audit (company_id, at DESC);
