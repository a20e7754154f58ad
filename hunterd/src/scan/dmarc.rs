//! DMARC records (RFC 7489) as tag-value pairs. Unlike the reference's substring matching, `p` is
//! read as its own tag, so `p=reject; sp=none` is a reject policy.

use super::model::{DmarcPolicy, DmarcRecord};

/// Tags of a `tag=value; …` record: names lower-cased, both sides trimmed, empty parts skipped.
fn tags(record: &str) -> impl Iterator<Item = (String, &str)> {
    record.split(';').filter_map(|part| {
        let (name, value) = part.split_once('=')?;
        let name = name.trim().to_ascii_lowercase();
        (!name.is_empty()).then_some((name, value.trim()))
    })
}

/// Whether `text` is a DMARC record: its first tag is `v=DMARC1` (any case, any spacing).
pub fn is_dmarc_record(text: &str) -> bool {
    tags(text).next().is_some_and(|(name, value)| name == "v" && value.eq_ignore_ascii_case("DMARC1"))
}

fn policy(value: &str) -> Option<DmarcPolicy> {
    match value.to_ascii_lowercase().as_str() {
        "none" => Some(DmarcPolicy::None),
        "quarantine" => Some(DmarcPolicy::Quarantine),
        "reject" => Some(DmarcPolicy::Reject),
        _ => None,
    }
}

fn uris(value: &str) -> Vec<String> {
    value.split(',').map(str::trim).filter(|u| !u.is_empty()).map(str::to_string).collect()
}

/// Parses a DMARC record; `None` if `text` is not one. First occurrence of a tag wins.
pub fn parse_dmarc(text: &str) -> Option<DmarcRecord> {
    if !is_dmarc_record(text) {
        return None;
    }
    let mut record = DmarcRecord {
        record: text.to_string(),
        policy: DmarcPolicy::None,
        subdomain_policy: None,
        pct: 100,
        rua: Vec::new(),
        ruf: Vec::new(),
    };
    let mut seen: Vec<String> = Vec::new();
    for (name, value) in tags(text) {
        if seen.contains(&name) {
            continue;
        }
        match name.as_str() {
            "p" => record.policy = policy(value).unwrap_or(DmarcPolicy::None),
            "sp" => record.subdomain_policy = policy(value),
            "pct" => record.pct = value.parse::<i64>().map_or(100, |n| n.clamp(0, 100) as u8),
            "rua" => record.rua = uris(value),
            "ruf" => record.ruf = uris(value),
            _ => {}
        }
        seen.push(name);
    }
    Some(record)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn p_is_read_as_its_own_tag_not_confused_with_sp() {
        let r = parse_dmarc("v=DMARC1; p=reject; sp=none").unwrap();
        assert_eq!(r.policy, DmarcPolicy::Reject);
        assert_eq!(r.subdomain_policy, Some(DmarcPolicy::None));
    }

    #[test]
    fn sp_before_p_does_not_override_p() {
        let r = parse_dmarc("v=DMARC1; sp=quarantine; p=reject").unwrap();
        assert_eq!(r.policy, DmarcPolicy::Reject);
        assert_eq!(r.subdomain_policy, Some(DmarcPolicy::Quarantine));
    }

    #[test]
    fn tags_tolerate_case_and_spaces() {
        let r = parse_dmarc(" V = dmarc1 ;P = Reject ; PCT= 50 ;rua = mailto:a@x.com , mailto:b@y.com").unwrap();
        assert_eq!(r.policy, DmarcPolicy::Reject);
        assert_eq!(r.pct, 50);
        assert_eq!(r.rua, vec!["mailto:a@x.com".to_string(), "mailto:b@y.com".to_string()]);
    }

    #[test]
    fn pct_defaults_to_100_and_is_clamped() {
        assert_eq!(parse_dmarc("v=DMARC1; p=none").unwrap().pct, 100);
        assert_eq!(parse_dmarc("v=DMARC1; p=none; pct=250").unwrap().pct, 100);
        assert_eq!(parse_dmarc("v=DMARC1; p=none; pct=-3").unwrap().pct, 0);
        assert_eq!(parse_dmarc("v=DMARC1; p=none; pct=abc").unwrap().pct, 100);
    }

    #[test]
    fn an_unknown_or_missing_policy_counts_as_none() {
        assert_eq!(parse_dmarc("v=DMARC1; p=block").unwrap().policy, DmarcPolicy::None);
        assert_eq!(parse_dmarc("v=DMARC1; rua=mailto:a@x.com").unwrap().policy, DmarcPolicy::None);
    }

    #[test]
    fn ruf_is_parsed() {
        let r = parse_dmarc("v=DMARC1; p=quarantine; ruf=mailto:f@x.com").unwrap();
        assert_eq!(r.policy, DmarcPolicy::Quarantine);
        assert_eq!(r.ruf, vec!["mailto:f@x.com".to_string()]);
    }

    #[test]
    fn a_record_not_starting_with_the_version_is_not_dmarc() {
        assert_eq!(parse_dmarc("p=reject; v=DMARC1"), None);
        assert_eq!(parse_dmarc("v=spf1 -all"), None);
        assert_eq!(parse_dmarc("v=DMARC2; p=reject"), None);
    }
}
