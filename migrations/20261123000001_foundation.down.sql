-- Reverts 20261123000001_foundation.up.sql, in reverse order: every Hunter table and its data.
-- Each table's indexes, constraints and BIGSERIAL sequences go with it.

DROP TABLE favorites;
DROP TABLE tags;
DROP TABLE notes;
DROP TABLE events;
DROP TABLE job_schedule;
DROP TABLE job_queue;
DROP TABLE scores;
DROP TABLE scans;
DROP TABLE intake_rows;
DROP TABLE companies;
