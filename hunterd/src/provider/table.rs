//! The provider table: mailbox providers, gateways, backend hints and local hosters, as data.
//! The embedded default is `hunterd/data/providers.toml`; `rules.providers_file` replaces it.

use serde::Deserialize;
use std::collections::HashSet;
use std::path::Path;
use std::sync::LazyLock;

/// Built-in name for an MX that matches no provider and no gateway (self-hosted or unlisted hoster).
pub const LOCAL: &str = "Local";
/// Built-in name for "no usable MX", or a gateway whose backend could not be inferred.
pub const UNKNOWN: &str = "Unknown";

const EMBEDDED: &str = include_str!("../../data/providers.toml");
const EMBEDDED_ORIGIN: &str = "embedded providers table";

static EMBEDDED_TABLE: LazyLock<ProviderTable> =
    LazyLock::new(|| match ProviderTable::from_toml(EMBEDDED, EMBEDDED_ORIGIN) {
        Ok(table) => table,
        // The embedded file is part of the build and a unit test parses it: this cannot happen in a release.
        Err(e) => panic!("{e}"),
    });

/// A mailbox provider matched from the MX root.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProviderEntry {
    pub name: String,
    #[serde(default)]
    pub description: String,
    pub roots: Vec<String>,
}

/// A secure e-mail gateway matched from the MX root.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GatewayEntry {
    pub name: String,
    pub roots: Vec<String>,
}

/// Which record a backend hint looks at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HintKind {
    /// The domain's own SPF policy includes (or redirects to) `pattern` or a subdomain of it.
    SpfInclude,
    /// A DKIM selector is a CNAME to `pattern` or a subdomain of it.
    DkimCname,
    /// A DKIM key was found under the selector named `pattern`.
    DkimSelector,
    /// `autodiscover.<domain>` is a CNAME to `pattern` or a subdomain of it.
    Autodiscover,
    /// An apex TXT record starts with `pattern` (case-insensitive).
    ApexTxt,
}

/// One record pattern that points at a backend provider behind a gateway.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BackendHint {
    pub provider: String,
    pub kind: HintKind,
    pub pattern: String,
    /// 2 = decisive alone, 1 = corroborates, 0 = recorded only (see `backend_min_weight`).
    pub weight: u32,
}

/// A local hosting company recognised from the MX root when the provider is `Local`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LocalProviderEntry {
    pub key: String,
    pub name: String,
}

/// The validated detection table. Lists keep file order: first match wins.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProviderTable {
    pub two_part_suffixes: Vec<String>,
    pub backend_min_weight: u32,
    #[serde(rename = "provider")]
    pub providers: Vec<ProviderEntry>,
    #[serde(rename = "gateway", default)]
    pub gateways: Vec<GatewayEntry>,
    #[serde(rename = "backend_hint", default)]
    pub backend_hints: Vec<BackendHint>,
    #[serde(rename = "local_provider", default)]
    pub local_providers: Vec<LocalProviderEntry>,
}

/// A providers file that cannot be used, with every problem found.
#[derive(Debug, thiserror::Error)]
pub enum ProviderTableError {
    #[error("cannot read providers file {path}: {source}")]
    Unreadable { path: String, source: std::io::Error },
    #[error("{origin}: {message}")]
    Syntax { origin: String, message: String },
    #[error("{origin}: {} problem(s):\n  {}", problems.len(), problems.join("\n  "))]
    Invalid { origin: String, problems: Vec<String> },
}

impl ProviderTable {
    /// The table compiled into hunterd.
    pub fn embedded() -> &'static ProviderTable {
        &EMBEDDED_TABLE
    }

    /// The table at `path`, or the embedded one when no path is configured.
    pub fn load(path: Option<&Path>) -> Result<ProviderTable, ProviderTableError> {
        let Some(path) = path else { return Ok(Self::embedded().clone()) };
        let origin = path.display().to_string();
        let text = std::fs::read_to_string(path)
            .map_err(|source| ProviderTableError::Unreadable { path: origin.clone(), source })?;
        Self::from_toml(&text, &origin)
    }

    /// Parses and validates a table; `origin` names the file in errors.
    pub fn from_toml(text: &str, origin: &str) -> Result<ProviderTable, ProviderTableError> {
        let mut table: ProviderTable = toml::from_str(text)
            .map_err(|e| ProviderTableError::Syntax { origin: origin.to_string(), message: e.to_string() })?;
        let problems = table.problems();
        if !problems.is_empty() {
            return Err(ProviderTableError::Invalid { origin: origin.to_string(), problems });
        }
        table.normalise();
        Ok(table)
    }

    /// Matching is on lower-case names; the file may be written in any case.
    fn normalise(&mut self) {
        let lower = |v: &mut Vec<String>| v.iter_mut().for_each(|s| *s = s.trim().to_ascii_lowercase());
        lower(&mut self.two_part_suffixes);
        self.providers.iter_mut().for_each(|p| lower(&mut p.roots));
        self.gateways.iter_mut().for_each(|g| lower(&mut g.roots));
        for hint in &mut self.backend_hints {
            if hint.kind != HintKind::ApexTxt {
                hint.pattern = hint.pattern.trim().trim_end_matches('.').to_ascii_lowercase();
            }
        }
        for lp in &mut self.local_providers {
            lp.key = lp.key.trim().to_ascii_lowercase();
        }
    }

    fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        for (i, s) in self.two_part_suffixes.iter().enumerate() {
            if s.trim().split('.').count() != 2 || s.split('.').any(|l| l.trim().is_empty()) {
                problems.push(format!("two_part_suffixes[{i}]: `{s}` is not a two-label suffix such as com.tr"));
            }
        }
        let mut names = HashSet::new();
        for (i, p) in self.providers.iter().enumerate() {
            let at = format!("provider[{i}] ({})", p.name);
            if p.name.trim().is_empty() {
                problems.push(format!("provider[{i}]: name is empty"));
            } else if p.name == LOCAL || p.name == UNKNOWN {
                problems.push(format!("{at}: `{}` is built in and cannot be listed", p.name));
            } else if !names.insert(p.name.as_str()) {
                problems.push(format!("{at}: provider listed twice"));
            }
            root_problems(&at, &p.roots, &mut problems);
        }
        let mut gateway_names = HashSet::new();
        for (i, g) in self.gateways.iter().enumerate() {
            let at = format!("gateway[{i}] ({})", g.name);
            if g.name.trim().is_empty() {
                problems.push(format!("gateway[{i}]: name is empty"));
            } else if !gateway_names.insert(g.name.as_str()) {
                problems.push(format!("{at}: gateway listed twice"));
            }
            root_problems(&at, &g.roots, &mut problems);
        }
        for (i, h) in self.backend_hints.iter().enumerate() {
            let at = format!("backend_hint[{i}]");
            if !names.contains(h.provider.as_str()) {
                problems.push(format!("{at}: provider `{}` is not one of the [[provider]] names", h.provider));
            }
            if h.pattern.trim().is_empty() {
                problems.push(format!("{at}: pattern is empty"));
            }
            if h.weight > 100 {
                problems.push(format!("{at}: weight {} is out of range (0-100)", h.weight));
            }
        }
        if self.backend_min_weight == 0 {
            problems.push("backend_min_weight: must be at least 1, or every gateway would get a backend".into());
        }
        for (i, lp) in self.local_providers.iter().enumerate() {
            if lp.key.trim().is_empty() || lp.name.trim().is_empty() {
                problems.push(format!("local_provider[{i}]: key and name must both be set"));
            }
        }
        problems
    }

    /// The mailbox provider whose roots match `mx_root` (§5.2), or `None` (the caller decides
    /// between a gateway and `Local`).
    pub fn match_provider(&self, mx_root: &str) -> Option<&ProviderEntry> {
        let x = mx_root.trim().to_ascii_lowercase();
        self.providers.iter().find(|p| p.roots.iter().any(|r| root_matches(&x, r)))
    }

    /// The gateway whose roots match `mx_root`, with the same matching as providers.
    pub fn match_gateway(&self, mx_root: &str) -> Option<&GatewayEntry> {
        let x = mx_root.trim().to_ascii_lowercase();
        self.gateways.iter().find(|g| g.roots.iter().any(|r| root_matches(&x, r)))
    }

    /// The local hosting company behind `mx_root`: the root equals a key or is a subdomain of it.
    pub fn match_local_provider(&self, mx_root: &str) -> Option<&LocalProviderEntry> {
        let x = mx_root.trim().trim_end_matches('.').to_ascii_lowercase();
        self.local_providers.iter().find(|lp| is_same_or_subdomain(&x, &lp.key))
    }

    /// The registrable part of an MX host name (§3.7), case preserved; `None` for an empty name.
    pub fn mx_root(&self, host: &str) -> Option<String> {
        let host = host.trim().trim_end_matches('.');
        if host.is_empty() {
            return None;
        }
        let labels: Vec<&str> = host.split('.').collect();
        if labels.len() < 2 {
            return Some(host.to_string());
        }
        let last_two = labels[labels.len() - 2..].join(".").to_ascii_lowercase();
        let keep = if self.two_part_suffixes.contains(&last_two) { 3 } else { 2 };
        Some(labels[labels.len().saturating_sub(keep)..].join("."))
    }
}

fn root_problems(at: &str, roots: &[String], problems: &mut Vec<String>) {
    if roots.is_empty() {
        problems.push(format!("{at}: roots is empty, so it can never match"));
    }
    for (j, r) in roots.iter().enumerate() {
        let r = r.trim();
        if r.is_empty() || !r.contains('.') || r.starts_with('.') || r.ends_with('.') {
            problems.push(format!("{at}.roots[{j}]: `{r}` is not a domain name such as example.com"));
        }
    }
}

/// The reference's root test (§5.2): equal, a subdomain, `.root` anywhere, or `root.` at the start.
fn root_matches(x: &str, root: &str) -> bool {
    x == root
        || x.strip_suffix(root).is_some_and(|head| head.ends_with('.'))
        || x.contains(&format!(".{root}"))
        || x.starts_with(&format!("{root}."))
}

/// `name` is `parent` or ends with `.parent` (a label boundary, never a bare substring).
pub(crate) fn is_same_or_subdomain(name: &str, parent: &str) -> bool {
    name == parent || name.strip_suffix(parent).is_some_and(|head| head.ends_with('.'))
}
