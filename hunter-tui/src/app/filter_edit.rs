//! Facet shortcuts edit the filter expression itself, so the filter bar always shows the whole
//! filter as text that `/` can edit and `hunter-tui export --filter` accepts. Which facet a term
//! belongs to is decided by [`LeadFilter::parse`], so aliases (`seg=`, `gw=`) are understood
//! without repeating them here.

use protocol::{Facet, LeadFilter};

/// The facet a single `key=values` term sets, if it is one.
fn facet_of(term: &str) -> Option<Facet> {
    let filter = LeadFilter::parse(term).ok()?;
    Facet::ALL.into_iter().find(|f| !f.values(&filter).is_empty())
}

/// Adds `value` to `facet`, or removes it if present (case-insensitive). Other terms stay as
/// typed. The result has single spaces between terms.
pub fn toggle_value(expr: &str, facet: Facet, value: &str) -> String {
    let mut terms: Vec<String> = expr.split_whitespace().map(String::from).collect();
    let found = terms.iter().position(|t| facet_of(t) == Some(facet));
    match found {
        Some(i) => {
            let (name, values) =
                terms[i].split_once('=').map(|(n, v)| (n.to_string(), v.to_string())).unwrap_or_default();
            let mut values: Vec<String> = values.split(',').filter(|v| !v.is_empty()).map(String::from).collect();
            match values.iter().position(|v| v.eq_ignore_ascii_case(value)) {
                Some(j) => {
                    values.remove(j);
                }
                None => values.push(value.to_string()),
            }
            if values.is_empty() {
                terms.remove(i);
            } else {
                terms[i] = format!("{name}={}", values.join(","));
            }
        }
        None => terms.push(format!("{}={value}", facet.key())),
    }
    terms.join(" ")
}

/// Adds the bare word `favorite` or removes it (in any of its spellings).
pub fn toggle_favorite(expr: &str) -> String {
    let mut terms: Vec<&str> = expr.split_whitespace().collect();
    let before = terms.len();
    terms.retain(|t| !LeadFilter::parse(t).is_ok_and(|f| f.favorites_only));
    if terms.len() == before {
        terms.push(protocol::FAVORITE_KEY.0);
    }
    terms.join(" ")
}

/// Whether a facet value can be written in a filter expression (terms are split on spaces).
pub fn expressible(value: &str) -> bool {
    !value.is_empty() && !value.contains(char::is_whitespace) && !value.contains(',')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_facet_is_appended_as_a_term() {
        assert_eq!(toggle_value("acme", Facet::Segment, "Migration"), "acme segment=Migration");
        assert_eq!(toggle_value("", Facet::Provider, "Google"), "provider=Google");
    }

    #[test]
    fn a_second_value_joins_the_existing_term_even_under_an_alias() {
        assert_eq!(toggle_value("seg=Migration acme", Facet::Segment, "Cold"), "seg=Migration,Cold acme");
    }

    #[test]
    fn an_existing_value_is_removed_and_an_emptied_term_disappears() {
        assert_eq!(toggle_value("segment=Migration,Cold x", Facet::Segment, "migration"), "segment=Cold x");
        assert_eq!(toggle_value("segment=Cold x", Facet::Segment, "Cold"), "x");
    }

    #[test]
    fn favourite_is_a_bare_word_toggled_in_any_spelling() {
        assert_eq!(toggle_favorite("acme"), "acme favorite");
        assert_eq!(toggle_favorite("fav acme"), "acme");
    }

    #[test]
    fn the_result_parses_to_the_intended_filter() {
        let expr = toggle_value(&toggle_value("score>=60", Facet::Gateway, "Mimecast"), Facet::Priority, "P1");
        let filter = LeadFilter::parse(&expr).unwrap();
        assert_eq!(
            (filter.gateways, filter.priorities, filter.min_score),
            (vec!["Mimecast".into()], vec!["P1".into()], Some(60))
        );
    }

    #[test]
    fn values_with_spaces_cannot_be_written_as_terms() {
        assert!(!expressible("Cisco Secure Email"));
        assert!(expressible("M365"));
    }
}
