//! A tolerant reader for WHOIS text. There is no standard format: registries write `Key: value`
//! lines (ICANN style, `.ru`, `.cn`), `[Key] value` lines (`.jp`), dot-padded keys (`.tr`), and
//! sections whose header is a key without a value and whose lines follow (`.tr`, `.uk`, `.mx`).

use chrono::NaiveDate;

#[derive(Debug, Default, PartialEq, Eq)]
pub(super) struct Parsed {
    pub registrar: Option<String>,
    pub created: Option<NaiveDate>,
    pub expires: Option<NaiveDate>,
    pub nameservers: Vec<String>,
}

impl Parsed {
    pub fn is_empty(&self) -> bool {
        self.registrar.is_none() && self.created.is_none() && self.expires.is_none() && self.nameservers.is_empty()
    }
}

const REGISTRAR_KEYS: &[&str] = &["registrar", "registrar name", "sponsoring registrar", "registrar organization"];
const CREATED_KEYS: &[&str] = &[
    "creation date",
    "created",
    "created on",
    "created date",
    "registered",
    "registered on",
    "registration date",
    "registration time",
    "domain registration date",
    "domain create date",
    "record created",
];
const EXPIRES_KEYS: &[&str] = &[
    "registry expiry date",
    "registrar registration expiration date",
    "expiration date",
    "expiration time",
    "expiry date",
    "expire date",
    "expires",
    "expires on",
    "expire",
    "paid-till",
    "renewal date",
    "domain expiration date",
    "record expires on",
    "valid until",
];
const NAMESERVER_KEYS: &[&str] =
    &["name server", "name servers", "nameserver", "nameservers", "nserver", "domain servers"];
/// Keys that name the registrar only inside a registrar section (elsewhere they name the registrant).
const REGISTRAR_SECTION_KEYS: &[&str] = &["organization name", "organization", "org", "name"];

#[derive(Clone, Copy, PartialEq, Eq)]
enum Section {
    None,
    Registrar,
    Nameservers,
    Other,
}

pub(super) fn parse(text: &str) -> Parsed {
    let mut parsed = Parsed::default();
    let mut section = Section::None;
    for raw in text.lines() {
        let line = raw.trim();
        // ICANN-style answers end with this marker; the legal text after it mentions "expiration date".
        if line.starts_with(">>>") {
            break;
        }
        if line.is_empty() {
            section = Section::None;
            continue;
        }
        if line.starts_with('%') || line.starts_with('#') {
            continue;
        }
        if section == Section::Nameservers
            && let Some(host) = hostname(line)
        {
            push_nameserver(&mut parsed.nameservers, host);
            continue;
        }
        let Some((key, value)) = split_key_value(line) else {
            if section == Section::Registrar && parsed.registrar.is_none() {
                parsed.registrar = clean_registrar(line);
            }
            continue;
        };
        if value.is_empty() {
            section = section_for(&key);
            continue;
        }
        let key = key.as_str();
        if REGISTRAR_KEYS.contains(&key) || (section == Section::Registrar && REGISTRAR_SECTION_KEYS.contains(&key)) {
            if parsed.registrar.is_none() {
                parsed.registrar = clean_registrar(value);
            }
        } else if CREATED_KEYS.contains(&key) {
            parsed.created = parsed.created.or_else(|| parse_date(value));
        } else if EXPIRES_KEYS.contains(&key) {
            parsed.expires = parsed.expires.or_else(|| parse_date(value));
        } else if (NAMESERVER_KEYS.contains(&key) || (section == Section::Nameservers && key == "dns"))
            && let Some(host) = hostname(value)
        {
            push_nameserver(&mut parsed.nameservers, host);
        }
    }
    parsed
}

/// Answers that refuse to answer, so the caller can tell "no data" from "try later".
pub(super) fn looks_rate_limited(text: &str) -> bool {
    let lower = text.to_ascii_lowercase();
    ["limit exceeded", "quota exceeded", "too many requests", "excessive querying", "query rate"]
        .iter()
        .any(|marker| lower.contains(marker))
}

/// `Key: value`, `Key......: value`, `** Key:` or `[Key] value`, with the key normalised to lower
/// case, single spaces and no decoration.
fn split_key_value(line: &str) -> Option<(String, &str)> {
    let (key, value) = if let Some(rest) = line.strip_prefix('[') {
        let (key, value) = rest.split_once(']')?;
        (key, value)
    } else {
        let (key, value) = line.split_once(':')?;
        // `http://…` or an IPv6 address is a value, not a key.
        if value.starts_with("//") || key.split_whitespace().count() > 5 {
            return None;
        }
        (key, value)
    };
    let key = key.trim_start_matches(['*', '>', ' ']).trim_end_matches(['.', ' ', '\t']);
    let key = key.split_whitespace().collect::<Vec<_>>().join(" ").to_ascii_lowercase();
    if key.is_empty() {
        return None;
    }
    Some((key, value.trim()))
}

fn section_for(key: &str) -> Section {
    match key {
        "registrar" | "sponsoring registrar" => Section::Registrar,
        k if NAMESERVER_KEYS.contains(&k) => Section::Nameservers,
        _ => Section::Other,
    }
}

/// The first word if it looks like a host name: `NS1.Example.COM.` → `ns1.example.com`; a trailing
/// address or status (`ns1.x.fr [192.0.2.1]`, `ns1.x.com 192.0.2.1`) is dropped.
fn hostname(text: &str) -> Option<String> {
    let word = text.split_whitespace().next()?.trim_end_matches('.').to_ascii_lowercase();
    let looks_like_host = word.contains('.')
        && !word.starts_with('.')
        && word.chars().all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-')
        && word.chars().any(|c| c.is_ascii_alphabetic());
    looks_like_host.then_some(word)
}

fn push_nameserver(list: &mut Vec<String>, host: String) {
    if !list.contains(&host) {
        list.push(host);
    }
}

/// Drops Nominet's `[Tag = …]` suffix and empty values.
fn clean_registrar(value: &str) -> Option<String> {
    let value = match value.find("[Tag =") {
        Some(at) => &value[..at],
        None => value,
    };
    let value = value.trim();
    (!value.is_empty()).then(|| value.to_string())
}

/// Dates as registries write them. Day-first and month-first slash dates are taken only when
/// unambiguous: no date is better than a wrong one.
pub(super) fn parse_date(text: &str) -> Option<NaiveDate> {
    let text = text.trim().trim_end_matches('.').trim();
    // ISO 8601 with or without a time: 2025-08-13, 2025-08-13T04:00:00Z, 2025-08-13 04:00:00.
    if let Some(date) = text.get(..10).and_then(|d| NaiveDate::parse_from_str(d, "%Y-%m-%d").ok()) {
        return Some(date);
    }
    let words: Vec<&str> = text.split(|c: char| c.is_whitespace() || c == ',').filter(|w| !w.is_empty()).collect();
    let first = words.first()?.trim_end_matches('.');
    for format in ["%Y-%b-%d", "%d-%b-%Y", "%d-%B-%Y", "%Y/%m/%d", "%Y.%m.%d", "%d.%m.%Y", "%Y%m%d"] {
        if let Ok(date) = NaiveDate::parse_from_str(first, format) {
            return Some(date);
        }
    }
    if let Some(date) = slash_date(first) {
        return Some(date);
    }
    // Word dates: "13 Aug 2025", "August 13, 2025", "Wed Aug 13 04:00:00 UTC 2025".
    let words: Vec<&str> = words.into_iter().skip_while(|w| is_weekday(w)).collect();
    let year = words.iter().rev().find(|w| w.len() == 4 && w.chars().all(|c| c.is_ascii_digit()))?;
    let (a, b) = (*words.first()?, *words.get(1)?);
    NaiveDate::parse_from_str(&format!("{a} {b} {year}"), "%d %B %Y")
        .or_else(|_| NaiveDate::parse_from_str(&format!("{a} {b} {year}"), "%B %d %Y"))
        .ok()
}

/// `dd/mm/yyyy` or `mm/dd/yyyy`, only when one of the two numbers is over 12.
fn slash_date(word: &str) -> Option<NaiveDate> {
    let mut parts = word.split('/');
    let (a, b, year): (u32, u32, i32) =
        (parts.next()?.parse().ok()?, parts.next()?.parse().ok()?, parts.next()?.parse().ok()?);
    if parts.next().is_some() || year < 1000 {
        return None;
    }
    match (a > 12, b > 12) {
        (true, false) => NaiveDate::from_ymd_opt(year, b, a),
        (false, true) => NaiveDate::from_ymd_opt(year, a, b),
        (false, false) if a == b => NaiveDate::from_ymd_opt(year, a, b),
        _ => None,
    }
}

fn is_weekday(word: &str) -> bool {
    let lower = word.to_ascii_lowercase();
    ["mon", "tue", "wed", "thu", "fri", "sat", "sun"].iter().any(|d| lower.starts_with(d)) && lower.len() <= 9
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(y: i32, m: u32, d: u32) -> Option<NaiveDate> {
        NaiveDate::from_ymd_opt(y, m, d)
    }

    #[test]
    fn dates_in_the_formats_registries_use_are_understood() {
        for (text, expected) in [
            ("2025-08-13T04:00:00Z", date(2025, 8, 13)),
            ("2025-08-13T04:00:00.0Z", date(2025, 8, 13)),
            ("2025-08-13 04:00:00", date(2025, 8, 13)),
            ("2025-08-13", date(2025, 8, 13)),
            ("2025-Aug-22.", date(2025, 8, 22)),
            ("13-Aug-2025", date(2025, 8, 13)),
            ("13-august-2025", date(2025, 8, 13)),
            ("2025/08/13", date(2025, 8, 13)),
            ("2025.08.13", date(2025, 8, 13)),
            ("13.08.2025", date(2025, 8, 13)),
            ("20250813", date(2025, 8, 13)),
            ("20250813 #1234567", date(2025, 8, 13)),
            ("13/08/2025", date(2025, 8, 13)),
            ("08/13/2025", date(2025, 8, 13)),
            ("13 Aug 2025", date(2025, 8, 13)),
            ("August 13, 2025", date(2025, 8, 13)),
            ("Wed Aug 13 04:00:00 UTC 2025", date(2025, 8, 13)),
        ] {
            assert_eq!(parse_date(text), expected, "{text}");
        }
    }

    #[test]
    fn ambiguous_or_meaningless_dates_are_not_guessed() {
        for text in ["04/05/2025", "before Aug-1996", "0000-00-00", "n/a", "", "2025-13-45"] {
            assert_eq!(parse_date(text), None, "{text}");
        }
    }

    #[test]
    fn an_icann_style_answer_gives_every_field() {
        let parsed = parse(
            "   Domain Name: EXAMPLE.COM\n   Registrar URL: http://www.markmonitor.com\n   Creation Date: 1997-09-15T04:00:00Z\n   \
             Registry Expiry Date: 2028-09-14T04:00:00Z\n   Registrar: MarkMonitor Inc.\n   Registrar IANA ID: 292\n   \
             Name Server: NS1.GOOGLE.COM\n   Name Server: NS2.GOOGLE.COM\n",
        );
        assert_eq!(
            parsed,
            Parsed {
                registrar: Some("MarkMonitor Inc.".into()),
                created: date(1997, 9, 15),
                expires: date(2028, 9, 14),
                nameservers: vec!["ns1.google.com".into(), "ns2.google.com".into()],
            }
        );
    }

    #[test]
    fn the_legal_text_after_the_last_update_marker_is_ignored() {
        let parsed = parse(
            "Registry Expiry Date: 2028-09-14T04:00:00Z\n>>> Last update of whois database: 2026-11-23T10:00:00Z <<<\n\n\
             Expiration Date: 1999-01-01\nRegistrar: Legalese\n",
        );
        assert_eq!(parsed.expires, date(2028, 9, 14));
        assert_eq!(parsed.registrar, None);
    }

    #[test]
    fn a_registrar_section_names_the_registrar_by_its_organization_name() {
        let parsed = parse(
            "** Registrant:\n   Example A.S.\n   Hidden upon user request\n\n** Registrar:\nNIC Handle\t\t: tyh14-metu\n\
             Organization Name\t: TURKTICARET.NET YAZILIM HIZMETLERI\nAddress\t\t\t: Hidden upon user request\n",
        );
        assert_eq!(parsed.registrar.as_deref(), Some("TURKTICARET.NET YAZILIM HIZMETLERI"));
    }

    #[test]
    fn a_registrar_section_without_keys_names_the_registrar_on_its_first_line() {
        let parsed = parse(
            "    Registrar:\n        Markmonitor Inc. t/a MarkMonitor Inc. [Tag = MARKMONITOR]\n        URL: http://www.markmonitor.com\n",
        );
        assert_eq!(parsed.registrar.as_deref(), Some("Markmonitor Inc. t/a MarkMonitor Inc."));
    }

    #[test]
    fn a_nameserver_section_lists_one_host_per_line() {
        let parsed = parse(
            "Name servers:\n   NS1.Example.co.uk.   192.0.2.1\n   ns2.example.co.uk\n\nStatus: ok\nns9.example.com\n",
        );
        assert_eq!(parsed.nameservers, ["ns1.example.co.uk", "ns2.example.co.uk"]);
    }

    #[test]
    fn dns_lines_inside_a_nameserver_section_are_nameservers() {
        let parsed = parse("Name Servers:\n   DNS:            ns1.example.mx\n   DNS:            ns2.example.mx\n");
        assert_eq!(parsed.nameservers, ["ns1.example.mx", "ns2.example.mx"]);
    }

    #[test]
    fn bracketed_keys_are_read() {
        let parsed = parse(
            "[Domain Name]                   EXAMPLE.JP\n[Name Server]                   ns1.example.jp\n\
             [Created on]                    2001/05/21\n[Expires on]                    2026/05/31\n",
        );
        assert_eq!(parsed.created, date(2001, 5, 21));
        assert_eq!(parsed.expires, date(2026, 5, 31));
        assert_eq!(parsed.nameservers, ["ns1.example.jp"]);
    }

    #[test]
    fn ripe_style_keys_and_comment_lines_are_read() {
        let parsed = parse(
            "% TCI Whois Service.\ndomain:        YANDEX.RU\nnserver:       ns1.yandex.ru.\nnserver:       ns2.yandex.ru.\n\
             org:           YANDEX, LLC.\nregistrar:     RU-CENTER-RU\ncreated:       1997-09-23T09:45:07Z\npaid-till:     2026-09-30T21:00:00Z\n",
        );
        assert_eq!(parsed.registrar.as_deref(), Some("RU-CENTER-RU"));
        assert_eq!((parsed.created, parsed.expires), (date(1997, 9, 23), date(2026, 9, 30)));
        assert_eq!(parsed.nameservers, ["ns1.yandex.ru", "ns2.yandex.ru"]);
    }

    #[test]
    fn an_answer_without_the_fields_is_empty() {
        assert!(
            parse("No match for \"NOPE.COM\".\n>>> Last update of whois database: 2026-11-23T10:00:00Z <<<\n")
                .is_empty()
        );
    }

    #[test]
    fn a_refusal_to_answer_is_recognised() {
        assert!(looks_rate_limited("WHOIS LIMIT EXCEEDED - SEE WWW.PIR.ORG/WHOIS FOR DETAILS"));
        assert!(!looks_rate_limited("No match for \"NOPE.COM\"."));
    }
}
