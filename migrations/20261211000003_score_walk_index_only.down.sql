DROP INDEX lead_list_score_idx;
CREATE INDEX lead_list_score_idx ON lead_list (score, domain);
