use super::LeadError;
use protocol::{LeadFilter, LeadPage, LeadQuery, LeadRow, LeadSort, MAX_PAGE};
use sqlx::{PgPool, Postgres, QueryBuilder, Row};

/// The lead columns without tags: a page is cut first and tags are added to its rows only, so they are
/// not computed for every row the sort passes over.
const COLUMNS: &str = "c.id AS page_company_id, c.domain, c.company_name, ls.provider, ls.gateway, \
     ls.local_provider, ls.mx_hosts, ls.spf, ls.spf_includes, ls.dkim, ls.dmarc_policy, ls.dmarc_pct, ls.score, \
     ls.segment, ls.commercial_segment, ls.technical_heat, ls.commercial_heat, ls.priority, ls.priority_label, \
     ls.scan_status, ls.scanned_at, (f.company_id IS NOT NULL) AS favorite, \
     ls.ip_country, ls.ip_asn, ls.ip_org, ls.ip_proxy, ls.infrastructure_summary ";

const TAGS_OF_PAGE: &str = "COALESCE((SELECT array_agg(t.tag ORDER BY t.tag) FROM tags t \
     WHERE t.company_id = page.page_company_id), '{}') AS tags ";

/// One lead with its tags (detail reads).
const SELECT_ROW: &str = "SELECT c.domain, c.company_name, ls.provider, ls.gateway, ls.local_provider, \
     ls.mx_hosts, ls.spf, ls.spf_includes, ls.dkim, ls.dmarc_policy, ls.dmarc_pct, ls.score, ls.segment, \
     ls.commercial_segment, ls.technical_heat, ls.commercial_heat, ls.priority, ls.priority_label, \
     ls.scan_status, ls.scanned_at, (f.company_id IS NOT NULL) AS favorite, \
     ls.ip_country, ls.ip_asn, ls.ip_org, ls.ip_proxy, ls.infrastructure_summary, \
     COALESCE((SELECT array_agg(t.tag ORDER BY t.tag) FROM tags t WHERE t.company_id = c.id), '{}') AS tags ";

const FROM: &str =
    "FROM companies c LEFT JOIN lead_state ls ON ls.company_id = c.id LEFT JOIN favorites f ON f.company_id = c.id ";

/// The SQL expression a sort key orders by.
fn sort_column(sort: LeadSort) -> &'static str {
    match sort {
        LeadSort::Domain => "c.domain",
        LeadSort::Company => "lower(c.company_name)",
        LeadSort::Provider => "ls.provider",
        LeadSort::Gateway => "ls.gateway",
        LeadSort::Segment => "ls.segment",
        LeadSort::Score => "ls.score",
        LeadSort::Priority => "ls.priority",
        LeadSort::CommercialSegment => "ls.commercial_segment",
        LeadSort::TechnicalHeat => "ls.technical_heat",
        LeadSort::CommercialHeat => "ls.commercial_heat",
        LeadSort::ScanStatus => "ls.scan_status",
        LeadSort::ScannedAt => "ls.scanned_at",
    }
}

/// `%`, `_` and `\` are literal in what a user types.
fn like_pattern(text: &str) -> String {
    let escaped = text.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_");
    format!("%{escaped}%")
}

/// Appends `WHERE …` for a filter.
pub(crate) fn push_where(qb: &mut QueryBuilder<'_, Postgres>, filter: &LeadFilter) {
    qb.push("WHERE TRUE ");
    if let Some(text) = filter.text.as_deref().map(str::trim).filter(|t| !t.is_empty()) {
        let pattern = like_pattern(text);
        qb.push("AND (c.domain ILIKE ")
            .push_bind(pattern.clone())
            .push(" OR c.company_name ILIKE ")
            .push_bind(pattern.clone())
            .push(" OR ls.provider ILIKE ")
            .push_bind(pattern.clone())
            .push(" OR ls.gateway ILIKE ")
            .push_bind(pattern.clone())
            .push(" OR EXISTS (SELECT 1 FROM tags t WHERE t.company_id = c.id AND t.tag ILIKE ")
            .push_bind(pattern)
            .push(")) ");
    }
    let facets: [(&str, &Vec<String>); 8] = [
        ("ls.segment", &filter.segments),
        ("ls.provider", &filter.providers),
        ("ls.gateway", &filter.gateways),
        ("ls.priority", &filter.priorities),
        ("ls.technical_heat", &filter.technical_heats),
        ("ls.commercial_heat", &filter.commercial_heats),
        ("ls.commercial_segment", &filter.commercial_segments),
        ("ls.scan_status", &filter.scan_statuses),
    ];
    for (column, values) in facets {
        if values.is_empty() {
            continue;
        }
        // Case-insensitive so `segment=migration` finds "Migration".
        let lowered: Vec<String> = values.iter().map(|v| v.to_lowercase()).collect();
        qb.push(format_args!("AND lower({column}) = ANY(")).push_bind(lowered).push(") ");
    }
    if !filter.tags.is_empty() {
        let lowered: Vec<String> = filter.tags.iter().map(|v| v.to_lowercase()).collect();
        qb.push("AND EXISTS (SELECT 1 FROM tags t WHERE t.company_id = c.id AND t.tag = ANY(")
            .push_bind(lowered)
            .push(")) ");
    }
    if filter.favorites_only {
        qb.push("AND f.company_id IS NOT NULL ");
    }
    if let Some(min) = filter.min_score {
        qb.push("AND ls.score >= ").push_bind(min).push(" ");
    }
    if let Some(max) = filter.max_score {
        qb.push("AND ls.score <= ").push_bind(max).push(" ");
    }
}

pub async fn list_leads(pool: &PgPool, query: &LeadQuery) -> Result<LeadPage, LeadError> {
    let limit = query.limit.clamp(1, MAX_PAGE) as i64;
    let offset = i64::try_from(query.offset).map_err(|_| LeadError::Invalid("offset too large".into()))?;

    let mut count = QueryBuilder::<Postgres>::new("SELECT count(*) ");
    count.push(FROM);
    push_where(&mut count, &query.filter);
    let total: i64 = count.build_query_scalar().fetch_one(pool).await?;

    let direction = if query.descending { "DESC" } else { "ASC" };
    let mut qb = QueryBuilder::<Postgres>::new("WITH page AS (SELECT ");
    qb.push(COLUMNS).push(format_args!(", {} AS sort_key ", sort_column(query.sort)));
    qb.push(FROM);
    push_where(&mut qb, &query.filter);
    qb.push(format_args!("ORDER BY sort_key {direction} NULLS LAST, c.domain {direction} "));
    qb.push("LIMIT ").push_bind(limit).push(" OFFSET ").push_bind(offset);
    qb.push(") SELECT page.*, ").push(TAGS_OF_PAGE);
    qb.push(format_args!("FROM page ORDER BY sort_key {direction} NULLS LAST, domain {direction}"));
    let rows = qb.build().fetch_all(pool).await?;
    let rows = rows.iter().map(row_from_sql).collect::<Result<Vec<_>, _>>()?;
    Ok(LeadPage { total: total.max(0) as u64, offset: query.offset, rows })
}

pub(crate) fn row_from_sql(row: &sqlx::postgres::PgRow) -> Result<LeadRow, sqlx::Error> {
    Ok(LeadRow {
        domain: row.try_get("domain")?,
        company: row.try_get("company_name")?,
        provider: row.try_get("provider")?,
        gateway: row.try_get("gateway")?,
        local_provider: row.try_get("local_provider")?,
        mx_hosts: row.try_get::<Option<Vec<String>>, _>("mx_hosts")?.unwrap_or_default(),
        spf: row.try_get("spf")?,
        spf_includes: row.try_get::<Option<Vec<String>>, _>("spf_includes")?.unwrap_or_default(),
        dkim: row.try_get("dkim")?,
        dmarc_policy: row.try_get("dmarc_policy")?,
        dmarc_pct: row.try_get::<Option<i16>, _>("dmarc_pct")?.map(|p| p.clamp(0, 100) as u8),
        score: row.try_get("score")?,
        segment: row.try_get("segment")?,
        commercial_segment: row.try_get("commercial_segment")?,
        technical_heat: row.try_get("technical_heat")?,
        commercial_heat: row.try_get("commercial_heat")?,
        priority: row.try_get("priority")?,
        priority_label: row.try_get("priority_label")?,
        scan_status: row.try_get("scan_status")?,
        scanned_at: row.try_get("scanned_at")?,
        favorite: row.try_get("favorite")?,
        tags: row.try_get("tags")?,
        ip_country: row.try_get("ip_country")?,
        ip_asn: row.try_get::<Option<i64>, _>("ip_asn")?.and_then(|a| u32::try_from(a).ok()),
        ip_org: row.try_get("ip_org")?,
        ip_proxy: row.try_get("ip_proxy")?,
        infrastructure_summary: row.try_get("infrastructure_summary")?,
    })
}

pub(crate) const SELECT_ONE: &str = SELECT_ROW;
pub(crate) const FROM_ONE: &str = FROM;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_wildcards_typed_by_a_user_are_literal() {
        assert_eq!(like_pattern("50%_off\\"), "%50\\%\\_off\\\\%");
    }

    #[test]
    fn every_sort_key_has_a_column() {
        for sort in LeadSort::ALL {
            assert!(!sort_column(sort).is_empty());
        }
    }
}
