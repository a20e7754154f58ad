//! MX answers: null MX (RFC 7505), normalised host names, preference order.

/// The mail exchangers a domain publishes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MxSet {
    /// `(preference, host)`, sorted by preference (stable), duplicates removed, null MX excluded.
    pub hosts: Vec<(u16, String)>,
    /// The domain publishes only the null MX `0 .`: it accepts no mail.
    pub null_mx: bool,
    /// A null MX was mixed with real hosts (a misconfiguration RFC 7505 forbids); it was dropped.
    pub mixed_null: bool,
}

/// `entries` are `(preference, exchange)` as received; exchanges may carry case and a trailing dot,
/// and the root (`.` or empty) is the null MX.
pub fn mx_set(entries: &[(u16, String)]) -> MxSet {
    let mut hosts: Vec<(u16, String)> = Vec::new();
    let mut nulls = 0;
    for (preference, exchange) in entries {
        let host = exchange.trim_end_matches('.').to_ascii_lowercase();
        if host.is_empty() {
            nulls += 1;
        } else {
            hosts.push((*preference, host));
        }
    }
    hosts.sort_by_key(|(preference, _)| *preference);
    let mut seen: Vec<String> = Vec::new();
    hosts.retain(|(_, host)| {
        let fresh = !seen.contains(host);
        if fresh {
            seen.push(host.clone());
        }
        fresh
    });
    MxSet { null_mx: nulls > 0 && hosts.is_empty(), mixed_null: nulls > 0 && !hosts.is_empty(), hosts }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(entries: &[(u16, &str)]) -> MxSet {
        mx_set(&entries.iter().map(|(p, h)| (*p, h.to_string())).collect::<Vec<_>>())
    }

    #[test]
    fn hosts_are_sorted_by_preference_keeping_answer_order_for_ties() {
        let s = set(&[(20, "b.example."), (10, "z.example."), (20, "a.example."), (5, "m.example.")]);
        let hosts: Vec<&str> = s.hosts.iter().map(|(_, h)| h.as_str()).collect();
        assert_eq!(hosts, vec!["m.example", "z.example", "b.example", "a.example"]);
    }

    #[test]
    fn case_and_trailing_dots_are_normalised_and_duplicates_dropped() {
        let s = set(&[(10, "MX1.Example.COM."), (20, "mx1.example.com")]);
        assert_eq!(s.hosts, vec![(10, "mx1.example.com".to_string())]);
    }

    #[test]
    fn a_lone_root_exchange_is_a_null_mx() {
        let s = set(&[(0, ".")]);
        assert!(s.null_mx);
        assert!(s.hosts.is_empty());
    }

    #[test]
    fn a_null_mx_beside_real_hosts_is_dropped() {
        let s = set(&[(0, "."), (10, "mx.example.com.")]);
        assert!(!s.null_mx);
        assert!(s.mixed_null);
        assert_eq!(s.hosts.len(), 1);
    }
}
