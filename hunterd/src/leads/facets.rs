//! Facet values with counts, for the TUI's facet picker: which providers, gateways, segments, …
//! occur among the leads a filter leaves, so the user picks from what exists.

use super::LeadError;
use super::cache::LeadCache;
use super::list::{facet_column_or_tag, push_where};
use protocol::{Facet, FacetCount, LeadFilter};
use sqlx::{PgPool, Postgres, QueryBuilder};

/// Most values a picker shows.
const MAX_VALUES: i64 = 100;

#[derive(sqlx::FromRow)]
struct ValueCount {
    value: String,
    n: i64,
}

/// One GROUP BY over `lead_list`, under the filter without the facet's own constraint (so the picker
/// offers alternatives, not only what is already chosen).
pub async fn facet_values(
    pool: &PgPool,
    cache: &LeadCache,
    facet: Facet,
    filter: &LeadFilter,
) -> Result<Vec<FacetCount>, LeadError> {
    let key = format!("{facet:?}|{filter:?}");
    if let Some(values) = cache.facets(&key) {
        return Ok(values);
    }
    let generation = cache.stamp();
    let values = count_values(pool, facet, filter).await?;
    cache.keep_facets(key, generation, &values);
    Ok(values)
}

async fn count_values(pool: &PgPool, facet: Facet, filter: &LeadFilter) -> Result<Vec<FacetCount>, LeadError> {
    let column = facet_column_or_tag(facet)?;
    let mut rest = filter.clone();
    facet.values_mut(&mut rest).clear();
    let mut qb = match column {
        Some(column) => {
            QueryBuilder::<Postgres>::new(format!("SELECT {column} AS value, count(*) AS n FROM lead_list l "))
        }
        None => QueryBuilder::<Postgres>::new(
            "SELECT t.tag AS value, count(*) AS n FROM lead_list l CROSS JOIN unnest(l.tags) AS t(tag) ",
        ),
    };
    push_where(&mut qb, &rest);
    if let Some(column) = column {
        qb.push(format_args!("AND {column} IS NOT NULL "));
    }
    qb.push("GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT ").push_bind(MAX_VALUES);
    let rows: Vec<ValueCount> = qb.build_query_as().fetch_all(pool).await?;
    Ok(rows.into_iter().map(|r| FacetCount { value: r.value, count: r.n.max(0).unsigned_abs() }).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn lead(pool: &PgPool, domain: &str, provider: Option<&str>, segment: &str, tags: &[&str]) {
        let id: i64 = sqlx::query_scalar("INSERT INTO companies (domain, source) VALUES ($1, 'test') RETURNING id")
            .bind(domain)
            .fetch_one(pool)
            .await
            .unwrap();
        sqlx::query("INSERT INTO lead_state (company_id, provider, segment, score) VALUES ($1, $2, $3, 50)")
            .bind(id)
            .bind(provider)
            .bind(segment)
            .execute(pool)
            .await
            .unwrap();
        for tag in tags {
            sqlx::query("INSERT INTO tags (company_id, tag) VALUES ($1, $2)")
                .bind(id)
                .bind(tag)
                .execute(pool)
                .await
                .unwrap();
        }
    }

    fn counts(values: &[FacetCount]) -> Vec<(&str, u64)> {
        values.iter().map(|v| (v.value.as_str(), v.count)).collect()
    }

    #[sqlx::test(migrations = "../migrations")]
    async fn providers_are_counted_most_common_first_without_unknowns(pool: PgPool) {
        lead(&pool, "a.test", Some("M365"), "Existing", &[]).await;
        lead(&pool, "b.test", Some("Google"), "Migration", &[]).await;
        lead(&pool, "c.test", Some("Google"), "Migration", &[]).await;
        lead(&pool, "d.test", None, "Skip", &[]).await;
        let values = facet_values(&pool, &LeadCache::new(), Facet::Provider, &LeadFilter::default()).await.unwrap();
        assert_eq!(counts(&values), vec![("Google", 2), ("M365", 1)]);
    }

    #[sqlx::test(migrations = "../migrations")]
    async fn other_facets_narrow_the_counts_but_the_facets_own_choice_does_not(pool: PgPool) {
        lead(&pool, "a.test", Some("M365"), "Existing", &[]).await;
        lead(&pool, "b.test", Some("Google"), "Migration", &[]).await;
        lead(&pool, "c.test", Some("Zoho"), "Migration", &[]).await;
        let filter = LeadFilter::parse("segment=Migration provider=Google").unwrap();
        let values = facet_values(&pool, &LeadCache::new(), Facet::Provider, &filter).await.unwrap();
        assert_eq!(counts(&values), vec![("Google", 1), ("Zoho", 1)]);
    }

    #[sqlx::test(migrations = "../migrations")]
    async fn tags_are_counted_per_lead(pool: PgPool) {
        lead(&pool, "a.test", Some("M365"), "Existing", &["hot", "eu"]).await;
        lead(&pool, "b.test", Some("Google"), "Migration", &["hot"]).await;
        let values = facet_values(&pool, &LeadCache::new(), Facet::Tag, &LeadFilter::default()).await.unwrap();
        assert_eq!(counts(&values), vec![("hot", 2), ("eu", 1)]);
    }

    #[sqlx::test(migrations = "../migrations")]
    async fn a_facet_the_daemon_does_not_store_is_invalid_input_naming_it(pool: PgPool) {
        let err = facet_values(&pool, &LeadCache::new(), Facet::Referral, &LeadFilter::default()).await.unwrap_err();
        assert!(matches!(&err, LeadError::Invalid(m) if m.contains("referral")), "{err}");
    }
}
