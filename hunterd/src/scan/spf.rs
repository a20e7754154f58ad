//! SPF (RFC 7208): recognising records, parsing terms, and resolving the include/redirect tree within
//! the 10-lookup limit. We have no sending IP to check, so every DNS-querying term counts, as an
//! evaluation that matches nothing would count them.

use super::lookups::Lookups;
use super::model::{RawRecord, SpfNode, SpfResult, SpfStatus};
use super::records::{raw_records, txt_texts};
use super::resolver::Failure;
use hickory_resolver::proto::rr::RecordType;
use std::collections::HashMap;

/// RFC 7208 §4.6.4.
pub const MAX_LOOKUPS: u32 = 10;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Qualifier {
    Pass,
    Fail,
    SoftFail,
    Neutral,
}

/// One term of an SPF record. Domain specs are lower-case without a trailing dot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SpfTerm {
    All(Qualifier),
    Include(Qualifier, String),
    A(Qualifier, Option<String>),
    Mx(Qualifier, Option<String>),
    Ptr(Qualifier, Option<String>),
    Exists(Qualifier, String),
    Ip4(Qualifier, String),
    Ip6(Qualifier, String),
    Redirect(String),
    Exp(String),
    /// A modifier RFC 7208 does not define (ignored by evaluators).
    Modifier(String, String),
    /// Text that is neither a mechanism nor a modifier: a permerror for evaluators.
    Invalid(String),
}

impl SpfTerm {
    /// Whether the term costs a DNS lookup (RFC 7208 §4.6.4; `redirect` only when it is followed).
    pub fn is_lookup_mechanism(&self) -> bool {
        matches!(self, SpfTerm::Include(..) | SpfTerm::A(..) | SpfTerm::Mx(..) | SpfTerm::Ptr(..) | SpfTerm::Exists(..))
    }
}

/// `v=spf1` followed by a space or nothing, case-insensitively (RFC 7208 §4.5). Leading spaces are
/// tolerated: a record that is only badly indented still says what the domain meant.
pub fn is_spf_record(text: &str) -> bool {
    let t = text.trim_start().as_bytes();
    t.len() >= 6 && t[..6].eq_ignore_ascii_case(b"v=spf1") && (t.len() == 6 || t[6] == b' ' || t[6] == b'\t')
}

/// The terms after the version tag. Unknown or malformed text becomes [`SpfTerm::Invalid`].
pub fn parse_spf(record: &str) -> Vec<SpfTerm> {
    record.split_ascii_whitespace().skip(1).map(parse_term).collect()
}

fn parse_term(term: &str) -> SpfTerm {
    let invalid = || SpfTerm::Invalid(term.to_string());
    // A modifier is `name=value` with the `=` before any `:` or `/`.
    if let Some(eq) = term.find('=')
        && !term[..eq].contains([':', '/'])
    {
        let (name, value) = (term[..eq].to_ascii_lowercase(), &term[eq + 1..]);
        if name.is_empty() || !name.starts_with(|c: char| c.is_ascii_alphabetic()) {
            return invalid();
        }
        return match name.as_str() {
            "redirect" if !value.is_empty() => SpfTerm::Redirect(domain_spec(value)),
            "exp" => SpfTerm::Exp(value.to_string()),
            "redirect" => invalid(),
            _ => SpfTerm::Modifier(name, value.to_string()),
        };
    }
    let (qualifier, rest) = match term.as_bytes().first() {
        Some(b'+') => (Qualifier::Pass, &term[1..]),
        Some(b'-') => (Qualifier::Fail, &term[1..]),
        Some(b'~') => (Qualifier::SoftFail, &term[1..]),
        Some(b'?') => (Qualifier::Neutral, &term[1..]),
        _ => (Qualifier::Pass, term),
    };
    let split = rest.find([':', '/']).unwrap_or(rest.len());
    let (name, arg) = (rest[..split].to_ascii_lowercase(), &rest[split..]);
    // `:domain` (optionally followed by `/cidr`), `/cidr` alone, or nothing.
    let target = arg.strip_prefix(':').map(|v| v.split('/').next().unwrap_or_default());
    let optional_domain = || match target {
        Some("") => None,
        Some(d) => Some(Some(domain_spec(d))),
        None => Some(None),
    };
    match name.as_str() {
        "all" if arg.is_empty() => SpfTerm::All(qualifier),
        "include" => match target {
            Some(d) if !d.is_empty() => SpfTerm::Include(qualifier, domain_spec(d)),
            _ => invalid(),
        },
        "exists" => match target {
            Some(d) if !d.is_empty() => SpfTerm::Exists(qualifier, domain_spec(d)),
            _ => invalid(),
        },
        "a" => optional_domain().map_or_else(invalid, |d| SpfTerm::A(qualifier, d)),
        "mx" => optional_domain().map_or_else(invalid, |d| SpfTerm::Mx(qualifier, d)),
        "ptr" => optional_domain().map_or_else(invalid, |d| SpfTerm::Ptr(qualifier, d)),
        "ip4" => match arg.strip_prefix(':') {
            Some(v) if !v.is_empty() => SpfTerm::Ip4(qualifier, v.to_string()),
            _ => invalid(),
        },
        "ip6" => match arg.strip_prefix(':') {
            Some(v) if !v.is_empty() => SpfTerm::Ip6(qualifier, v.to_string()),
            _ => invalid(),
        },
        _ => invalid(),
    }
}

fn domain_spec(s: &str) -> String {
    s.trim_end_matches('.').to_ascii_lowercase()
}

/// What one record asks of the evaluator: lookups it costs, names to follow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordPlan {
    pub lookups: u32,
    pub includes: Vec<String>,
    /// Followed only when the record has no `all` mechanism (RFC 7208 §6.1).
    pub redirect: Option<String>,
}

pub fn plan(terms: &[SpfTerm]) -> RecordPlan {
    let has_all = terms.iter().any(|t| matches!(t, SpfTerm::All(_)));
    let redirect = if has_all {
        None
    } else {
        terms.iter().find_map(|t| if let SpfTerm::Redirect(d) = t { Some(d.clone()) } else { None })
    };
    let includes =
        terms.iter().filter_map(|t| if let SpfTerm::Include(_, d) = t { Some(d.clone()) } else { None }).collect();
    let lookups = terms.iter().filter(|t| t.is_lookup_mechanism()).count() as u32 + u32::from(redirect.is_some());
    RecordPlan { lookups, includes, redirect }
}

/// A domain spec with macros (`%{i}`…) needs the sender to expand: it cannot be followed.
fn has_macro(domain: &str) -> bool {
    domain.contains('%')
}

/// SPF at a domain whose apex TXT lookup ended as `apex` (texts, or why it failed).
pub(crate) struct SpfOutcome {
    pub result: SpfResult,
    pub raw: Vec<RawRecord>,
    pub warnings: Vec<String>,
}

struct Node {
    domain: String,
    record: Option<String>,
    includes: Vec<usize>,
    redirect: Option<usize>,
    error: Option<String>,
    /// Domains on the path from the root to this node, itself included.
    path: Vec<String>,
}

/// The include/redirect tree while it is being resolved, level by level.
struct Walk {
    nodes: Vec<Node>,
    /// Every include/redirect target named anywhere, in discovery order (the `includes` evidence).
    discovered: Vec<String>,
    lookups: u32,
    looped: bool,
    temp_error: bool,
    /// One TXT answer per name, shared by every node naming it.
    fetched: HashMap<String, Result<Vec<String>, Failure>>,
    raw: Vec<RawRecord>,
    warnings: Vec<String>,
}

/// Resolves the tree breadth-first: each level's lookups go out together, and the lookup count is
/// checked between levels, so no more than the limit (plus one level's worth) is ever fetched.
pub(crate) async fn evaluate(dns: &Lookups<'_>, domain: &str, apex: Result<&[String], &Failure>) -> SpfOutcome {
    let texts = match apex {
        Ok(texts) => texts,
        Err(failure) => {
            let warnings = vec![format!("SPF unknown: TXT lookup at {domain} failed ({failure})")];
            return SpfOutcome { result: empty_result(SpfStatus::TempError), raw: Vec::new(), warnings };
        }
    };
    let all_records: Vec<String> = texts.iter().filter(|t| is_spf_record(t)).cloned().collect();
    let Some(first) = all_records.first() else {
        let result = SpfResult { all_records, ..empty_result(SpfStatus::None) };
        return SpfOutcome { result, raw: Vec::new(), warnings: Vec::new() };
    };

    let mut walk = Walk::new(domain, first);
    let mut level = vec![0usize];
    loop {
        let to_fetch = walk.expand(&level);
        if to_fetch.is_empty() {
            break;
        }
        if walk.lookups > MAX_LOOKUPS {
            walk.give_up(&to_fetch);
            break;
        }
        walk.fetch(dns, &to_fetch).await;
        level = walk.settle(to_fetch);
    }
    walk.note_other_records(&all_records);
    walk.finish(domain, all_records)
}

impl Walk {
    fn new(domain: &str, record: &str) -> Self {
        let root = Node {
            domain: domain.to_string(),
            record: Some(record.to_string()),
            includes: Vec::new(),
            redirect: None,
            error: None,
            path: vec![domain.to_string()],
        };
        Walk {
            nodes: vec![root],
            discovered: Vec::new(),
            lookups: 0,
            looped: false,
            temp_error: false,
            fetched: HashMap::new(),
            raw: Vec::new(),
            warnings: Vec::new(),
        }
    }

    /// Expands this level's records into children; returns those waiting to be fetched.
    fn expand(&mut self, level: &[usize]) -> Vec<usize> {
        let mut to_fetch = Vec::new();
        for &index in level {
            let Some(record) = self.nodes[index].record.clone() else { continue };
            let plan = plan(&parse_spf(&record));
            self.lookups += plan.lookups;
            let targets = plan.includes.into_iter().map(|d| (d, false)).chain(plan.redirect.map(|d| (d, true)));
            for (target, is_redirect) in targets {
                let mut path = self.nodes[index].path.clone();
                let error = if has_macro(&target) {
                    Some("macro in domain spec; not expanded without a sender".to_string())
                } else if path.contains(&target) {
                    self.looped = true;
                    Some(format!("loop: {target} is already being evaluated"))
                } else {
                    None
                };
                if !has_macro(&target) && !self.discovered.contains(&target) {
                    self.discovered.push(target.clone());
                }
                path.push(target.clone());
                let child = self.nodes.len();
                let pending = error.is_none();
                self.nodes.push(Node {
                    domain: target,
                    record: None,
                    includes: Vec::new(),
                    redirect: None,
                    error,
                    path,
                });
                if is_redirect {
                    self.nodes[index].redirect = Some(child);
                } else {
                    self.nodes[index].includes.push(child);
                }
                if pending {
                    to_fetch.push(child);
                }
            }
        }
        to_fetch
    }

    /// Past the limit: the children are recorded, not followed.
    fn give_up(&mut self, to_fetch: &[usize]) {
        for &child in to_fetch {
            self.nodes[child].error = Some(format!("not followed: more than {MAX_LOOKUPS} DNS lookups"));
        }
    }

    /// Fetches the TXT records of every name not fetched yet, all at once.
    async fn fetch(&mut self, dns: &Lookups<'_>, to_fetch: &[usize]) {
        let mut names: Vec<String> = to_fetch.iter().map(|&c| self.nodes[c].domain.clone()).collect();
        names.sort();
        names.dedup();
        names.retain(|n| !self.fetched.contains_key(n));
        let answers = futures::future::join_all(names.iter().map(|n| dns.query_shared(n, RecordType::TXT))).await;
        for (name, answer) in names.into_iter().zip(answers) {
            let texts = answer.map(|a| {
                self.raw.extend(raw_records(&a.records));
                txt_texts(&a.records)
            });
            self.fetched.insert(name, texts);
        }
    }

    /// Gives each fetched child its record or its error; returns the next level to expand.
    fn settle(&mut self, to_fetch: Vec<usize>) -> Vec<usize> {
        let mut next_level = Vec::new();
        for child in to_fetch {
            let node = &mut self.nodes[child];
            match &self.fetched[&node.domain] {
                Err(failure) => {
                    self.temp_error = true;
                    node.error = Some(format!("TXT lookup failed ({failure})"));
                    self.warnings.push(format!("SPF: TXT lookup at {} failed ({failure})", node.domain));
                }
                Ok(texts) => {
                    let spf: Vec<&String> = texts.iter().filter(|t| is_spf_record(t)).collect();
                    match spf.as_slice() {
                        [] => {
                            node.error = Some("no SPF record".into());
                            self.warnings
                                .push(format!("SPF: {} is referenced but publishes no SPF record", node.domain));
                        }
                        [one] => {
                            node.record = Some((*one).clone());
                            next_level.push(child);
                        }
                        [first, ..] => {
                            node.record = Some((*first).clone());
                            node.error = Some("more than one SPF record".into());
                            self.warnings.push(format!("SPF: {} publishes more than one SPF record", node.domain));
                        }
                    }
                }
            }
        }
        next_level
    }

    /// Other records at the apex are not evaluated, but what they name is still evidence.
    fn note_other_records(&mut self, all_records: &[String]) {
        for extra in all_records.iter().skip(1) {
            let plan = plan(&parse_spf(extra));
            for target in plan.includes.into_iter().chain(plan.redirect) {
                if !has_macro(&target) && !self.discovered.contains(&target) {
                    self.discovered.push(target);
                }
            }
        }
    }

    fn finish(mut self, domain: &str, all_records: Vec<String>) -> SpfOutcome {
        let status = if all_records.len() > 1 {
            SpfStatus::Multiple
        } else if self.looped {
            SpfStatus::Loop
        } else if self.lookups > MAX_LOOKUPS {
            SpfStatus::TooManyLookups
        } else if self.temp_error {
            SpfStatus::TempError
        } else {
            SpfStatus::Valid
        };
        if all_records.len() > 1 {
            self.warnings.push(format!("SPF: {domain} publishes {} SPF records (permerror)", all_records.len()));
        }
        let result = SpfResult {
            status,
            record: all_records.first().cloned(),
            all_records,
            includes: self.discovered,
            lookup_count: self.lookups,
            tree: Some(build_tree(&self.nodes, 0)),
        };
        SpfOutcome { result, raw: self.raw, warnings: self.warnings }
    }
}

fn empty_result(status: SpfStatus) -> SpfResult {
    SpfResult { status, record: None, all_records: Vec::new(), includes: Vec::new(), lookup_count: 0, tree: None }
}

fn build_tree(nodes: &[Node], index: usize) -> SpfNode {
    let node = &nodes[index];
    SpfNode {
        domain: node.domain.clone(),
        record: node.record.clone(),
        includes: node.includes.iter().map(|&c| build_tree(nodes, c)).collect(),
        redirect: node.redirect.map(|r| Box::new(build_tree(nodes, r))),
        error: node.error.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_version_tag_is_case_insensitive() {
        assert!(is_spf_record("V=SPF1 -all"));
        assert!(is_spf_record("v=spf1"));
    }

    #[test]
    fn a_longer_version_is_not_spf() {
        assert!(!is_spf_record("v=spf10 -all"));
        assert!(!is_spf_record("v=spf2.0/pra"));
        assert!(!is_spf_record("spf1 -all"));
    }

    #[test]
    fn leading_spaces_are_tolerated() {
        assert!(is_spf_record("  v=spf1 include:x.com -all"));
    }

    #[test]
    fn mechanisms_parse_with_their_qualifiers() {
        let terms = parse_spf("v=spf1 +a -mx ~ptr ?exists:%{i}.x.com ip4:192.0.2.0/24 ip6:2001:db8::/32 -all");
        assert_eq!(
            terms,
            vec![
                SpfTerm::A(Qualifier::Pass, None),
                SpfTerm::Mx(Qualifier::Fail, None),
                SpfTerm::Ptr(Qualifier::SoftFail, None),
                SpfTerm::Exists(Qualifier::Neutral, "%{i}.x.com".into()),
                SpfTerm::Ip4(Qualifier::Pass, "192.0.2.0/24".into()),
                SpfTerm::Ip6(Qualifier::Pass, "2001:db8::/32".into()),
                SpfTerm::All(Qualifier::Fail),
            ]
        );
    }

    #[test]
    fn domain_specs_are_normalised_and_cidrs_dropped() {
        let terms =
            parse_spf("v=spf1 INCLUDE:Spf.Protection.Outlook.COM. a:Mail.Example.com/24 mx/24 mx:mx.example.com//64");
        assert_eq!(
            terms,
            vec![
                SpfTerm::Include(Qualifier::Pass, "spf.protection.outlook.com".into()),
                SpfTerm::A(Qualifier::Pass, Some("mail.example.com".into())),
                SpfTerm::Mx(Qualifier::Pass, None),
                SpfTerm::Mx(Qualifier::Pass, Some("mx.example.com".into())),
            ]
        );
    }

    #[test]
    fn modifiers_parse_by_name() {
        let terms = parse_spf("v=spf1 Redirect=_spf.Example.com exp=explain.%{d} foo=bar");
        assert_eq!(
            terms,
            vec![
                SpfTerm::Redirect("_spf.example.com".into()),
                SpfTerm::Exp("explain.%{d}".into()),
                SpfTerm::Modifier("foo".into(), "bar".into()),
            ]
        );
    }

    #[test]
    fn malformed_terms_are_kept_as_invalid() {
        let terms = parse_spf("v=spf1 include: allow:x.com all:x redirect= =x");
        assert!(terms.iter().all(|t| matches!(t, SpfTerm::Invalid(_))), "{terms:?}");
        assert_eq!(terms.len(), 5);
    }

    #[test]
    fn lookups_count_include_a_mx_ptr_exists_and_redirect() {
        let p = plan(&parse_spf("v=spf1 include:a.com a mx ptr exists:x.com ip4:1.2.3.4 redirect=b.com"));
        assert_eq!(p.lookups, 6);
        assert_eq!(p.includes, vec!["a.com".to_string()]);
        assert_eq!(p.redirect.as_deref(), Some("b.com"));
    }

    #[test]
    fn a_redirect_is_ignored_when_the_record_has_all() {
        let p = plan(&parse_spf("v=spf1 include:a.com redirect=b.com -all"));
        assert_eq!(p.redirect, None);
        assert_eq!(p.lookups, 1);
    }
}
