//! Facet shortcuts edit the filter expression itself, so the filter bar always shows the whole
//! filter as text that `/` can edit and `hunter-tui export --filter` accepts. Which facet a term
//! belongs to is decided by [`LeadFilter::parse`], so aliases (`seg=`, `gw=`) are understood
//! without repeating them here.

use protocol::LeadFilter;

/// Facet keys offered by the facet menu, in order, with static values for those the daemon
/// cannot count yet. `None` = ask the daemon for the values present.
pub const FACETS: &[(&str, Option<&[&str]>)] = &[
    ("segment", None),
    ("provider", None),
    ("gateway", None),
    ("priority", None),
    ("heat", None),
    ("cheat", None),
    ("cseg", None),
    ("status", None),
    ("tag", None),
    ("referral", Some(&["co-sell", "marketplace", "solution-provider"])),
    ("d365", Some(&["none", "pending", "synced", "failed"])),
    ("favorite", Some(&[])),
];

/// The values a filter holds for a facet key (canonical names as in [`FACETS`]).
pub fn values_of<'a>(filter: &'a LeadFilter, key: &str) -> &'a [String] {
    match key {
        "segment" => &filter.segments,
        "provider" => &filter.providers,
        "gateway" => &filter.gateways,
        "priority" => &filter.priorities,
        "heat" => &filter.technical_heats,
        "cheat" => &filter.commercial_heats,
        "cseg" => &filter.commercial_segments,
        "status" => &filter.scan_statuses,
        "tag" => &filter.tags,
        "referral" => &filter.referrals,
        "d365" => &filter.d365_statuses,
        _ => &[],
    }
}

/// The canonical facet key a single `key=values` term sets, if it is one.
fn facet_of(term: &str) -> Option<&'static str> {
    let filter = LeadFilter::parse(term).ok()?;
    FACETS.iter().map(|(k, _)| *k).find(|k| !values_of(&filter, k).is_empty())
}

/// Adds `value` to facet `key`, or removes it if present (case-insensitive). Other terms stay as
/// typed. The result has single spaces between terms.
pub fn toggle_value(expr: &str, key: &str, value: &str) -> String {
    let mut terms: Vec<String> = expr.split_whitespace().map(String::from).collect();
    let found = terms.iter().position(|t| facet_of(t) == Some(key));
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
        None => terms.push(format!("{key}={value}")),
    }
    terms.join(" ")
}

/// Adds the bare word `favorite` or removes it (in any of its spellings).
pub fn toggle_favorite(expr: &str) -> String {
    let mut terms: Vec<&str> = expr.split_whitespace().collect();
    let before = terms.len();
    terms.retain(|t| !LeadFilter::parse(t).is_ok_and(|f| f.favorites_only));
    if terms.len() == before {
        terms.push("favorite");
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
        assert_eq!(toggle_value("acme", "segment", "Migration"), "acme segment=Migration");
        assert_eq!(toggle_value("", "provider", "Google"), "provider=Google");
    }

    #[test]
    fn a_second_value_joins_the_existing_term_even_under_an_alias() {
        assert_eq!(toggle_value("seg=Migration acme", "segment", "Cold"), "seg=Migration,Cold acme");
    }

    #[test]
    fn an_existing_value_is_removed_and_an_emptied_term_disappears() {
        assert_eq!(toggle_value("segment=Migration,Cold x", "segment", "migration"), "segment=Cold x");
        assert_eq!(toggle_value("segment=Cold x", "segment", "Cold"), "x");
    }

    #[test]
    fn favourite_is_a_bare_word_toggled_in_any_spelling() {
        assert_eq!(toggle_favorite("acme"), "acme favorite");
        assert_eq!(toggle_favorite("fav acme"), "acme");
    }

    #[test]
    fn the_result_parses_to_the_intended_filter() {
        let expr = toggle_value(&toggle_value("score>=60", "gateway", "Mimecast"), "priority", "P1");
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
