//! DKIM key records (RFC 6376) at `<selector>._domainkey.<domain>`.

/// Selectors tried when the configuration lists none: the reference's list plus the common ones of
/// Microsoft 365 (selector1/2), Google (google), Mailchimp/Mandrill (k1), and generic hosters.
pub const DEFAULT_SELECTORS: &[&str] =
    &["default", "google", "selector1", "selector2", "k1", "s1", "s2", "dkim", "mail"];

/// A TXT counts as a DKIM key when it says `v=DKIM1`, `k=rsa`, or carries a `p=` tag (the key, empty
/// when revoked). Tag names and these values are matched case-insensitively.
pub fn is_dkim_record(text: &str) -> bool {
    text.split(';').filter_map(|part| part.split_once('=')).any(|(name, value)| {
        let (name, value) = (name.trim(), value.trim());
        name.eq_ignore_ascii_case("p")
            || (name.eq_ignore_ascii_case("v") && value.eq_ignore_ascii_case("DKIM1"))
            || (name.eq_ignore_ascii_case("k") && value.eq_ignore_ascii_case("rsa"))
    })
}

#[cfg(test)]
mod tests {
    use super::is_dkim_record;

    #[test]
    fn a_key_record_is_dkim() {
        assert!(is_dkim_record("v=DKIM1; k=rsa; p=MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQC"));
    }

    #[test]
    fn a_bare_p_tag_is_enough() {
        assert!(is_dkim_record("p=MIGfMA0GCSqGSIb3DQEB"));
    }

    #[test]
    fn k_rsa_alone_is_enough() {
        assert!(is_dkim_record("k=rsa; t=y"));
    }

    #[test]
    fn other_txt_is_not_dkim() {
        assert!(!is_dkim_record("v=spf1 -all"));
        assert!(!is_dkim_record("google-site-verification=abc"));
        assert!(!is_dkim_record("k=ed25519"));
    }
}
