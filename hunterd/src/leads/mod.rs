//! Reading leads for clients: the filtered, sorted, paged list; one lead's detail; notes, tags and
//! favourites; the change feed. All filtering and sorting happens in PostgreSQL, on the `lead_list` read model, so a page costs
//! the same at any depth of a million leads.

mod cache;
mod detail;
#[cfg(test)]
mod equivalence_tests;
mod facets;
mod list;

pub use cache::{LeadCache, follow as follow_lead_changes};
pub use detail::{
    add_note, changes, company_id, company_ids, ip_details, lead_detail, lead_ip_details, set_favorite, set_tag,
};
pub use facets::facet_values;
pub use list::{count_leads, list_leads};

#[derive(Debug, thiserror::Error)]
pub enum LeadError {
    #[error("no lead for `{0}` (add it with `hunter-tui add {0}`)")]
    NotFound(String),
    #[error("{0}")]
    Invalid(String),
    #[error("database error: {0}")]
    Db(#[from] sqlx::Error),
}
