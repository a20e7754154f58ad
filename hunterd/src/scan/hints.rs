//! Microsoft 365 and Google Workspace tenant hints that MX alone does not show (a gateway in front,
//! mail not yet migrated…).

/// `MS=ms12345678`: Microsoft 365 domain verification.
pub fn is_ms_verification(text: &str) -> bool {
    let t = text.trim().as_bytes();
    t.len() > 3 && t[..3].eq_ignore_ascii_case(b"ms=")
}

/// `google-site-verification=…`: Google Search Console / Workspace domain verification.
pub fn is_google_site_verification(text: &str) -> bool {
    const PREFIX: &[u8] = b"google-site-verification=";
    let t = text.trim().as_bytes();
    t.len() > PREFIX.len() && t[..PREFIX.len()].eq_ignore_ascii_case(PREFIX)
}

/// A DKIM selector CNAME into a Microsoft 365 tenant (`*.onmicrosoft.com`).
pub fn is_onmicrosoft(target: &str) -> bool {
    target == "onmicrosoft.com" || target.ends_with(".onmicrosoft.com")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ms_verification_is_recognised() {
        assert!(is_ms_verification("MS=ms12345678"));
        assert!(is_ms_verification("ms=ms12345678"));
        assert!(!is_ms_verification("MS="));
        assert!(!is_ms_verification("v=spf1 -all"));
    }

    #[test]
    fn google_site_verification_is_recognised() {
        assert!(is_google_site_verification("google-site-verification=rXOxyZounnZasA8Z7oaD3c14JdjS9aKSWvsR1EbUSIQ"));
        assert!(!is_google_site_verification("google-site-verification="));
        assert!(!is_google_site_verification("facebook-domain-verification=abc"));
    }

    #[test]
    fn onmicrosoft_targets_are_recognised() {
        assert!(is_onmicrosoft("selector1-contoso-com._domainkey.contoso.onmicrosoft.com"));
        assert!(!is_onmicrosoft("selector1._domainkey.notonmicrosoft.com"));
    }
}
