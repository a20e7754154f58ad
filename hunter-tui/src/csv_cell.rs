//! Spreadsheet formula injection: a CSV cell that starts with `=`, `+`, `-`, `@`, a tab or a carriage
//! return is run as a formula when the file is opened in Excel or LibreOffice (`=HYPERLINK(…)`,
//! `+cmd|' /C calc'!A0`). Exports are opened by salespeople, and company names come from imported
//! files, so such cells get a leading `'` as OWASP recommends: the spreadsheet shows the text as typed.
//! Plain numbers (`-5`, `+3.5`) are left alone; they cannot run anything. JSON exports stay exact.

/// The cell as it is safe to write into a CSV file.
pub fn neutralise(cell: String) -> String {
    if is_dangerous(&cell) { format!("'{cell}") } else { cell }
}

fn is_dangerous(cell: &str) -> bool {
    let Some(first) = cell.chars().next() else { return false };
    matches!(first, '=' | '+' | '-' | '@' | '\t' | '\r') && !is_plain_number(cell)
}

/// `-5`, `+3.25`: a sign, digits, at most one decimal point.
fn is_plain_number(cell: &str) -> bool {
    let digits = cell.strip_prefix(['-', '+']).unwrap_or(cell);
    !digits.is_empty()
        && digits.chars().any(|c| c.is_ascii_digit())
        && digits.chars().all(|c| c.is_ascii_digit() || c == '.')
        && digits.matches('.').count() <= 1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formulas_and_dde_payloads_are_prefixed_with_a_quote() {
        for cell in [
            "=HYPERLINK(\"http://x\",\"y\")",
            "+cmd|' /C calc'!A0",
            "@SUM(1)",
            "-2+3+cmd|' /C calc'!A0",
            "\t=1+1",
            "\r=1",
        ] {
            assert_eq!(neutralise(cell.to_string()), format!("'{cell}"), "{cell:?}");
        }
    }

    #[test]
    fn ordinary_text_and_plain_numbers_are_untouched() {
        for cell in ["Contoso Ltd", "contoso.com", "-5", "+3.5", "42", "", "a=b", "Müller-Lüdenscheid"] {
            assert_eq!(neutralise(cell.to_string()), cell, "{cell:?}");
        }
    }

    #[test]
    fn a_lone_sign_or_dot_is_not_a_number() {
        assert_eq!(neutralise("-".into()), "'-");
        assert_eq!(neutralise("-.".into()), "'-.");
        assert_eq!(neutralise("-1.2.3".into()), "'-1.2.3");
    }
}
