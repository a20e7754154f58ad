//! Facet values with counts, for the TUI's facet picker: which providers, gateways, segments, …
//! occur among the leads a filter leaves, so the user picks from what exists.

use super::LeadError;
use super::list::{FROM_ONE, push_where};
use protocol::{FacetCount, LeadFilter};
use sqlx::{PgPool, Postgres, QueryBuilder, Row};

/// Most values a picker shows.
const MAX_VALUES: i64 = 100;

/// The lead_state column behind a facet key, and the filter without that facet's own constraint
/// (so the picker offers alternatives, not only what is already chosen).
fn column_and_filter(facet: &str, filter: &LeadFilter) -> Result<(&'static str, LeadFilter), LeadError> {
    let mut rest = filter.clone();
    let column = match facet {
        "segment" => {
            rest.segments.clear();
            "ls.segment"
        }
        "provider" => {
            rest.providers.clear();
            "ls.provider"
        }
        "gateway" => {
            rest.gateways.clear();
            "ls.gateway"
        }
        "priority" => {
            rest.priorities.clear();
            "ls.priority"
        }
        "heat" => {
            rest.technical_heats.clear();
            "ls.technical_heat"
        }
        "cheat" => {
            rest.commercial_heats.clear();
            "ls.commercial_heat"
        }
        "cseg" => {
            rest.commercial_segments.clear();
            "ls.commercial_segment"
        }
        "status" => {
            rest.scan_statuses.clear();
            "ls.scan_status"
        }
        "tag" => {
            rest.tags.clear();
            "t.tag"
        }
        other => {
            return Err(LeadError::Invalid(format!(
                "no facet `{other}`; use segment, provider, gateway, priority, heat, cheat, cseg, status or tag"
            )));
        }
    };
    Ok((column, rest))
}

pub async fn facet_values(pool: &PgPool, facet: &str, filter: &LeadFilter) -> Result<Vec<FacetCount>, LeadError> {
    let (column, rest) = column_and_filter(facet, filter)?;
    let mut qb = QueryBuilder::<Postgres>::new(format!("SELECT {column} AS value, count(*) AS n "));
    qb.push(FROM_ONE);
    if facet == "tag" {
        qb.push("JOIN tags t ON t.company_id = c.id ");
    }
    push_where(&mut qb, &rest);
    qb.push(format_args!("AND {column} IS NOT NULL GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT "));
    qb.push_bind(MAX_VALUES);
    let rows = qb.build().fetch_all(pool).await?;
    rows.iter()
        .map(|r| Ok(FacetCount { value: r.try_get("value")?, count: r.try_get::<i64, _>("n")?.max(0) as u64 }))
        .collect::<Result<_, sqlx::Error>>()
        .map_err(LeadError::from)
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
        let values = facet_values(&pool, "provider", &LeadFilter::default()).await.unwrap();
        assert_eq!(counts(&values), vec![("Google", 2), ("M365", 1)]);
    }

    #[sqlx::test(migrations = "../migrations")]
    async fn other_facets_narrow_the_counts_but_the_facets_own_choice_does_not(pool: PgPool) {
        lead(&pool, "a.test", Some("M365"), "Existing", &[]).await;
        lead(&pool, "b.test", Some("Google"), "Migration", &[]).await;
        lead(&pool, "c.test", Some("Zoho"), "Migration", &[]).await;
        let filter = LeadFilter::parse("segment=Migration provider=Google").unwrap();
        let values = facet_values(&pool, "provider", &filter).await.unwrap();
        assert_eq!(counts(&values), vec![("Google", 1), ("Zoho", 1)]);
    }

    #[sqlx::test(migrations = "../migrations")]
    async fn tags_are_counted_per_lead(pool: PgPool) {
        lead(&pool, "a.test", Some("M365"), "Existing", &["hot", "eu"]).await;
        lead(&pool, "b.test", Some("Google"), "Migration", &["hot"]).await;
        let values = facet_values(&pool, "tag", &LeadFilter::default()).await.unwrap();
        assert_eq!(counts(&values), vec![("hot", 2), ("eu", 1)]);
    }

    #[sqlx::test(migrations = "../migrations")]
    async fn an_unknown_facet_is_invalid_input_naming_the_known_ones(pool: PgPool) {
        let err = facet_values(&pool, "colour", &LeadFilter::default()).await.unwrap_err();
        assert!(matches!(&err, LeadError::Invalid(m) if m.contains("segment, provider")), "{err}");
    }
}
