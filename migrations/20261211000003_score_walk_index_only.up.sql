-- The default list (by score) walked with a facet, tag or favourite filter reads every lead it
-- passes: at 2 % density that is 10,000 heap rows per page of 200 (about 30 ms at a million leads).
-- The score index now carries what those filters test and what a page needs to find its rows, so
-- the walk reads the index alone (heap rows only where the visibility map is not set). It replaces
-- the plain (score, domain) index, which every list write updated anyway. Free text is left out on
-- purpose: with the search column the index doubles, and plain and free-text walks both got slower
-- (measured at a million leads: page p99 14.9 -> 28.6 ms); free text has its trigram index.
DROP INDEX lead_list_score_idx;
CREATE INDEX lead_list_score_idx ON lead_list (score, domain)
    INCLUDE (company_id, favorite, tags, provider, gateway, segment, priority, commercial_segment, technical_heat,
             commercial_heat, scan_status);
