//! Which columns of an imported file hold what, and what each row yields.
//!
//! The first row is a header unless one of its cells already looks like an address (so a bare list of
//! domains needs no header). Header names are matched in English and Turkish (engine.md §2.7, with the
//! reference's pitfalls avoided: "Domain Name" is a domain column, "E-posta Adresi" an e-mail column).
//! When the names say nothing, the first rows' contents decide, as in the reference.
//!
//! A row's domain comes from the first column that yields one, in the reference's precedence
//! website > e-mail > domain; a preferred cell that is empty or invalid falls back to the next, and a
//! row is rejected only when none yields a domain (the reason names every column tried).

use serde_json::{Map, Value};

use super::delimited::truncate;
use super::domain::{DomainRules, domain_from_email, domain_from_website, normalize_domain};

/// Rows looked at before deciding the layout.
pub const SAMPLE_ROWS: usize = 100;
const COMPANY_MAX: usize = 300;
const RAW_CELL_MAX: usize = 1000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    Website,
    Email,
    Domain,
    Company,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Website => "website",
            Role::Email => "e-mail",
            Role::Domain => "domain",
            Role::Company => "company",
        }
    }
}

/// A column the import uses, for the report ("`Web Sitesi` as website").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ColumnUse {
    /// 0-based.
    pub index: usize,
    pub name: String,
    pub role: Role,
}

/// One row of a file: its line (CSV) or sheet row (spreadsheet), 1-based, and its cells.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    pub line: u64,
    pub cells: Vec<String>,
}

impl Row {
    pub fn is_blank(&self) -> bool {
        self.cells.iter().all(|c| c.trim().is_empty())
    }
}

/// What a row became.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RowOutcome {
    Accepted { domain: String, company: Option<String> },
    Rejected { reason: String },
}

/// Why no layout could be found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LayoutError {
    NoDataRows,
    NoAddressColumn { columns: Vec<String> },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    /// The header row's line, when the file has one.
    pub header_line: Option<u64>,
    /// Address columns in precedence order, then the company column.
    pub columns: Vec<ColumnUse>,
    /// Per column: its header name (made unique) or `column N`.
    names: Vec<String>,
    addresses: Vec<usize>,
    company: Option<usize>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum HeaderClass {
    Role(Role),
    /// `name`, `ad`, `title`: a company column only when no better one exists.
    WeakCompany,
}

/// Lower-case, Turkish letters folded to ASCII, only letters and digits: `E-posta Adresi` → `epostaadresi`.
fn fold(name: &str) -> String {
    name.chars()
        .flat_map(char::to_lowercase)
        .filter_map(|c| match c {
            'ı' | 'î' => Some('i'),
            'ş' => Some('s'),
            'ğ' => Some('g'),
            'ü' | 'û' => Some('u'),
            'ö' => Some('o'),
            'ç' => Some('c'),
            'â' => Some('a'),
            c if c.is_ascii_alphanumeric() => Some(c),
            _ => None,
        })
        .collect()
}

fn classify_header(name: &str) -> Option<HeaderClass> {
    let k = fold(name);
    let has = |words: &[&str]| words.iter().any(|w| k.contains(w));
    if k.is_empty() {
        None
    } else if has(&["domain", "alanadi"]) {
        Some(HeaderClass::Role(Role::Domain))
    } else if has(&["email", "mail", "eposta"]) {
        Some(HeaderClass::Role(Role::Email))
    } else if has(&["website", "web", "site", "url", "internet", "homepage", "www"]) {
        Some(HeaderClass::Role(Role::Website))
    } else if has(&[
        "company",
        "firma",
        "sirket",
        "unvan",
        "organization",
        "organisation",
        "organizasyon",
        "kurum",
        "kurulus",
        "account",
        "musteri",
        "isletme",
        "business",
    ]) {
        Some(HeaderClass::Role(Role::Company))
    } else if has(&["first", "last", "contact", "kisi", "soyad", "full", "user"]) {
        None
    } else if has(&["name", "title", "isim"]) || matches!(k.as_str(), "ad" | "adi") {
        Some(HeaderClass::WeakCompany)
    } else {
        None
    }
}

/// Whether a cell reads like an address someone meant (even a broken one), so it is data, not a header.
fn looks_like_address(cell: &str) -> bool {
    let c = cell.trim();
    if c.contains('@') || c.contains("://") || c.get(..4).is_some_and(|p| p.eq_ignore_ascii_case("www.")) {
        return true;
    }
    if c.chars().any(char::is_whitespace) {
        return false;
    }
    c.rsplit_once('.').is_some_and(|(head, tld)| {
        !head.is_empty()
            && tld.chars().count() >= 2
            && tld.chars().all(char::is_alphanumeric)
            && tld.chars().any(char::is_alphabetic)
    })
}

/// The kind of address a cell holds, syntax only (a free-mail address still marks an e-mail column).
fn address_kind(cell: &str) -> Option<Role> {
    let c = cell.trim();
    if c.contains('@') && !c.contains("://") {
        domain_from_email(c).is_ok().then_some(Role::Email)
    } else if c.contains("://") || c.contains('/') || c.get(..4).is_some_and(|p| p.eq_ignore_ascii_case("www.")) {
        domain_from_website(c).is_ok().then_some(Role::Website)
    } else {
        normalize_domain(c).is_ok().then_some(Role::Domain)
    }
}

/// A column's role judged by its contents: an address kind when at least half its non-empty cells are
/// addresses (the most frequent kind wins), else company when most cells are non-numeric text.
fn sniff_column(rows: &[&Row], index: usize) -> (Option<Role>, bool) {
    let (mut non_empty, mut text) = (0usize, 0usize);
    let mut kinds = [0usize; 3]; // website, e-mail, domain
    for row in rows {
        let Some(cell) = row.cells.get(index).map(|c| c.trim()).filter(|c| !c.is_empty()) else { continue };
        non_empty += 1;
        match address_kind(cell) {
            Some(Role::Website) => kinds[0] += 1,
            Some(Role::Email) => kinds[1] += 1,
            Some(_) => kinds[2] += 1,
            None if !looks_like_address(cell) && !cell.chars().all(|c| c.is_ascii_digit() || " +-.()".contains(c)) => {
                text += 1
            }
            None => {}
        }
    }
    let hits: usize = kinds.iter().sum();
    let role = if hits > 0 && hits * 2 >= non_empty {
        let best = kinds.iter().copied().max().unwrap_or(0);
        [Role::Website, Role::Email, Role::Domain].into_iter().zip(kinds).find(|&(_, n)| n == best).map(|(r, _)| r)
    } else {
        None
    };
    (role, non_empty > 0 && text * 2 > non_empty)
}

impl Layout {
    /// Decides the layout from the first rows of a file (blank rows already left out).
    pub fn detect(rows: &[&Row]) -> Result<Layout, LayoutError> {
        let Some(first) = rows.first() else { return Err(LayoutError::NoDataRows) };
        let has_header = !first.cells.iter().any(|c| looks_like_address(c));
        let data: &[&Row] = if has_header { &rows[1..] } else { rows };
        if data.is_empty() {
            return Err(LayoutError::NoDataRows);
        }
        let width = rows.iter().map(|r| r.cells.len()).max().unwrap_or(0);
        let names = column_names(if has_header { &first.cells } else { &[] }, width);

        let mut roles: Vec<Option<Role>> = vec![None; width];
        if has_header {
            let classes: Vec<Option<HeaderClass>> =
                (0..width).map(|i| first.cells.get(i).and_then(|name| classify_header(name))).collect();
            for (role, class) in roles.iter_mut().zip(&classes) {
                if let Some(HeaderClass::Role(r)) = class {
                    *role = Some(*r);
                }
            }
            if !roles.contains(&Some(Role::Company))
                && let Some(i) = classes.iter().position(|c| *c == Some(HeaderClass::WeakCompany))
            {
                roles[i] = Some(Role::Company);
            }
        }
        let is_address = |r: &Option<Role>| matches!(r, Some(Role::Website | Role::Email | Role::Domain));
        let mut text_columns = Vec::new();
        let sniffed_addresses = !roles.iter().any(is_address);
        for (i, role) in roles.iter_mut().enumerate() {
            if role.is_some() {
                continue;
            }
            let (kind, mostly_text) = sniff_column(data, i);
            if sniffed_addresses {
                *role = kind;
            }
            if role.is_none() && mostly_text {
                text_columns.push(i);
            }
        }
        if !roles.iter().any(is_address) {
            return Err(LayoutError::NoAddressColumn { columns: names });
        }

        let mut columns = Vec::new();
        let mut addresses = Vec::new();
        for wanted in [Role::Website, Role::Email, Role::Domain] {
            for (i, role) in roles.iter().enumerate() {
                if *role == Some(wanted) {
                    addresses.push(i);
                    columns.push(ColumnUse { index: i, name: names[i].clone(), role: wanted });
                }
            }
        }
        // One company column: the first named one, else the first column of plain text.
        let company = roles.iter().position(|r| *r == Some(Role::Company)).or_else(|| text_columns.first().copied());
        if let Some(i) = company {
            columns.push(ColumnUse { index: i, name: names[i].clone(), role: Role::Company });
        }
        Ok(Layout { header_line: has_header.then_some(first.line), columns, names, addresses, company })
    }

    /// The domain a row yields, or why it yields none; `None` for a blank row.
    pub fn evaluate(&self, cells: &[String], rules: &DomainRules) -> Option<RowOutcome> {
        if cells.iter().all(|c| c.trim().is_empty()) {
            return None;
        }
        let mut problems = Vec::new();
        for &i in &self.addresses {
            let Some(cell) = cells.get(i).map(|c| c.trim()).filter(|c| !c.is_empty()) else { continue };
            match rules.check(cell) {
                Ok(domain) => {
                    let company = self.company.and_then(|i| cells.get(i)).and_then(|c| company_name(c));
                    return Some(RowOutcome::Accepted { domain, company });
                }
                Err(why) => problems.push(format!("{}: {why}", self.names[i])),
            }
        }
        let reason = if problems.is_empty() {
            let tried: Vec<&str> = self.addresses.iter().map(|&i| self.names[i].as_str()).collect();
            format!("no website, e-mail or domain in this row ({} empty)", tried.join(", "))
        } else {
            problems.join("; ")
        };
        Some(RowOutcome::Rejected { reason })
    }

    /// The row as kept in `intake_rows.raw`: cells by column name.
    pub fn raw_json(&self, cells: &[String]) -> Value {
        let mut map = Map::new();
        for (i, cell) in cells.iter().enumerate() {
            let key = self.names.get(i).cloned().unwrap_or_else(|| format!("column {}", i + 1));
            map.insert(key, Value::String(clean(&truncate(cell, RAW_CELL_MAX))));
        }
        Value::Object(map)
    }
}

/// Header names made usable as keys: blanks become `column N`, repeats get ` (2)`.
fn column_names(header: &[String], width: usize) -> Vec<String> {
    let mut names: Vec<String> = Vec::with_capacity(width);
    for i in 0..width {
        let base = header
            .get(i)
            .map(|h| clean(&truncate(h.trim(), 100)))
            .filter(|h| !h.is_empty())
            .unwrap_or_else(|| format!("column {}", i + 1));
        let mut name = base.clone();
        let mut n = 2;
        while names.contains(&name) {
            name = format!("{base} ({n})");
            n += 1;
        }
        names.push(name);
    }
    names
}

/// A company name worth storing: trimmed to one line, not a placeholder such as `nan` (a reference defect).
fn company_name(cell: &str) -> Option<String> {
    let name = cell.trim();
    let lower = name.to_lowercase();
    if name.is_empty() || ["nan", "n/a", "na", "#n/a", "none", "null", "-", "--", "?", "yok"].contains(&lower.as_str())
    {
        return None;
    }
    // Multi-line cells and stray tabs make one line.
    let name = name.split_whitespace().collect::<Vec<_>>().join(" ");
    Some(clean(&truncate(&name, COMPANY_MAX)))
}

/// PostgreSQL text and jsonb cannot hold U+0000.
pub fn clean(s: &str) -> String {
    if s.contains('\0') { s.replace('\0', "") } else { s.to_string() }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(table: &[&[&str]]) -> Vec<Row> {
        table
            .iter()
            .enumerate()
            .map(|(i, cells)| Row { line: i as u64 + 1, cells: cells.iter().map(|c| c.to_string()).collect() })
            .collect()
    }

    fn layout(table: &[&[&str]]) -> Layout {
        let rows = rows(table);
        Layout::detect(&rows.iter().collect::<Vec<_>>()).unwrap()
    }

    fn used(layout: &Layout) -> Vec<(&str, Role)> {
        layout.columns.iter().map(|c| (c.name.as_str(), c.role)).collect()
    }

    #[test]
    fn turkish_headers_are_recognised() {
        let l = layout(&[
            &["Firma Ünvanı", "Web Sitesi", "E-posta Adresi", "Adres"],
            &["Acme", "acme.com", "a@acme.com", "İstanbul"],
        ]);
        assert_eq!(l.header_line, Some(1));
        assert_eq!(
            used(&l),
            [("Web Sitesi", Role::Website), ("E-posta Adresi", Role::Email), ("Firma Ünvanı", Role::Company)]
        );
    }

    #[test]
    fn uppercase_turkish_headers_are_recognised() {
        let l = layout(&[&["ŞİRKET", "ALAN ADI"], &["Acme", "acme.com"]]);
        assert_eq!(used(&l), [("ALAN ADI", Role::Domain), ("ŞİRKET", Role::Company)]);
    }

    #[test]
    fn english_headers_are_recognised() {
        let l = layout(&[&["Company", "Email", "Domain Name"], &["Acme", "a@acme.com", "acme.com"]]);
        assert_eq!(used(&l), [("Email", Role::Email), ("Domain Name", Role::Domain), ("Company", Role::Company)]);
    }

    #[test]
    fn a_contact_name_is_not_taken_for_the_company_when_a_company_column_exists() {
        let l = layout(&[&["Name", "Account", "URL"], &["Jane", "Acme", "acme.com"]]);
        assert_eq!(used(&l), [("URL", Role::Website), ("Account", Role::Company)]);
    }

    #[test]
    fn a_file_whose_first_row_is_a_domain_has_no_header() {
        let l = layout(&[&["acme.com"], &["beta.com.tr"]]);
        assert_eq!(l.header_line, None);
        assert_eq!(used(&l), [("column 1", Role::Domain)]);
    }

    #[test]
    fn unknown_header_names_fall_back_to_the_contents() {
        let l = layout(&[
            &["No", "Unvan Bilgisi X", "Sütun"],
            &["1", "Acme Gıda", "http://acme.com.tr"],
            &["2", "Beta", "www.beta.com"],
        ]);
        assert_eq!(used(&l), [("Sütun", Role::Website), ("Unvan Bilgisi X", Role::Company)]);
        let l = layout(&[&["A", "B"], &["Acme", "info@acme.com"], &["Beta", "sales@beta.com"]]);
        assert_eq!(used(&l), [("B", Role::Email), ("A", Role::Company)]);
    }

    #[test]
    fn a_headerless_file_gets_its_company_from_the_text_column() {
        let l = layout(&[&["Acme Ltd", "acme.com"], &["Beta AŞ", "beta.com.tr"]]);
        assert_eq!(l.header_line, None);
        assert_eq!(used(&l), [("column 2", Role::Domain), ("column 1", Role::Company)]);
    }

    #[test]
    fn a_file_without_any_address_column_is_refused() {
        let rows = rows(&[&["Firma", "Şehir"], &["Acme", "İzmir"]]);
        let err = Layout::detect(&rows.iter().collect::<Vec<_>>()).unwrap_err();
        assert_eq!(err, LayoutError::NoAddressColumn { columns: vec!["Firma".into(), "Şehir".into()] });
    }

    #[test]
    fn a_header_without_rows_is_no_data() {
        let rows = rows(&[&["Domain"]]);
        assert_eq!(Layout::detect(&rows.iter().collect::<Vec<_>>()), Err(LayoutError::NoDataRows));
    }

    #[test]
    fn website_wins_over_email_and_domain() {
        let l = layout(&[&["domain", "email", "website", "company"], &["d.com", "x@e.com", "w.com", "Acme"]]);
        let cells = ["d.com", "x@e.com", "https://w.com/x", "Acme"].map(String::from);
        assert_eq!(
            l.evaluate(&cells, &DomainRules::default()),
            Some(RowOutcome::Accepted { domain: "w.com".into(), company: Some("Acme".into()) })
        );
    }

    #[test]
    fn an_empty_or_invalid_preferred_cell_falls_back_to_the_next() {
        let l = layout(&[&["domain", "email", "website"], &["d.com", "x@e.com", "w.com"]]);
        let rules = DomainRules::default();
        let accepted = |d: &str| Some(RowOutcome::Accepted { domain: d.into(), company: None });
        assert_eq!(l.evaluate(&["d.com", "x@e.com", ""].map(String::from), &rules), accepted("e.com"));
        assert_eq!(l.evaluate(&["d.com", "x@gmail.com", "not a site"].map(String::from), &rules), accepted("d.com"));
    }

    #[test]
    fn a_rejected_row_names_every_column_tried() {
        let l = layout(&[&["E-posta", "Web"], &["a@b.com", "b.com"]]);
        let outcome = l.evaluate(&["ali@gmail.com", "com.tr"].map(String::from), &DomainRules::default());
        assert_eq!(
            outcome,
            Some(RowOutcome::Rejected {
                reason: "Web: `com.tr` is a public suffix, not a company domain; \
                         E-posta: `gmail.com` is a free-mail provider, not a company"
                    .into()
            })
        );
    }

    #[test]
    fn a_row_with_only_a_company_is_rejected_as_having_no_address() {
        let l = layout(&[&["Firma", "Web"], &["Acme", "acme.com"]]);
        let outcome = l.evaluate(&["Beta", ""].map(String::from), &DomainRules::default());
        assert_eq!(
            outcome,
            Some(RowOutcome::Rejected { reason: "no website, e-mail or domain in this row (Web empty)".into() })
        );
    }

    #[test]
    fn blank_rows_yield_nothing() {
        let l = layout(&[&["Web"], &["acme.com"]]);
        assert_eq!(l.evaluate(&[" ".into(), String::new()], &DomainRules::default()), None);
    }

    #[test]
    fn placeholder_company_names_are_not_stored() {
        let l = layout(&[&["Firma", "Web"], &["Acme", "acme.com"]]);
        let outcome = l.evaluate(&["nan", "acme.com"].map(String::from), &DomainRules::default());
        assert_eq!(outcome, Some(RowOutcome::Accepted { domain: "acme.com".into(), company: None }));
    }

    #[test]
    fn raw_rows_are_kept_by_column_name_with_repeats_made_unique() {
        let l = layout(&[&["Web", "Web", ""], &["a.com", "b.com", "x"]]);
        let raw = l.raw_json(&["a.com", "b.com", "x"].map(String::from));
        assert_eq!(raw, serde_json::json!({"Web": "a.com", "Web (2)": "b.com", "column 3": "x"}));
    }
}
