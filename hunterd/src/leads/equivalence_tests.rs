//! The keyset list, the count and the facet counts give exactly what the queries before the
//! `lead_list` read model gave (kept here, verbatim, as the oracle): the same rows, in the same
//! order, with the same totals, for every sort column, both directions and every filter kind, read
//! forwards page by page, backwards from the last page, and by offset.
//!
//! The data goes in through the source tables (and is then changed there), so the triggers that
//! keep `lead_list` in step are under test too.

use super::LeadError;
use super::cache::{LeadCache, followed};
use super::facets::facet_values;
use super::list::{StoredRow, Strategy, count_leads, list_leads, list_leads_with};
use protocol::{Facet, FacetCount, LeadFilter, LeadQuery, LeadRow, LeadSort, Seek};
use sqlx::{PgPool, Postgres, QueryBuilder, Row};

mod oracle {
    use super::*;

    const COLUMNS: &str = "c.id AS page_company_id, c.domain, c.company_name, ls.provider, ls.gateway, \
     ls.local_provider, ls.mx_hosts, ls.spf, ls.spf_includes, ls.dkim, ls.dmarc_policy, ls.dmarc_pct, ls.score, \
     ls.segment, ls.commercial_segment, ls.technical_heat, ls.commercial_heat, ls.priority, ls.priority_label, \
     ls.scan_status, ls.scanned_at, (f.company_id IS NOT NULL) AS favorite, \
     ls.ip_country, ls.ip_asn, ls.ip_org, ls.ip_proxy, ls.infrastructure_summary ";

    const TAGS_OF_PAGE: &str = "COALESCE((SELECT array_agg(t.tag ORDER BY t.tag) FROM tags t \
     WHERE t.company_id = page.page_company_id), '{}') AS tags ";

    const FROM: &str = "FROM companies c LEFT JOIN lead_state ls ON ls.company_id = c.id \
     LEFT JOIN favorites f ON f.company_id = c.id ";

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

    fn like_pattern(text: &str) -> String {
        let escaped = text.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_");
        format!("%{escaped}%")
    }

    fn push_where(qb: &mut QueryBuilder<Postgres>, filter: &LeadFilter) {
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

    /// Every matching row in order, and the total, as the OFFSET query computed them.
    pub async fn list(pool: &PgPool, filter: &LeadFilter, sort: LeadSort, descending: bool) -> (Vec<LeadRow>, u64) {
        let mut count = QueryBuilder::<Postgres>::new("SELECT count(*) ");
        count.push(FROM);
        push_where(&mut count, filter);
        let total: i64 = count.build_query_scalar().fetch_one(pool).await.unwrap();

        let direction = if descending { "DESC" } else { "ASC" };
        let mut qb = QueryBuilder::<Postgres>::new("WITH page AS (SELECT ");
        qb.push(COLUMNS).push(format_args!(", {} AS sort_key ", sort_column(sort)));
        qb.push(FROM);
        push_where(&mut qb, filter);
        qb.push(format_args!("ORDER BY sort_key {direction} NULLS LAST, c.domain {direction} "));
        qb.push("LIMIT ALL OFFSET 0");
        qb.push(") SELECT page.*, ").push(TAGS_OF_PAGE);
        qb.push(format_args!("FROM page ORDER BY sort_key {direction} NULLS LAST, domain {direction}"));
        let rows: Vec<StoredRow> = qb.build_query_as().fetch_all(pool).await.unwrap();
        (rows.into_iter().map(LeadRow::from).collect(), total as u64)
    }

    pub async fn facet(pool: &PgPool, facet: Facet, filter: &LeadFilter) -> Vec<FacetCount> {
        let mut rest = filter.clone();
        facet.values_mut(&mut rest).clear();
        let column = match facet {
            Facet::Segment => "ls.segment",
            Facet::Provider => "ls.provider",
            Facet::Gateway => "ls.gateway",
            Facet::Priority => "ls.priority",
            Facet::TechnicalHeat => "ls.technical_heat",
            Facet::CommercialHeat => "ls.commercial_heat",
            Facet::CommercialSegment => "ls.commercial_segment",
            Facet::ScanStatus => "ls.scan_status",
            Facet::Tag => "t.tag",
            Facet::Referral | Facet::D365 => unreachable!("not counted"),
        };
        let mut qb = QueryBuilder::<Postgres>::new(format!("SELECT {column} AS value, count(*) AS n "));
        qb.push(FROM);
        if facet == Facet::Tag {
            qb.push("JOIN tags t ON t.company_id = c.id ");
        }
        push_where(&mut qb, &rest);
        qb.push(format_args!("AND {column} IS NOT NULL GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT 100"));
        let rows = qb.build().fetch_all(pool).await.unwrap();
        rows.iter().map(|r| FacetCount { value: r.get("value"), count: r.get::<i64, _>("n") as u64 }).collect()
    }
}

/// 260 companies through the source tables: unscanned ones, transient-only scans, ties on every
/// sort value, names differing only in case, no names, wildcard characters, tags, favourites; then
/// rescans (one statement both adding and replacing leads' state), renames, untagging and unfavouriting.
async fn seed(pool: &PgPool) {
    let statements = [
        "INSERT INTO companies (domain, company_name, source)
         SELECT 'd' || lpad((i * 7919 % 260)::text, 3, '0') || CASE WHEN i % 9 = 0 THEN '-x_y' ELSE '' END || '.test',
                CASE WHEN i % 11 = 0 THEN NULL
                     WHEN i % 5 = 0 THEN 'ACME ' || (i % 13)
                     WHEN i % 5 = 1 THEN 'acme ' || (i % 13)
                     WHEN i % 17 = 0 THEN '50% Off_Co'
                     ELSE 'Firm ' || (i % 23) END,
                'test'
           FROM generate_series(1, 260) i",
        // 40 unscanned; 20 with only a (transient) scan status; the rest scored.
        "INSERT INTO lead_state (company_id, scan_status, scanned_at)
         SELECT id, (ARRAY['timeout','servfail'])[1 + id % 2], timestamp '2026-01-01' + (id % 4) * interval '1 day'
           FROM companies WHERE id % 13 = 1",
        "INSERT INTO lead_state (company_id, scan_status, scanned_at, provider, gateway, local_provider, mx_hosts, spf,
                                 spf_includes, dkim, dmarc_policy, dmarc_pct, score, segment, commercial_segment,
                                 technical_heat, commercial_heat, priority, priority_label, ip_country, ip_asn, ip_org,
                                 ip_proxy, infrastructure_summary)
         SELECT id, (ARRAY['ok','nxdomain','no_mx','ok'])[1 + id % 4],
                CASE WHEN id % 10 = 0 THEN NULL ELSE timestamp '2026-01-01' + (id % 6) * interval '1 hour' END,
                (ARRAY['M365','Google','Local',NULL,'Zoho','m365'])[1 + id % 6],
                CASE WHEN id % 4 = 0 THEN 'Mimecast' WHEN id % 4 = 1 THEN 'Proofpoint' END,
                CASE WHEN id % 6 = 2 THEN 'Hoster' END,
                ARRAY['mx1.d' || id || '.test'], id % 3 <> 0, ARRAY['inc.test'], id % 2 = 0,
                (ARRAY['none','quarantine','reject'])[1 + id % 3], (id % 3) * 50,
                CASE WHEN id % 8 = 0 THEN NULL ELSE (id * 37) % 15 * 7 END,
                (ARRAY['Existing','Migration','Cold','Skip',NULL])[1 + id % 5],
                (ARRAY['RENEWAL','COMPETITIVE','GREENFIELD','NO_GO'])[1 + id % 4],
                (ARRAY['Hot','Warm','Cold'])[1 + id % 3], (ARRAY['HIGH','MEDIUM','LOW',NULL])[1 + id % 4],
                'P' || (1 + id % 6), 'Follow up', 'IE', 8075, 'Microsoft', id % 5 = 0, 'Hosted by Microsoft'
           FROM companies WHERE id % 13 <> 1 AND id % 7 <> 0",
        "INSERT INTO tags (company_id, tag) SELECT id, 'hot' FROM companies WHERE id % 3 = 0",
        "INSERT INTO tags (company_id, tag) SELECT id, 'eu' FROM companies WHERE id % 4 = 0",
        "INSERT INTO tags (company_id, tag) SELECT id, 'acme-partner' FROM companies WHERE id % 10 = 0",
        "INSERT INTO favorites (company_id) SELECT id FROM companies WHERE id % 6 = 0",
        // Changes after the fact, through every trigger.
        "UPDATE lead_state SET score = score + 1, provider = 'Google' WHERE company_id % 9 = 0",
        "UPDATE companies SET company_name = 'Renamed ' || id WHERE id % 19 = 0",
        "DELETE FROM tags WHERE tag = 'eu' AND company_id % 8 = 0",
        "UPDATE tags SET tag = 'warm' WHERE tag = 'hot' AND company_id % 15 = 0",
        "DELETE FROM favorites WHERE company_id % 12 = 0",
        // One statement inserting some leads' state and updating others' (as the store's batch does).
        "INSERT INTO lead_state (company_id, scan_status, scanned_at, provider, score, segment)
         SELECT id, 'ok', timestamp '2026-02-01', 'Yandex', 40 + id % 5, 'Cold' FROM companies
          WHERE id % 14 IN (0, 3)
         ON CONFLICT (company_id) DO UPDATE
            SET provider = EXCLUDED.provider, score = EXCLUDED.score, scanned_at = EXCLUDED.scanned_at",
        "DELETE FROM lead_state WHERE company_id % 29 = 0",
        "DELETE FROM companies WHERE id % 31 = 0",
    ];
    for sql in statements {
        sqlx::query(sql).execute(pool).await.unwrap_or_else(|e| panic!("{sql}: {e}"));
    }
}

/// Every filter kind, alone and combined.
fn filters() -> Vec<LeadFilter> {
    let mut filters: Vec<LeadFilter> = [
        "",
        "acme",
        "ACME 1",
        "d01",
        "goo",
        "mimecast",
        "partner",
        "50%",
        "x_y",
        "nothing-matches-this",
        "segment=migration",
        "segment=Migration,Cold",
        "provider=m365",
        "gateway=Mimecast",
        "priority=P1,P3",
        "heat=hot",
        "cheat=LOW",
        "cseg=greenfield",
        "status=timeout,nxdomain",
        "tag=eu",
        "tag=HOT,warm",
        "favorite",
        "score>=60",
        "score<30",
        "score=49",
        "segment=Existing,Migration provider=Google score>=20 acme",
        "favorite tag=hot firm",
    ]
    .iter()
    .map(|e| LeadFilter::parse(e).unwrap())
    .collect();
    // Only another client could send a line break: matched column by column.
    filters.push(LeadFilter { text: Some("acme\n1".into()), ..LeadFilter::default() });
    filters
}

const PAGE: u32 = 41;

fn query(filter: &LeadFilter, sort: LeadSort, descending: bool, seek: Seek) -> LeadQuery {
    LeadQuery { filter: filter.clone(), sort, descending, seek, limit: PAGE }
}

/// Both ways of finding a page's rows must give the same rows.
const STRATEGIES: [Strategy; 3] = [Strategy::Walk, Strategy::MatchesFirst, Strategy::Held];

/// All rows, following `After` from the first page.
async fn forwards(
    pool: &PgPool,
    cache: &LeadCache,
    filter: &LeadFilter,
    sort: LeadSort,
    descending: bool,
    how: Strategy,
) -> Vec<LeadRow> {
    let mut rows = Vec::new();
    let mut page = list_leads_with(pool, cache, &query(filter, sort, descending, Seek::Offset(0)), how).await.unwrap();
    loop {
        rows.extend(page.rows);
        let Some(last) = page.last else { break };
        page = list_leads_with(pool, cache, &query(filter, sort, descending, Seek::After(last)), how).await.unwrap();
    }
    rows
}

/// All rows, following `Before` from the last page.
async fn backwards(
    pool: &PgPool,
    cache: &LeadCache,
    filter: &LeadFilter,
    sort: LeadSort,
    descending: bool,
    how: Strategy,
) -> Vec<LeadRow> {
    let mut pages = Vec::new();
    let mut page = list_leads_with(pool, cache, &query(filter, sort, descending, Seek::Last), how).await.unwrap();
    loop {
        let first = page.first.clone();
        pages.push(page.rows);
        let Some(first) = first else { break };
        page = list_leads_with(pool, cache, &query(filter, sort, descending, Seek::Before(first)), how).await.unwrap();
    }
    pages.into_iter().rev().flatten().collect()
}

fn domains(rows: &[LeadRow]) -> Vec<&str> {
    rows.iter().map(|r| r.domain.as_str()).collect()
}

#[sqlx::test(migrations = "../migrations")]
async fn pages_counts_and_facets_match_the_queries_they_replaced(pool: PgPool) {
    seed(&pool).await;
    let (cache, _stop) = followed(&pool).await;
    let mut compared = 0;
    for filter in filters() {
        let expected_total = oracle::list(&pool, &filter, LeadSort::Domain, false).await.1;
        let count = count_leads(&pool, &cache, &filter).await.unwrap();
        assert_eq!((count.count, count.exact), (expected_total, true), "count of {filter:?}");
        for sort in LeadSort::ALL {
            for descending in [false, true] {
                let (expected, total) = oracle::list(&pool, &filter, sort, descending).await;
                assert_eq!(total, expected.len() as u64);
                let case = format!("{filter:?} sorted by {} {}", sort.name(), if descending { "desc" } else { "asc" });

                // Matches-first and held lists are the same SQL around every sort column: one of each key kind
                // (and the expression sort, company) is enough, and keeps the test short.
                let strategies = if matches!(sort, LeadSort::Company | LeadSort::Score | LeadSort::ScannedAt) {
                    &STRATEGIES[..]
                } else {
                    &STRATEGIES[..1]
                };
                for &how in strategies {
                    let case = format!("{case} ({how:?})");
                    let rows = forwards(&pool, &cache, &filter, sort, descending, how).await;
                    assert_eq!(domains(&rows), domains(&expected), "forwards: {case}");
                    assert_eq!(rows, expected, "forwards, whole rows: {case}");
                    let rows = backwards(&pool, &cache, &filter, sort, descending, how).await;
                    assert_eq!(domains(&rows), domains(&expected), "backwards: {case}");

                    for offset in [0, 40, total.saturating_sub(5), total + 3] {
                        let q = query(&filter, sort, descending, Seek::Offset(offset));
                        let page = list_leads_with(&pool, &cache, &q, how).await.unwrap();
                        let start = (offset as usize).min(expected.len());
                        let end = (start + PAGE as usize).min(expected.len());
                        assert_eq!(domains(&page.rows), domains(&expected[start..end]), "offset {offset}: {case}");
                    }
                }
                compared += 1;
            }
        }
        for facet in Facet::ALL.into_iter().filter(|f| f.fixed_values().is_none()) {
            let values = facet_values(&pool, &cache, facet, &filter).await.unwrap();
            assert_eq!(values, oracle::facet(&pool, facet, &filter).await, "{} values under {filter:?}", facet.key());
        }
    }
    assert_eq!(compared, filters().len() * LeadSort::ALL.len() * 2);
}

#[sqlx::test(migrations = "../migrations")]
async fn the_read_model_is_what_a_rebuild_from_the_source_tables_gives(pool: PgPool) {
    seed(&pool).await;
    let snapshot = "SELECT array_agg(row_to_json(l)::text ORDER BY company_id) FROM lead_list l";
    let kept: Vec<String> = sqlx::query_scalar(snapshot).fetch_one(&pool).await.unwrap();
    sqlx::query("SELECT lead_list_rebuild()").execute(&pool).await.unwrap();
    let rebuilt: Vec<String> = sqlx::query_scalar(snapshot).fetch_one(&pool).await.unwrap();
    assert_eq!(kept.len(), 260 - 260 / 31);
    assert_eq!(kept, rebuilt);
}

#[sqlx::test(migrations = "../migrations")]
async fn a_page_key_from_another_sort_is_invalid_input(pool: PgPool) {
    seed(&pool).await;
    let key = protocol::LeadKey { value: Some(protocol::SortValue::Text("high".into())), domain: "d001.test".into() };
    let err =
        list_leads(&pool, &LeadCache::new(), &query(&LeadFilter::default(), LeadSort::Score, true, Seek::After(key)))
            .await;
    assert!(matches!(&err, Err(LeadError::Invalid(m)) if m.contains("sorted by score")), "{err:?}");
}

#[sqlx::test(migrations = "../migrations")]
async fn a_held_list_is_not_served_once_a_lead_it_holds_changed(pool: PgPool) {
    seed(&pool).await;
    let (cache, _stop) = followed(&pool).await;
    let filter = LeadFilter::parse("acme").unwrap();
    let first = query(&filter, LeadSort::Domain, false, Seek::Offset(0));
    list_leads_with(&pool, &cache, &first, Strategy::Held).await.unwrap();
    let held_at = cache.stamp();
    sqlx::query("INSERT INTO companies (domain, company_name, source) VALUES ('a000-acme.test', 'Acme New', 'test')")
        .execute(&pool)
        .await
        .unwrap();
    for _ in 0..500 {
        if cache.stamp() != held_at {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    let page = list_leads_with(&pool, &cache, &first, Strategy::Held).await.unwrap();
    assert_eq!(page.rows.first().map(|r| r.domain.as_str()), Some("a000-acme.test"));
    assert_eq!(page.rows, oracle::list(&pool, &filter, LeadSort::Domain, false).await.0[..PAGE as usize]);
}

#[sqlx::test(migrations = "../migrations")]
async fn a_page_key_whose_lead_is_gone_still_finds_its_place(pool: PgPool) {
    seed(&pool).await;
    let cache = LeadCache::new();
    let filter = LeadFilter::parse("acme").unwrap();
    let page = list_leads_with(&pool, &cache, &query(&filter, LeadSort::Score, true, Seek::Offset(0)), Strategy::Held)
        .await
        .unwrap();
    let last = page.last.expect("a full page");
    sqlx::query("DELETE FROM companies WHERE domain = $1").bind(&last.domain).execute(&pool).await.unwrap();
    let next =
        list_leads_with(&pool, &cache, &query(&filter, LeadSort::Score, true, Seek::After(last)), Strategy::Held)
            .await
            .unwrap();
    let (expected, _) = oracle::list(&pool, &filter, LeadSort::Score, true).await;
    let start = PAGE as usize - 1;
    assert_eq!(domains(&next.rows), domains(&expected[start..(start + PAGE as usize).min(expected.len())]));
}

#[sqlx::test(migrations = "../migrations")]
async fn a_lead_state_update_that_changes_nothing_listed_leaves_the_list_row_alone(pool: PgPool) {
    seed(&pool).await;
    let id: i64 =
        sqlx::query_scalar("SELECT company_id FROM lead_state WHERE score IS NOT NULL ORDER BY company_id LIMIT 1")
            .fetch_one(&pool)
            .await
            .unwrap();
    let version = "SELECT xmin::text FROM lead_list WHERE company_id = $1";
    let before: String = sqlx::query_scalar(version).bind(id).fetch_one(&pool).await.unwrap();
    sqlx::query("UPDATE lead_state SET ip_org = 'Elsewhere', scan_id = scan_id WHERE company_id = $1")
        .bind(id)
        .execute(&pool)
        .await
        .unwrap();
    let after: String = sqlx::query_scalar(version).bind(id).fetch_one(&pool).await.unwrap();
    assert_eq!(after, before, "the list row was rewritten for a change it does not show");

    sqlx::query("UPDATE lead_state SET score = score + 1 WHERE company_id = $1").bind(id).execute(&pool).await.unwrap();
    let (listed, stored): (Option<i32>, Option<i32>) = sqlx::query_as(
        "SELECT l.score, s.score FROM lead_list l JOIN lead_state s USING (company_id) WHERE company_id = $1",
    )
    .bind(id)
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(listed, stored);
}

#[sqlx::test(migrations = "../migrations")]
async fn a_stored_batch_finds_its_list_rows_by_key_without_reading_the_whole_list(pool: PgPool) {
    sqlx::query(
        "INSERT INTO companies (domain, source) SELECT 'lead' || g || '.example', 'test' FROM generate_series(1, 10000) g",
    )
    .execute(&pool)
    .await
    .unwrap();
    sqlx::query("INSERT INTO lead_state (company_id, provider, score) SELECT id, 'Local', 10 FROM companies")
        .execute(&pool)
        .await
        .unwrap();
    // Not analyzed: the state right after a bulk import, before autovacuum has looked at the list.

    let mut tx = pool.begin().await.unwrap();
    for statement in [
        // A stored batch's shapes: first scans and rescans (updates), and leads deleted with their company.
        "UPDATE lead_state SET provider = 'M365', score = 70, scanned_at = now() WHERE company_id IN
            (SELECT id FROM companies ORDER BY id LIMIT 256)",
        "DELETE FROM lead_state WHERE company_id IN (SELECT id FROM companies ORDER BY id DESC LIMIT 256)",
    ] {
        sqlx::query(statement).execute(&mut *tx).await.unwrap();
    }
    let (seq_scans, index_scans): (i64, i64) = sqlx::query_as(
        "SELECT coalesce(seq_scan, 0), coalesce(idx_scan, 0) FROM pg_stat_xact_user_tables WHERE relname = 'lead_list'",
    )
    .fetch_one(&mut *tx)
    .await
    .unwrap();
    tx.commit().await.unwrap();
    assert_eq!(seq_scans, 0, "lead_list was read whole to follow a batch");
    assert!(index_scans > 0);
    let listed: i64 = sqlx::query_scalar("SELECT count(*) FROM lead_list WHERE provider = 'M365' AND score = 70")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(listed, 256);
}
