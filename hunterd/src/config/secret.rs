//! Values that must never reach a log line or `check-config` output.

use serde::{Deserialize, Deserializer, Serialize, Serializer};

const REDACTED: &str = "[redacted]";

/// A secret string: Debug, Display and Serialize all print a marker instead of the value.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }
    /// The real value, for the one place that needs it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(REDACTED)
    }
}

impl Serialize for Secret {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(REDACTED)
    }
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(Secret(String::deserialize(d)?))
    }
}

/// A PostgreSQL URL whose password is hidden wherever it is shown.
#[derive(Clone, PartialEq, Eq)]
pub struct DatabaseUrl(Secret);

impl DatabaseUrl {
    pub fn new(url: impl Into<String>) -> Self {
        DatabaseUrl(Secret::new(url))
    }
    pub fn expose(&self) -> &str {
        self.0.expose()
    }
    pub fn looks_like_postgres(&self) -> bool {
        let url = self.expose();
        url.starts_with("postgres://") || url.starts_with("postgresql://")
    }
    /// The URL with any password replaced, safe for logs and status screens.
    pub fn redacted(&self) -> String {
        redact_url_password(self.expose())
    }
}

/// `postgres://user:pw@host/db` → `postgres://user:[redacted]@host/db`; also hides `password=` parameters.
pub fn redact_url_password(url: &str) -> String {
    let mut out = url.to_string();
    if let Some(scheme_end) = out.find("://") {
        let rest_start = scheme_end + 3;
        let authority_end = out[rest_start..].find(['/', '?']).map_or(out.len(), |i| rest_start + i);
        if let Some(at) = out[rest_start..authority_end].rfind('@') {
            let userinfo = &out[rest_start..rest_start + at];
            if let Some(colon) = userinfo.find(':') {
                let pw_start = rest_start + colon + 1;
                out.replace_range(pw_start..rest_start + at, REDACTED);
            }
        }
    }
    if let Some(q) = out.find('?') {
        let (base, query) = out.split_at(q + 1);
        let query: Vec<String> = query
            .split('&')
            .map(|kv| match kv.split_once('=') {
                Some((k, _)) if k.eq_ignore_ascii_case("password") => format!("{k}={REDACTED}"),
                _ => kv.to_string(),
            })
            .collect();
        out = format!("{base}{}", query.join("&"));
    }
    out
}

/// [`redact_url_password`] for every URL inside a longer text, such as a parse error that quotes the
/// offending line of a config file.
pub fn redact_urls_in(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(scheme) = rest.find("://") {
        // The URL starts after the last separator before `://` and ends at the next one.
        let is_separator = |c: char| c.is_whitespace() || matches!(c, '"' | '\'' | '`' | '<' | '>' | '(' | ')' | '=');
        let start = rest[..scheme].rfind(is_separator).map_or(0, |i| i + 1);
        let end = rest[scheme..].find(is_separator).map_or(rest.len(), |i| scheme + i);
        out.push_str(&rest[..start]);
        out.push_str(&redact_url_password(&rest[start..end]));
        rest = &rest[end..];
    }
    out.push_str(rest);
    out
}

impl std::fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.redacted())
    }
}

impl Serialize for DatabaseUrl {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.redacted())
    }
}

impl<'de> Deserialize<'de> for DatabaseUrl {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(DatabaseUrl::new(String::deserialize(d)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_password_in_the_userinfo_is_hidden() {
        assert_eq!(
            redact_url_password("postgres://hunter:s3cret@db.example:5432/hunter"),
            "postgres://hunter:[redacted]@db.example:5432/hunter"
        );
    }

    #[test]
    fn a_password_query_parameter_is_hidden() {
        assert_eq!(
            redact_url_password("postgres://db/hunter?user=h&password=s3cret&sslmode=require"),
            "postgres://db/hunter?user=h&password=[redacted]&sslmode=require"
        );
    }

    #[test]
    fn a_url_without_password_is_unchanged() {
        assert_eq!(redact_url_password("postgres://postgres@127.0.0.1/x"), "postgres://postgres@127.0.0.1/x");
    }

    #[test]
    fn debug_output_of_a_secret_never_shows_it() {
        assert_eq!(format!("{:?}", Secret::new("hunter2")), "[redacted]");
    }

    #[test]
    fn passwords_in_urls_quoted_inside_a_longer_text_are_redacted() {
        let text = "TOML parse error at line 2\n  |\n2 | url = \"postgres://hunter:s3cret@db/hunter\n  | ^";
        let redacted = super::redact_urls_in(text);
        assert!(!redacted.contains("s3cret"), "{redacted}");
        assert!(redacted.contains("postgres://hunter:[redacted]@db/hunter"), "{redacted}");
        assert!(redacted.starts_with("TOML parse error at line 2"), "{redacted}");
    }
}
