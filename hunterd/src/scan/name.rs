//! The scanner's last guard on the names it is given. Intake validates user input properly (public
//! suffixes, free-mail domains…); this only refuses what cannot be a mail domain at all.

/// Lower-case ASCII (punycode) form of `input`, without a trailing dot; `None` if it is not a
/// plausible domain name (single label, IP literal, bad label, too long).
pub fn normalize_domain(input: &str) -> Option<String> {
    let trimmed = input.trim();
    let trimmed = trimmed.strip_suffix('.').unwrap_or(trimmed);
    let ascii = if trimmed.is_ascii() {
        trimmed.to_ascii_lowercase()
    } else {
        // The scanner is meant to receive punycode; convert rather than fail on a stray U-label.
        idna::domain_to_ascii(trimmed).ok()?
    };
    if ascii.is_empty() || ascii.len() > 253 {
        return None;
    }
    let labels: Vec<&str> = ascii.split('.').collect();
    if labels.len() < 2 || !labels.iter().all(|l| is_valid_label(l)) {
        return None;
    }
    // "1.2.3.4" is an address, not a domain: no top-level domain is numeric.
    if labels.last().is_some_and(|tld| tld.bytes().all(|b| b.is_ascii_digit())) {
        return None;
    }
    Some(ascii)
}

fn is_valid_label(label: &str) -> bool {
    (1..=63).contains(&label.len())
        && label.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        && !label.starts_with('-')
        && !label.ends_with('-')
}

#[cfg(test)]
mod tests {
    use super::normalize_domain;

    #[test]
    fn case_and_a_trailing_dot_are_normalised() {
        assert_eq!(normalize_domain("Contoso.COM.").as_deref(), Some("contoso.com"));
    }

    #[test]
    fn punycode_is_accepted_as_is() {
        assert_eq!(normalize_domain("xn--mnchen-3ya.de").as_deref(), Some("xn--mnchen-3ya.de"));
    }

    #[test]
    fn a_unicode_name_is_converted_to_punycode() {
        assert_eq!(normalize_domain("münchen.de").as_deref(), Some("xn--mnchen-3ya.de"));
    }

    #[test]
    fn garbage_is_refused() {
        for bad in ["", ".", "localhost", "1.2.3.4", "a..b", "-a.com", "a-.com", "a b.com", "a_b.com", "a.com/x"] {
            assert_eq!(normalize_domain(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn overlong_labels_and_names_are_refused() {
        assert_eq!(normalize_domain(&format!("{}.com", "a".repeat(64))), None);
        let long = format!("{}.com", vec!["a".repeat(60); 5].join("."));
        assert_eq!(normalize_domain(&long), None);
    }
}
