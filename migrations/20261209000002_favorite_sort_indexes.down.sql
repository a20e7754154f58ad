DROP INDEX lead_list_fav_company_idx, lead_list_fav_provider_idx,
    lead_list_fav_gateway_idx, lead_list_fav_segment_idx, lead_list_fav_score_idx, lead_list_fav_priority_idx,
    lead_list_fav_commercial_segment_idx, lead_list_fav_technical_heat_idx, lead_list_fav_commercial_heat_idx,
    lead_list_fav_scan_status_idx, lead_list_fav_scanned_at_idx;
