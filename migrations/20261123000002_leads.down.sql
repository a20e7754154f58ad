-- Reverts 20261123000002_leads.up.sql, in reverse order. Lead state, batches and the dropped columns' data
-- are lost; the foundation tables and their rows stay.

DROP INDEX events_kind_time_idx;

DROP INDEX companies_domain_pattern_idx;

DROP TABLE batch_members;
DROP TABLE batches;

DROP INDEX job_queue_dedup_idx;
ALTER TABLE job_queue DROP COLUMN dedup_key;

ALTER TABLE scans DROP COLUMN scanned_by;
ALTER TABLE scans DROP COLUMN duration_ms;
ALTER TABLE scans DROP COLUMN registration;
ALTER TABLE scores DROP COLUMN legacy_priority;
ALTER TABLE scores DROP COLUMN reason;
ALTER TABLE scans DROP COLUMN detection;

-- Its indexes go with it.
DROP TABLE lead_state;
