//! Turning what a person typed, or a file cell held, into a company domain — or saying exactly why not.
//!
//! The rules follow the reference engine (engine.md §2.1–2.4) with its defects fixed: scheme matching is
//! case-insensitive, IDN names whose first label is punycode are accepted, and paths, queries, fragments
//! and ports are stripped even without a scheme. Beyond the reference, the public-suffix list, IP
//! literals and free-mail providers are refused. Subdomains are kept (`sub.example.co.uk` stays), as in
//! the reference: a company's mail may live on a subdomain, and cutting it would merge distinct leads.

use std::borrow::Cow;
use std::collections::HashSet;
use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};

use idna::AsciiDenyList;

use crate::config::IntakeConfig;

/// Consumer mailbox providers: an address there says nothing about a company. The reference's list
/// (engine.md §9.6) plus other common ones; `name.*` matches `name` under every public suffix
/// (`yahoo.*`: yahoo.com, yahoo.co.uk, yahoo.com.tr…).
pub const DEFAULT_FREE_MAIL_DOMAINS: &[&str] = &[
    // engine.md §9.6
    "gmail.com",
    "outlook.com",
    "hotmail.com",
    "yahoo.com",
    "yahoo.co.uk",
    "ymail.com",
    "aol.com",
    "icloud.com",
    "me.com",
    "mac.com",
    "live.com",
    "msn.com",
    "protonmail.com",
    "proton.me",
    "zoho.com",
    "mail.com",
    "yandex.com",
    "gmx.com",
    // the same brands under other suffixes
    "outlook.*",
    "hotmail.*",
    "live.*",
    "yahoo.*",
    "aol.*",
    "yandex.*",
    "protonmail.*",
    "gmx.*",
    // others
    "googlemail.com",
    "windowslive.com",
    "passport.com",
    "rocketmail.com",
    "aim.com",
    "pm.me",
    "tutanota.com",
    "tutanota.de",
    "tutamail.com",
    "tuta.io",
    "tuta.com",
    "zohomail.com",
    "email.com",
    "fastmail.com",
    "fastmail.fm",
    "hushmail.com",
    "mailfence.com",
    "web.de",
    "t-online.de",
    "freenet.de",
    "ya.ru",
    "mail.ru",
    "inbox.ru",
    "list.ru",
    "bk.ru",
    "internet.ru",
    "rambler.ru",
    "ukr.net",
    "mynet.com",
    "qq.com",
    "163.com",
    "126.com",
    "yeah.net",
    "sina.com",
    "naver.com",
    "hanmail.net",
    "daum.net",
    "libero.it",
    "virgilio.it",
    "tiscali.it",
    "orange.fr",
    "wanadoo.fr",
    "laposte.net",
    "free.fr",
    "sfr.fr",
    "seznam.cz",
    "wp.pl",
    "o2.pl",
    "interia.pl",
    "onet.pl",
    "abv.bg",
    "rediffmail.com",
    "uol.com.br",
    "bol.com.br",
    "comcast.net",
    "verizon.net",
    "att.net",
    "sbcglobal.net",
    "btinternet.com",
];

/// Values spreadsheets and people use for "nothing here" (the reference's list, plus Excel's `#N/A`
/// and Turkish `yok`).
const PLACEHOLDERS: &[&str] = &[
    "nan",
    "n/a",
    "na",
    "n.a.",
    "#n/a",
    "none",
    "null",
    "undefined",
    "-",
    "--",
    "?",
    "yok",
    "web sitesi",
    "website",
    "web",
    "http",
    "https",
];

/// Why an input is not a company domain. The message quotes the offending part, so a person can fix it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Rejection {
    #[error("the value is empty")]
    Empty,
    #[error("`{0}` is a placeholder, not a domain")]
    Placeholder(String),
    #[error("`{0}` is an e-mail address, not a domain")]
    EmailAddress(String),
    #[error("`{0}` has no `@`: not an e-mail address")]
    NotAnEmail(String),
    #[error("`{scheme}://` is not a web address (only http and https are)")]
    UnsupportedScheme { scheme: String },
    #[error("`{0}` has no host name")]
    NoHost(String),
    #[error("`{port}` is not a port number")]
    InvalidPort { port: String },
    #[error("`{0}` is an IP address, not a domain")]
    IpAddress(String),
    #[error("`{0}` is only numbers, not a domain name")]
    Numeric(String),
    #[error("`{0}` has an empty label (two dots in a row or a leading dot)")]
    EmptyLabel(String),
    #[error("label `{label}` has an invalid character {ch}")]
    InvalidCharacter { label: String, ch: Shown },
    #[error("label `{0}` starts or ends with a hyphen")]
    HyphenAtEdge(String),
    #[error("label `{label}` is {len} characters long (at most 63)")]
    LabelTooLong { label: String, len: usize },
    #[error("`{name}` is {len} characters long (at most 253)")]
    TooLong { name: String, len: usize },
    #[error("`{0}` is not a valid internationalised domain name")]
    InvalidIdn(String),
    #[error("`{0}` is a single label: a company domain has a dot, like `example.com`")]
    SingleLabel(String),
    #[error("`{tld}` is not a top-level domain (too short)")]
    ShortTld { tld: String },
    #[error("`{0}` is a public suffix, not a company domain")]
    PublicSuffix(String),
    #[error("`{0}` is a free-mail provider, not a company")]
    FreeMail(String),
}

/// A character as a person can read it in a message: `_`, or a name for invisible ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shown(pub char);

impl fmt::Display for Shown {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            ' ' => f.write_str("` ` (space)"),
            c if c.is_whitespace() || c.is_control() => write!(f, "U+{:04X}", c as u32),
            c => write!(f, "`{c}`"),
        }
    }
}

/// Messages quote inputs; a pasted paragraph must not make a paragraph-long message.
fn quoted(s: &str) -> String {
    const MAX: usize = 80;
    match s.char_indices().nth(MAX) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_string(),
    }
}

/// A domain typed or held in a "domain" field. URLs are reduced to their host; a bare `user@host` is
/// refused (use [`domain_from_email`]), as in the reference.
pub fn normalize_domain(input: &str) -> Result<String, Rejection> {
    validate_host(host_part(input, AtSign::Refuse)?)
}

/// The domain of an e-mail address: the part after the last `@`. Also takes `mailto:` links and
/// `Name <user@host>` forms.
pub fn domain_from_email(input: &str) -> Result<String, Rejection> {
    let s = input.trim();
    if s.is_empty() {
        return Err(Rejection::Empty);
    }
    let s = strip_prefix_ignore_case(s, "mailto:").unwrap_or(s);
    let s = match (s.rfind('<'), s.rfind('>')) {
        (Some(open), Some(close)) if open < close => &s[open + 1..close],
        _ => s,
    };
    let Some(at) = s.rfind('@') else { return Err(Rejection::NotAnEmail(quoted(input.trim()))) };
    let domain = &s[at + 1..];
    // `mailto:` links carry `?subject=…`.
    let domain = domain.split('?').next().unwrap_or(domain);
    normalize_domain(domain)
}

/// The domain of a website address, with or without a scheme (`user@` before the host is userinfo).
pub fn domain_from_website(input: &str) -> Result<String, Rejection> {
    validate_host(host_part(input, AtSign::Userinfo)?)
}

/// What to make of an `@` when there is no scheme.
#[derive(Clone, Copy, PartialEq, Eq)]
enum AtSign {
    Refuse,
    Userinfo,
}

/// The host of `input` (scheme, userinfo, port, path, query and fragment removed), not yet validated.
fn host_part(input: &str, at_sign: AtSign) -> Result<&str, Rejection> {
    let s = input.trim();
    if s.is_empty() {
        return Err(Rejection::Empty);
    }
    let lower = s.to_lowercase();
    if PLACEHOLDERS.contains(&lower.as_str()) {
        return Err(Rejection::Placeholder(quoted(s)));
    }
    let (rest, had_scheme) = match split_scheme(s) {
        Some((scheme, rest)) => {
            if !(scheme.eq_ignore_ascii_case("http") || scheme.eq_ignore_ascii_case("https")) {
                return Err(Rejection::UnsupportedScheme { scheme: quoted(scheme) });
            }
            (rest, true)
        }
        // Protocol-relative `//example.com`.
        None => match s.strip_prefix("//") {
            Some(rest) => (rest, true),
            None => (s, false),
        },
    };
    let end = rest.find(['/', '?', '#', '\\']).unwrap_or(rest.len());
    let mut authority = &rest[..end];
    if let Some(at) = authority.rfind('@') {
        if !had_scheme && at_sign == AtSign::Refuse {
            return Err(Rejection::EmailAddress(quoted(s)));
        }
        authority = &authority[at + 1..];
    }
    if let Some(inner) = authority.strip_prefix('[') {
        let inner = inner.split(']').next().unwrap_or(inner);
        return Err(if inner.parse::<Ipv6Addr>().is_ok() {
            Rejection::IpAddress(inner.to_string())
        } else {
            Rejection::InvalidCharacter { label: quoted(authority), ch: Shown('[') }
        });
    }
    if authority.matches(':').count() > 1 && authority.parse::<Ipv6Addr>().is_ok() {
        return Err(Rejection::IpAddress(authority.to_string()));
    }
    let host = match authority.split_once(':') {
        Some((host, port)) => {
            if !port.bytes().all(|b| b.is_ascii_digit()) {
                return Err(Rejection::InvalidPort { port: quoted(port) });
            }
            host
        }
        None => authority,
    };
    if host.is_empty() {
        return Err(Rejection::NoHost(quoted(s)));
    }
    Ok(host)
}

/// `scheme://rest` when `s` starts with a syntactically valid URL scheme.
fn split_scheme(s: &str) -> Option<(&str, &str)> {
    let i = s.find("://")?;
    let scheme = &s[..i];
    let mut chars = scheme.chars();
    let valid = chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
    valid.then(|| (scheme, &s[i + 3..]))
}

fn strip_prefix_ignore_case<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    let head = s.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix).then(|| &s[prefix.len()..])
}

/// Lower-case punycode form of `host` if it is a usable company domain.
fn validate_host(host: &str) -> Result<String, Rejection> {
    let host = host.trim_end_matches('.');
    if host.is_empty() {
        return Err(Rejection::Empty);
    }
    let ascii: Cow<'_, str> = if host.is_ascii() {
        Cow::Owned(host.to_ascii_lowercase())
    } else {
        // ASCII characters that are never allowed get a precise message; IDNA's errors carry no detail.
        for label in host.split(['.', '。', '．', '｡']) {
            if let Some(ch) = label.chars().find(|c| c.is_ascii() && !(c.is_ascii_alphanumeric() || *c == '-')) {
                return Err(Rejection::InvalidCharacter { label: quoted(label), ch: Shown(ch) });
            }
        }
        let mapped = idna::domain_to_ascii_cow(host.as_bytes(), AsciiDenyList::STD3)
            .map_err(|_| Rejection::InvalidIdn(quoted(host)))?;
        Cow::Owned(mapped.trim_end_matches('.').to_string())
    };
    // One `www.` only, as the reference does: `www.www.example.com` keeps the second.
    let name = ascii.strip_prefix("www.").unwrap_or(&ascii);
    if name.parse::<Ipv4Addr>().is_ok() {
        return Err(Rejection::IpAddress(name.to_string()));
    }
    check_labels(name)?;
    if name.split('.').any(|label| label.starts_with("xn--")) {
        // UTS 46 decodes and re-checks every punycode label: `xn--zz` garbage is refused here.
        let checked = idna::domain_to_ascii_cow(name.as_bytes(), AsciiDenyList::STD3)
            .map_err(|_| Rejection::InvalidIdn(quoted(name)))?;
        if checked != name {
            return Err(Rejection::InvalidIdn(quoted(name)));
        }
    }
    if name.split('.').all(|label| label.bytes().all(|b| b.is_ascii_digit())) {
        return Err(Rejection::Numeric(name.to_string()));
    }
    let Some((_, tld)) = name.rsplit_once('.') else { return Err(Rejection::SingleLabel(name.to_string())) };
    if tld.len() < 2 {
        return Err(Rejection::ShortTld { tld: tld.to_string() });
    }
    if psl::suffix(name.as_bytes()).is_some_and(|suffix| suffix.as_bytes() == name.as_bytes()) {
        return Err(Rejection::PublicSuffix(name.to_string()));
    }
    Ok(name.to_string())
}

/// RFC 1035 letter-digit-hyphen labels of at most 63 characters, at most 253 in all.
fn check_labels(name: &str) -> Result<(), Rejection> {
    for label in name.split('.') {
        if label.is_empty() {
            return Err(Rejection::EmptyLabel(quoted(name)));
        }
        if let Some(ch) = label.chars().find(|c| !(c.is_ascii_alphanumeric() || *c == '-')) {
            return Err(Rejection::InvalidCharacter { label: quoted(label), ch: Shown(ch) });
        }
        if label.len() > 63 {
            return Err(Rejection::LabelTooLong { label: quoted(label), len: label.len() });
        }
        if label.starts_with('-') || label.ends_with('-') {
            return Err(Rejection::HyphenAtEdge(label.to_string()));
        }
    }
    if name.len() > 253 {
        return Err(Rejection::TooLong { name: quoted(name), len: name.len() });
    }
    Ok(())
}

/// The configured view of which domains are companies: syntax and public suffixes as above, plus the
/// free-mail list.
#[derive(Debug, Clone)]
pub struct DomainRules {
    /// Entries matching the domain itself and its subdomains.
    free_mail: HashSet<String>,
    /// `name.*` entries: the first label of a registrable domain.
    free_mail_any_suffix: HashSet<String>,
}

impl Default for DomainRules {
    fn default() -> Self {
        DomainRules::with_free_mail(DEFAULT_FREE_MAIL_DOMAINS.iter().copied())
    }
}

impl DomainRules {
    /// `[intake] free_mail_domains`: empty means the built-in list.
    pub fn new(config: &IntakeConfig) -> DomainRules {
        if config.free_mail_domains.is_empty() {
            DomainRules::default()
        } else {
            DomainRules::with_free_mail(config.free_mail_domains.iter().map(String::as_str))
        }
    }

    pub fn with_free_mail<'a>(entries: impl IntoIterator<Item = &'a str>) -> DomainRules {
        let mut rules = DomainRules { free_mail: HashSet::new(), free_mail_any_suffix: HashSet::new() };
        for entry in entries {
            let entry = entry.trim().trim_end_matches('.').to_lowercase();
            let entry = entry.strip_prefix("*.").unwrap_or(&entry);
            if entry.is_empty() {
                continue;
            }
            match entry.strip_suffix(".*") {
                Some(name) => rules.free_mail_any_suffix.insert(name.to_string()),
                None => rules.free_mail.insert(entry.to_string()),
            };
        }
        rules
    }

    /// The entry point for anything a person typed or a file cell held: an e-mail address (or
    /// `mailto:` link), a website, or a domain. Returns the company domain or why there is none.
    pub fn check(&self, input: &str) -> Result<String, Rejection> {
        let s = input.trim();
        let is_email = strip_prefix_ignore_case(s, "mailto:").is_some() || (s.contains('@') && !s.contains("://"));
        let domain = if is_email { domain_from_email(s)? } else { normalize_domain(s)? };
        if self.is_free_mail(&domain) {
            return Err(Rejection::FreeMail(domain));
        }
        Ok(domain)
    }

    /// Whether `domain` (normalised) belongs to a free-mail provider.
    pub fn is_free_mail(&self, domain: &str) -> bool {
        let mut tail = domain;
        loop {
            if self.free_mail.contains(tail) {
                return true;
            }
            match tail.split_once('.') {
                Some((_, rest)) => tail = rest,
                None => break,
            }
        }
        psl::domain_str(domain)
            .and_then(|registrable| registrable.split_once('.'))
            .is_some_and(|(name, _)| self.free_mail_any_suffix.contains(name))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(f: fn(&str) -> Result<String, Rejection>, input: &str, expected: &str) {
        assert_eq!(f(input).as_deref(), Ok(expected), "input {input:?}");
    }

    fn refused(f: fn(&str) -> Result<String, Rejection>, input: &str) -> Rejection {
        match f(input) {
            Ok(d) => panic!("{input:?} was accepted as {d:?}"),
            Err(r) => r,
        }
    }

    // engine.md §2.2, observed results, with the documented defects fixed.

    #[test]
    fn case_and_one_www_are_normalised() {
        for input in ["Example.COM", "WWW.EXAMPLE.COM", "www.example.com"] {
            ok(normalize_domain, input, "example.com");
        }
    }

    #[test]
    fn surrounding_whitespace_and_trailing_dots_are_removed() {
        ok(normalize_domain, "  example.com  ", "example.com");
        ok(normalize_domain, "example.com.", "example.com");
        ok(normalize_domain, "example.com..", "example.com");
    }

    #[test]
    fn urls_are_reduced_to_their_host() {
        ok(normalize_domain, "https://www.example.com/path?x=1", "example.com");
        ok(normalize_domain, "http://example.com:8080/a", "example.com");
    }

    #[test]
    fn a_country_second_level_domain_is_lower_cased() {
        ok(normalize_domain, "EXAMPLE.COM.TR", "example.com.tr");
    }

    #[test]
    fn subdomains_are_kept() {
        ok(normalize_domain, "sub.domain.example.co.uk", "sub.domain.example.co.uk");
    }

    #[test]
    fn only_one_www_is_removed() {
        ok(normalize_domain, "www.www.example.com", "www.example.com");
    }

    #[test]
    fn paths_queries_and_fragments_are_stripped_without_a_scheme() {
        // The reference rejects these; the issue asks for them to be accepted.
        for input in ["example.com/path", "www.example.com/path", "example.com?x=1", "example.com#frag"] {
            ok(normalize_domain, input, "example.com");
        }
    }

    #[test]
    fn the_scheme_is_matched_case_insensitively() {
        // Defect (scheme case) fixed.
        ok(normalize_domain, "HTTP://EXAMPLE.COM", "example.com");
        ok(normalize_domain, "Https://Example.com", "example.com");
    }

    #[test]
    fn a_non_web_scheme_is_refused() {
        assert_eq!(
            refused(normalize_domain, "ftp://example.com"),
            Rejection::UnsupportedScheme { scheme: "ftp".into() }
        );
    }

    #[test]
    fn userinfo_before_the_host_is_dropped() {
        ok(normalize_domain, "http://user:pass@example.com/", "example.com");
    }

    #[test]
    fn a_bare_email_is_not_a_domain() {
        assert_eq!(refused(normalize_domain, "user@example.com"), Rejection::EmailAddress("user@example.com".into()));
    }

    #[test]
    fn names_without_a_dot_are_single_labels() {
        assert_eq!(refused(normalize_domain, "localhost"), Rejection::SingleLabel("localhost".into()));
        assert_eq!(refused(normalize_domain, "www.example"), Rejection::SingleLabel("example".into()));
    }

    #[test]
    fn a_one_letter_tld_is_refused() {
        assert_eq!(refused(normalize_domain, "a.b"), Rejection::ShortTld { tld: "b".into() });
    }

    #[test]
    fn an_ipv4_address_is_refused() {
        assert_eq!(refused(normalize_domain, "1.2.3.4"), Rejection::IpAddress("1.2.3.4".into()));
        assert_eq!(refused(normalize_domain, "http://10.0.0.10:8080/x"), Rejection::IpAddress("10.0.0.10".into()));
    }

    #[test]
    fn ipv6_addresses_are_refused_bracketed_or_not() {
        assert_eq!(refused(normalize_domain, "[::1]"), Rejection::IpAddress("::1".into()));
        assert_eq!(refused(normalize_domain, "http://[2001:db8::1]:8080/"), Rejection::IpAddress("2001:db8::1".into()));
        assert_eq!(refused(normalize_domain, "2001:db8::1"), Rejection::IpAddress("2001:db8::1".into()));
    }

    #[test]
    fn all_numeric_names_are_refused() {
        assert_eq!(refused(normalize_domain, "10.0.0.300"), Rejection::Numeric("10.0.0.300".into()));
    }

    #[test]
    fn a_label_with_a_leading_hyphen_is_refused() {
        assert_eq!(refused(normalize_domain, "-bad.com"), Rejection::HyphenAtEdge("-bad".into()));
    }

    #[test]
    fn an_underscore_is_named_as_the_invalid_character() {
        let r = refused(normalize_domain, "exa_mple.com");
        assert_eq!(r.to_string(), "label `exa_mple` has an invalid character `_`");
    }

    #[test]
    fn a_space_is_named_as_the_invalid_character() {
        let r = refused(normalize_domain, "ex ample.com");
        assert_eq!(r.to_string(), "label `ex ample` has an invalid character ` ` (space)");
    }

    #[test]
    fn two_dots_in_a_row_make_an_empty_label() {
        assert_eq!(refused(normalize_domain, "example..com"), Rejection::EmptyLabel("example..com".into()));
    }

    #[test]
    fn placeholders_are_refused() {
        for input in ["nan", "N/A", "web", "#N/A", "-"] {
            assert!(matches!(refused(normalize_domain, input), Rejection::Placeholder(_)), "{input}");
        }
    }

    #[test]
    fn unknown_and_numeric_tlds_are_kept_as_the_reference_does() {
        ok(normalize_domain, "example.c0m", "example.c0m");
        ok(normalize_domain, "example.123", "example.123");
    }

    #[test]
    fn unicode_names_become_punycode() {
        ok(normalize_domain, "shop.münchen.de", "shop.xn--mnchen-3ya.de");
        ok(normalize_domain, "MÜNCHEN.DE", "xn--mnchen-3ya.de");
    }

    #[test]
    fn a_punycode_first_label_is_accepted() {
        // Defect (IDN crash) fixed.
        for input in ["münchen.de", "www.münchen.de", "xn--mnchen-3ya.de", "XN--MNCHEN-3YA.DE"] {
            ok(normalize_domain, input, "xn--mnchen-3ya.de");
        }
    }

    #[test]
    fn broken_punycode_is_refused() {
        assert!(matches!(refused(normalize_domain, "xn--a.com"), Rejection::InvalidIdn(_)));
    }

    #[test]
    fn a_label_over_63_characters_is_refused() {
        let long = format!("{}.com", "a".repeat(64));
        assert!(matches!(refused(normalize_domain, &long), Rejection::LabelTooLong { len: 64, .. }));
    }

    #[test]
    fn a_name_over_253_characters_is_refused() {
        let long = format!("{}com", "abcdefghi.".repeat(26));
        assert!(matches!(refused(normalize_domain, &long), Rejection::TooLong { len: 263, .. }));
    }

    #[test]
    fn a_non_numeric_port_is_refused() {
        assert_eq!(refused(normalize_domain, "example.com:abc"), Rejection::InvalidPort { port: "abc".into() });
    }

    #[test]
    fn a_bare_public_suffix_is_refused() {
        let r = refused(normalize_domain, "com.tr");
        assert_eq!(r.to_string(), "`com.tr` is a public suffix, not a company domain");
        assert_eq!(refused(normalize_domain, "www.co.uk"), Rejection::PublicSuffix("co.uk".into()));
    }

    #[test]
    fn a_domain_under_a_public_suffix_is_accepted() {
        ok(normalize_domain, "firma.com.tr", "firma.com.tr");
        ok(normalize_domain, "acme.github.io", "acme.github.io");
    }

    // engine.md §2.3

    #[test]
    fn the_email_domain_is_the_part_after_the_last_at() {
        ok(domain_from_email, "user@Example.com", "example.com");
        ok(domain_from_email, "a@b@www.x.com", "x.com");
        ok(domain_from_email, " x@ex.com ", "ex.com");
    }

    #[test]
    fn an_email_needs_an_at_sign() {
        assert_eq!(refused(domain_from_email, "noatsign"), Rejection::NotAnEmail("noatsign".into()));
    }

    #[test]
    fn an_email_domain_is_validated_like_any_domain() {
        assert_eq!(refused(domain_from_email, "user@localhost"), Rejection::SingleLabel("localhost".into()));
    }

    #[test]
    fn mailto_links_and_display_names_are_understood() {
        ok(domain_from_email, "mailto:Info@Acme.com?subject=Hi", "acme.com");
        ok(domain_from_email, "Jane Doe <jane@acme.com.tr>", "acme.com.tr");
    }

    // engine.md §2.4

    #[test]
    fn website_paths_queries_and_ports_are_stripped() {
        ok(domain_from_website, "www.example.com/path?q=1", "example.com");
        ok(domain_from_website, "example.com?x=1", "example.com");
        ok(domain_from_website, "example.com:443", "example.com");
    }

    #[test]
    fn website_schemes_are_matched_case_insensitively() {
        ok(domain_from_website, "HTTP://EXAMPLE.COM", "example.com");
        ok(domain_from_website, "Https://Example.com/x", "example.com");
    }

    #[test]
    fn a_protocol_relative_website_is_accepted() {
        // The reference fails on these; a browser would open example.com.
        ok(domain_from_website, "//example.com", "example.com");
    }

    #[test]
    fn an_at_sign_in_a_website_is_userinfo() {
        ok(domain_from_website, "user@example.com", "example.com");
    }

    // The entry point.

    #[test]
    fn check_reads_emails_websites_and_domains() {
        let rules = DomainRules::default();
        assert_eq!(rules.check("info@acme.com.tr").as_deref(), Ok("acme.com.tr"));
        assert_eq!(rules.check("https://www.acme.com/about").as_deref(), Ok("acme.com"));
        assert_eq!(rules.check("http://user:pw@acme.com").as_deref(), Ok("acme.com"));
        assert_eq!(rules.check("ACME.COM").as_deref(), Ok("acme.com"));
    }

    #[test]
    fn free_mail_domains_are_not_companies() {
        let rules = DomainRules::default();
        assert_eq!(
            rules.check("gmail.com").unwrap_err().to_string(),
            "`gmail.com` is a free-mail provider, not a company"
        );
        assert_eq!(rules.check("someone@GMAIL.com"), Err(Rejection::FreeMail("gmail.com".into())));
        assert_eq!(rules.check("ali@yandex.com.tr"), Err(Rejection::FreeMail("yandex.com.tr".into())));
        assert_eq!(rules.check("x@yahoo.co.uk"), Err(Rejection::FreeMail("yahoo.co.uk".into())));
        assert_eq!(rules.check("x@mail.ru"), Err(Rejection::FreeMail("mail.ru".into())));
        assert_eq!(rules.check("x@gmx.de"), Err(Rejection::FreeMail("gmx.de".into())));
    }

    #[test]
    fn subdomains_of_free_mail_domains_are_free_mail() {
        let rules = DomainRules::default();
        assert_eq!(rules.check("mail.yahoo.com"), Err(Rejection::FreeMail("mail.yahoo.com".into())));
        assert_eq!(rules.check("x@smtp.web.de"), Err(Rejection::FreeMail("smtp.web.de".into())));
    }

    #[test]
    fn a_company_whose_name_contains_a_free_mail_name_is_accepted() {
        let rules = DomainRules::default();
        assert_eq!(rules.check("gmailtools.com").as_deref(), Ok("gmailtools.com"));
        assert_eq!(rules.check("liveevents.com.tr").as_deref(), Ok("liveevents.com.tr"));
        assert_eq!(rules.check("yahoo-fans.org").as_deref(), Ok("yahoo-fans.org"));
    }

    #[test]
    fn a_configured_free_mail_list_replaces_the_default() {
        let rules = DomainRules::new(&IntakeConfig { free_mail_domains: vec!["Example.COM".into(), "corp.*".into()] });
        assert_eq!(rules.check("x@example.com"), Err(Rejection::FreeMail("example.com".into())));
        assert_eq!(rules.check("corp.com.tr"), Err(Rejection::FreeMail("corp.com.tr".into())));
        assert_eq!(rules.check("gmail.com").as_deref(), Ok("gmail.com"));
    }

    #[test]
    fn the_free_mail_list_is_read_from_the_intake_section() {
        let config: crate::config::Config = toml::from_str("[intake]\nfree_mail_domains = [\"corp.*\"]\n").unwrap();
        assert!(DomainRules::new(&config.intake).is_free_mail("corp.de"));
    }

    #[test]
    fn an_empty_configured_list_means_the_default() {
        let rules = DomainRules::new(&IntakeConfig::default());
        assert!(rules.is_free_mail("hotmail.com.tr"));
    }
}
