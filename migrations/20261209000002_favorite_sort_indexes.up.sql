-- Favourites are the list a salesperson comes back to, and 1 lead in 100 is no density to walk a
-- million-row sort index for (about 20,000 rows per page). These partial indexes hold only the
-- favourites, one per sort key (by domain: `lead_list_favorite_idx`), so the `favorite` filter's pages are a short index walk at any size.
CREATE INDEX lead_list_fav_company_idx ON lead_list (lower(company_name), domain) WHERE favorite;
CREATE INDEX lead_list_fav_provider_idx ON lead_list (provider, domain) WHERE favorite;
CREATE INDEX lead_list_fav_gateway_idx ON lead_list (gateway, domain) WHERE favorite;
CREATE INDEX lead_list_fav_segment_idx ON lead_list (segment, domain) WHERE favorite;
CREATE INDEX lead_list_fav_score_idx ON lead_list (score, domain) WHERE favorite;
CREATE INDEX lead_list_fav_priority_idx ON lead_list (priority, domain) WHERE favorite;
CREATE INDEX lead_list_fav_commercial_segment_idx ON lead_list (commercial_segment, domain) WHERE favorite;
CREATE INDEX lead_list_fav_technical_heat_idx ON lead_list (technical_heat, domain) WHERE favorite;
CREATE INDEX lead_list_fav_commercial_heat_idx ON lead_list (commercial_heat, domain) WHERE favorite;
CREATE INDEX lead_list_fav_scan_status_idx ON lead_list (scan_status, domain) WHERE favorite;
CREATE INDEX lead_list_fav_scanned_at_idx ON lead_list (scanned_at, domain) WHERE favorite;
