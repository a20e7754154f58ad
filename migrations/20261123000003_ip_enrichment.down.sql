-- Reverts 20261123000003_ip_enrichment.up.sql, in reverse order. The enrichment data is lost.

ALTER TABLE lead_state
    DROP COLUMN infrastructure_summary,
    DROP COLUMN ip_proxy,
    DROP COLUMN ip_org,
    DROP COLUMN ip_asn,
    DROP COLUMN ip_country;

ALTER TABLE scans DROP COLUMN enrichment;

DROP TABLE ip_enrichment;
