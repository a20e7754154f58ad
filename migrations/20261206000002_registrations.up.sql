-- Registration data (RDAP/WHOIS) lives beside the scans, not in them: it is looked up by its own
-- rate-limited queue after the DNS scan is stored, cached for weeks, and merged into the lead when
-- it arrives.
CREATE TABLE registrations (
    company_id  BIGINT PRIMARY KEY REFERENCES companies (id) ON DELETE CASCADE,
    -- pending: queued, never answered; found / not_found: the registry's answer;
    -- unavailable: the last lookup failed (error says why; retried with backoff while attempts last).
    state       TEXT NOT NULL CHECK (state IN ('pending', 'found', 'not_found', 'unavailable')),
    data        JSONB,
    error       TEXT,
    -- The registry server asked (RDAP host or WHOIS server), for rate limits and for the reader.
    server      TEXT,
    checked_at  TIMESTAMPTZ,
    updated_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- What earlier scans already learned is the cache's starting point.
INSERT INTO registrations (company_id, state, data, checked_at)
SELECT DISTINCT ON (company_id) company_id, 'found', registration, started_at
  FROM scans WHERE registration IS NOT NULL
 ORDER BY company_id, started_at DESC;
