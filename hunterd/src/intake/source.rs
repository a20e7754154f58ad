//! Reading an import file of any supported kind into rows that say what they became, one at a time.
//!
//! The kind is decided by content (zip → xlsx/ods/xlsb, OLE → xls, anything else is delimited text);
//! the file name only tells the zip-based kinds apart. Text is sniffed for its encoding (the whole file
//! when it can be read twice, else its first MiB) and delimiter (its first 64 KiB), then streamed.

use std::fs::File;
use std::io::{BufReader, Cursor, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use super::ImportError;
use super::columns::{ColumnUse, Layout, LayoutError, Row, RowOutcome, SAMPLE_ROWS, clean};
use super::delimited::{Record, Records, sniff_delimiter, truncate};
use super::domain::DomainRules;
use super::encoding::{DecodeReader, Sniffed, read_full, sniff};
use super::sheet::{SheetKind, read_first_sheet};

/// How much of a non-seekable input is looked at to guess its encoding.
const ENCODING_PREFIX: usize = 1024 * 1024;
/// How much decoded text is looked at to guess the delimiter.
const DELIMITER_SAMPLE: usize = 64 * 1024;
/// How much of a rejected row the report shows.
const RAW_TEXT_MAX: usize = 200;

/// What to import.
pub enum ImportSource {
    Path(PathBuf),
    /// Bytes from elsewhere (an upload); `name` is the file name, used only to tell ods/xlsb from xlsx.
    /// Spreadsheets read this way are buffered in memory (they need seeking; they are compressed).
    Reader {
        reader: Box<dyn Read + Send>,
        name: Option<String>,
    },
}

impl ImportSource {
    pub fn path(path: impl Into<PathBuf>) -> ImportSource {
        ImportSource::Path(path.into())
    }

    pub fn reader(reader: impl Read + Send + 'static, name: Option<&str>) -> ImportSource {
        ImportSource::Reader { reader: Box::new(reader), name: name.map(str::to_string) }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileFormat {
    Csv,
    Xlsx,
    Xlsb,
    Xls,
    Ods,
}

impl FileFormat {
    pub fn as_str(self) -> &'static str {
        match self {
            FileFormat::Csv => "csv",
            FileFormat::Xlsx => "xlsx",
            FileFormat::Xlsb => "xlsb",
            FileFormat::Xls => "xls",
            FileFormat::Ods => "ods",
        }
    }
}

/// What was found out about a file while reading it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceInfo {
    pub format: FileFormat,
    /// Text files: the encoding used (`UTF-8`, `windows-1254`…).
    pub encoding: Option<&'static str>,
    /// Text files: the delimiter used.
    pub delimiter: Option<char>,
    pub header_line: Option<u64>,
    /// The columns used; empty when no row could be read at all.
    pub columns: Vec<ColumnUse>,
}

/// One row of the file and what it became.
#[derive(Debug, Clone, PartialEq)]
pub struct ParsedRow {
    /// Physical line (text) or sheet row (spreadsheet), 1-based.
    pub line: u64,
    pub outcome: RowOutcome,
    /// The row as text, shortened, for reports.
    pub text: String,
    /// The row as stored in `intake_rows.raw`.
    pub raw: Value,
}

/// Reads `source` to the end, calling `on_row` for every non-blank row after the header in file order.
/// Fatal problems (unreadable, empty, binary, no address column) are errors; everything else is a row.
pub fn read_rows(
    source: ImportSource,
    rules: &DomainRules,
    on_row: &mut dyn FnMut(ParsedRow) -> Result<(), ImportError>,
) -> Result<SourceInfo, ImportError> {
    match source {
        ImportSource::Path(path) => {
            let mut file = File::open(&path).map_err(|e| ImportError::Open { path: path.clone(), source: e })?;
            let mut magic = [0u8; 8];
            let n = read_full(&mut file, &mut magic)?;
            file.seek(SeekFrom::Start(0))?;
            match sheet_kind(&magic[..n], Some(&path)) {
                Some(kind) => read_sheet(BufReader::new(file), kind, rules, on_row),
                None => {
                    let sniffed = sniff(BufReader::new(&mut file), true)?;
                    file.seek(SeekFrom::Start(0))?;
                    read_text(file, sniffed, rules, on_row)
                }
            }
        }
        ImportSource::Reader { mut reader, name } => {
            let mut prefix = vec![0u8; ENCODING_PREFIX];
            let n = read_full(&mut reader, &mut prefix)?;
            prefix.truncate(n);
            match sheet_kind(&prefix, name.as_deref().map(Path::new)) {
                Some(kind) => {
                    let mut whole = prefix;
                    reader.read_to_end(&mut whole)?;
                    read_sheet(Cursor::new(whole), kind, rules, on_row)
                }
                None => {
                    let sniffed = sniff(&prefix[..], n < ENCODING_PREFIX)?;
                    read_text(Cursor::new(prefix).chain(reader), sniffed, rules, on_row)
                }
            }
        }
    }
}

/// The spreadsheet kind the leading bytes announce, if any.
fn sheet_kind(magic: &[u8], name: Option<&Path>) -> Option<SheetKind> {
    let extension =
        name.and_then(Path::extension).and_then(|e| e.to_str()).map(str::to_ascii_lowercase).unwrap_or_default();
    if magic.starts_with(b"PK\x03\x04") {
        Some(match extension.as_str() {
            "ods" => SheetKind::Ods,
            "xlsb" => SheetKind::Xlsb,
            _ => SheetKind::Xlsx,
        })
    } else if magic.starts_with(&[0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1]) {
        Some(SheetKind::Xls)
    } else {
        None
    }
}

fn read_text(
    input: impl Read,
    sniffed: Sniffed,
    rules: &DomainRules,
    on_row: &mut dyn FnMut(ParsedRow) -> Result<(), ImportError>,
) -> Result<SourceInfo, ImportError> {
    let encoding = match sniffed {
        Sniffed::Empty => return Err(ImportError::Empty),
        Sniffed::Binary => return Err(ImportError::Binary),
        Sniffed::Text(encoding) => encoding,
    };
    let mut decoded = DecodeReader::new(input, encoding);
    let mut sample = vec![0u8; DELIMITER_SAMPLE];
    let n = read_full(&mut decoded, &mut sample)?;
    sample.truncate(n);
    // Only whole lines count: a cut one would skew the counts.
    let whole_lines = if n < DELIMITER_SAMPLE { n } else { sample.iter().rposition(|&b| b == b'\n').unwrap_or(n) };
    let sep_hint = excel_separator_hint(&sample);
    let delimiter = sep_hint.unwrap_or_else(|| sniff_delimiter(&String::from_utf8_lossy(&sample[..whole_lines])));
    let records = Records::new(Cursor::new(sample).chain(decoded), delimiter, encoding.name());

    let joiner = (delimiter as char).to_string();
    let mut mapper = Mapper::new(rules, &joiner, on_row);
    for record in records {
        let record = record?;
        if sep_hint.is_some() && matches!(record, Record::Fields { line: 1, .. }) {
            continue;
        }
        mapper.push(match record {
            Record::Fields { line, fields } => Item::Row(Row { line, cells: fields }),
            Record::Malformed { line, reason, raw } => Item::Malformed { line, reason, raw },
        })?;
    }
    let layout = mapper.finish()?;
    Ok(SourceInfo {
        format: FileFormat::Csv,
        encoding: Some(encoding.name()),
        delimiter: Some(delimiter as char),
        header_line: layout.as_ref().and_then(|l| l.header_line),
        columns: layout.map(|l| l.columns).unwrap_or_default(),
    })
}

/// Excel's `sep=;` first line, which names the delimiter and is not data.
fn excel_separator_hint(text: &[u8]) -> Option<u8> {
    let first = text.split(|&b| b == b'\n').next()?;
    let first = first.strip_suffix(b"\r").unwrap_or(first);
    match first {
        [b's' | b'S', b'e' | b'E', b'p' | b'P', b'=', d] if !d.is_ascii_alphanumeric() && *d != b'"' => Some(*d),
        _ => None,
    }
}

fn read_sheet<RS: Read + Seek>(
    rs: RS,
    kind: SheetKind,
    rules: &DomainRules,
    on_row: &mut dyn FnMut(ParsedRow) -> Result<(), ImportError>,
) -> Result<SourceInfo, ImportError> {
    let mut mapper = Mapper::new(rules, " | ", on_row);
    let sheet = read_first_sheet(rs, kind, &mut |line, cells| mapper.push(Item::Row(Row { line, cells })))?;
    let layout = mapper.finish().map_err(|e| match e {
        ImportError::Empty => ImportError::EmptySheet { sheet },
        other => other,
    })?;
    Ok(SourceInfo {
        format: match kind {
            SheetKind::Xlsx => FileFormat::Xlsx,
            SheetKind::Xlsb => FileFormat::Xlsb,
            SheetKind::Xls => FileFormat::Xls,
            SheetKind::Ods => FileFormat::Ods,
        },
        encoding: None,
        delimiter: None,
        header_line: layout.as_ref().and_then(|l| l.header_line),
        columns: layout.map(|l| l.columns).unwrap_or_default(),
    })
}

enum Item {
    Row(Row),
    Malformed { line: u64, reason: String, raw: String },
}

/// Holds the first rows until the layout is known, then turns every row into a [`ParsedRow`].
struct Mapper<'a> {
    rules: &'a DomainRules,
    joiner: &'a str,
    on_row: &'a mut dyn FnMut(ParsedRow) -> Result<(), ImportError>,
    pending: Vec<Item>,
    pending_rows: usize,
    layout: Option<Layout>,
    settled: bool,
}

impl<'a> Mapper<'a> {
    fn new(
        rules: &'a DomainRules,
        joiner: &'a str,
        on_row: &'a mut dyn FnMut(ParsedRow) -> Result<(), ImportError>,
    ) -> Mapper<'a> {
        Mapper { rules, joiner, on_row, pending: Vec::new(), pending_rows: 0, layout: None, settled: false }
    }

    fn push(&mut self, item: Item) -> Result<(), ImportError> {
        if let Item::Row(row) = &item
            && row.is_blank()
        {
            return Ok(());
        }
        if self.settled {
            return self.emit(item);
        }
        if matches!(item, Item::Row(_)) {
            self.pending_rows += 1;
        }
        self.pending.push(item);
        if self.pending_rows > SAMPLE_ROWS { self.settle() } else { Ok(()) }
    }

    fn settle(&mut self) -> Result<(), ImportError> {
        self.settled = true;
        let pending = std::mem::take(&mut self.pending);
        let rows: Vec<&Row> = pending
            .iter()
            .filter_map(|item| match item {
                Item::Row(row) => Some(row),
                Item::Malformed { .. } => None,
            })
            .collect();
        let has_malformed = rows.len() < pending.len();
        if !rows.is_empty() {
            match Layout::detect(&rows) {
                Ok(layout) => self.layout = Some(layout),
                // A header and nothing else but broken rows: report the broken rows.
                Err(LayoutError::NoDataRows) if has_malformed => {}
                Err(LayoutError::NoDataRows) => return Err(ImportError::NoDataRows),
                Err(LayoutError::NoAddressColumn { columns }) => {
                    return Err(ImportError::NoAddressColumn { columns: columns.join(", ") });
                }
            }
        }
        let header_line = self.layout.as_ref().and_then(|l| l.header_line);
        for item in pending {
            if let Item::Row(row) = &item
                && Some(row.line) == header_line
            {
                continue;
            }
            self.emit(item)?;
        }
        Ok(())
    }

    fn emit(&mut self, item: Item) -> Result<(), ImportError> {
        let parsed = match item {
            Item::Row(row) => {
                let text = clean(&truncate(&row.cells.join(self.joiner), RAW_TEXT_MAX));
                match &self.layout {
                    Some(layout) => {
                        let Some(outcome) = layout.evaluate(&row.cells, self.rules) else { return Ok(()) };
                        ParsedRow { line: row.line, outcome, text, raw: layout.raw_json(&row.cells) }
                    }
                    // Only reachable if rows arrive after the layout was given up on; never drop them.
                    None => ParsedRow {
                        line: row.line,
                        outcome: RowOutcome::Rejected { reason: "the file's columns could not be recognised".into() },
                        raw: json!({ "text": text }),
                        text,
                    },
                }
            }
            Item::Malformed { line, reason, raw } => {
                let text = clean(&raw);
                ParsedRow { line, outcome: RowOutcome::Rejected { reason }, raw: json!({ "text": text }), text }
            }
        };
        (self.on_row)(parsed)
    }

    /// The layout, once everything is emitted; `Empty` when the input held no row at all.
    fn finish(mut self) -> Result<Option<Layout>, ImportError> {
        if !self.settled {
            if self.pending.is_empty() {
                return Err(ImportError::Empty);
            }
            self.settle()?;
        }
        Ok(self.layout)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn read(source: ImportSource) -> Result<(SourceInfo, Vec<ParsedRow>), ImportError> {
        let mut rows = Vec::new();
        let info = read_rows(source, &DomainRules::default(), &mut |row| {
            rows.push(row);
            Ok(())
        })?;
        Ok((info, rows))
    }

    fn read_bytes(bytes: &[u8], name: &str) -> Result<(SourceInfo, Vec<ParsedRow>), ImportError> {
        read(ImportSource::reader(Cursor::new(bytes.to_vec()), Some(name)))
    }

    fn read_file(bytes: &[u8], suffix: &str) -> Result<(SourceInfo, Vec<ParsedRow>), ImportError> {
        let mut file = tempfile::Builder::new().suffix(suffix).tempfile().unwrap();
        file.write_all(bytes).unwrap();
        read(ImportSource::path(file.path()))
    }

    fn summary(rows: &[ParsedRow]) -> Vec<(u64, String)> {
        rows.iter()
            .map(|r| match &r.outcome {
                RowOutcome::Accepted { domain, company } => {
                    (r.line, format!("{domain} {}", company.as_deref().unwrap_or("-")))
                }
                RowOutcome::Rejected { reason } => (r.line, format!("rejected: {reason}")),
            })
            .collect()
    }

    fn s(line: u64, text: &str) -> (u64, String) {
        (line, text.to_string())
    }

    #[test]
    fn a_turkish_windows_1254_semicolon_file_is_read_with_its_names_intact() {
        let text = "Firma Ünvanı;Web Sitesi;E-posta\r\n\
                    İstanbul Gıda Sanayi ve Ticaret A.Ş.;www.istanbulgida.com.tr;\r\n\
                    Çağdaş Yazılım Ltd. Şti.;;bilgi@cagdasyazilim.com.tr\r\n\
                    Doğuş Şişecam Ürünleri;com.tr;\r\n";
        let (bytes, _, _) = encoding_rs::WINDOWS_1254.encode(text);
        let (info, rows) = read_file(&bytes, ".csv").unwrap();
        assert_eq!((info.encoding, info.delimiter, info.header_line), (Some("windows-1254"), Some(';'), Some(1)));
        assert_eq!(
            summary(&rows),
            [
                s(2, "istanbulgida.com.tr İstanbul Gıda Sanayi ve Ticaret A.Ş."),
                s(3, "cagdasyazilim.com.tr Çağdaş Yazılım Ltd. Şti."),
                s(4, "rejected: Web Sitesi: `com.tr` is a public suffix, not a company domain"),
            ]
        );
    }

    #[test]
    fn utf16_with_a_bom_is_read() {
        let mut bytes = vec![0xFF, 0xFE];
        bytes.extend("Company\tWebsite\nAcme\thttps://acme.com/\n".encode_utf16().flat_map(u16::to_le_bytes));
        let (info, rows) = read_bytes(&bytes, "export.txt").unwrap();
        assert_eq!((info.encoding, info.delimiter), (Some("UTF-16LE"), Some('\t')));
        assert_eq!(summary(&rows), [s(2, "acme.com Acme")]);
    }

    #[test]
    fn an_excel_separator_line_sets_the_delimiter_and_is_not_a_row() {
        let (info, rows) = read_bytes(b"sep=;\r\nFirma;Web\r\nAcme, Inc;acme.com\r\n", "x.csv").unwrap();
        assert_eq!((info.delimiter, info.header_line), (Some(';'), Some(2)));
        assert_eq!(summary(&rows), [s(3, "acme.com Acme, Inc")]);
    }

    #[test]
    fn a_bare_list_of_domains_needs_no_header() {
        let (info, rows) = read_bytes(b"acme.com\nBETA.com.tr\n\nhttp://gamma.io/x\n", "list.csv").unwrap();
        assert_eq!(info.header_line, None);
        assert_eq!(summary(&rows), [s(1, "acme.com -"), s(2, "beta.com.tr -"), s(4, "gamma.io -")]);
    }

    #[test]
    fn line_numbers_are_physical_lines_even_after_multi_line_cells() {
        let text = "company,website\n\"Acme\nHolding\",acme.com\nBeta,1.2.3.4\n";
        let (_, rows) = read_bytes(text.as_bytes(), "x.csv").unwrap();
        assert_eq!(
            summary(&rows),
            [s(2, "acme.com Acme Holding"), s(4, "rejected: website: `1.2.3.4` is an IP address, not a domain")]
        );
    }

    #[test]
    fn an_invalid_byte_in_a_utf8_file_rejects_only_its_row() {
        let mut bytes = b"\xEF\xBB\xBFdomain,company\nacme.com,Acme\n".to_vec();
        bytes.extend(b"beta.com,B\xFCro\ngamma.com,Gamma\n");
        let (info, rows) = read_bytes(&bytes, "x.csv").unwrap();
        assert_eq!(info.encoding, Some("UTF-8"));
        assert_eq!(
            summary(&rows),
            [s(2, "acme.com Acme"), s(3, "rejected: contains bytes that are not valid UTF-8"), s(4, "gamma.com Gamma")]
        );
    }

    #[test]
    fn an_empty_file_is_an_error() {
        for bytes in [&b""[..], b"\xEF\xBB\xBF", b"\n  \n\r\n"] {
            assert!(matches!(read_bytes(bytes, "x.csv"), Err(ImportError::Empty)), "{bytes:?}");
            assert!(matches!(read_file(bytes, ".csv"), Err(ImportError::Empty)), "{bytes:?}");
        }
    }

    #[test]
    fn a_header_without_rows_is_an_error() {
        assert!(matches!(read_bytes(b"Firma,Web Sitesi\n", "x.csv"), Err(ImportError::NoDataRows)));
    }

    #[test]
    fn a_binary_file_is_an_error() {
        assert!(matches!(read_bytes(b"\x7FELF\x02\x01\x01\0\0\0\0\0", "x.csv"), Err(ImportError::Binary)));
    }

    #[test]
    fn a_file_without_an_address_column_is_an_error_naming_its_columns() {
        let err = read_bytes(b"Firma;Il\nAcme;Izmir\n", "x.csv").unwrap_err();
        assert_eq!(err.to_string(), "no website, e-mail or domain column found (columns: Firma, Il)");
    }

    #[test]
    fn a_text_file_named_xlsx_is_read_as_text() {
        let (info, rows) = read_bytes(b"domain\nacme.com\n", "leads.xlsx").unwrap();
        assert_eq!(info.format, FileFormat::Csv);
        assert_eq!(summary(&rows), [s(2, "acme.com -")]);
    }

    fn workbook(rows: &[(u32, &[&str])]) -> Vec<u8> {
        let mut book = rust_xlsxwriter::Workbook::new();
        let sheet = book.add_worksheet();
        for (row, cells) in rows {
            for (col, cell) in cells.iter().enumerate() {
                if !cell.is_empty() {
                    sheet.write_string(*row, col as u16, *cell).unwrap();
                }
            }
        }
        book.save_to_buffer().unwrap()
    }

    #[test]
    fn xlsx_rows_are_numbered_like_the_sheet() {
        let bytes = workbook(&[
            (0, &["Şirket", "Web Sitesi", "E-posta"]),
            (1, &["Acme", "acme.com.tr", ""]),
            (4, &["Beta", "", "info@beta.com"]),
            (5, &["Gamma", "gmail.com", ""]),
        ]);
        let (info, rows) = read_file(&bytes, ".xlsx").unwrap();
        assert_eq!((info.format, info.header_line), (FileFormat::Xlsx, Some(1)));
        assert_eq!(
            summary(&rows),
            [
                s(2, "acme.com.tr Acme"),
                s(5, "beta.com Beta"),
                s(6, "rejected: Web Sitesi: `gmail.com` is a free-mail provider, not a company")
            ]
        );
    }

    #[test]
    fn xlsx_numbers_are_read_as_text() {
        let mut book = rust_xlsxwriter::Workbook::new();
        let sheet = book.add_worksheet();
        sheet.write_string(0, 0, "acme.com").unwrap();
        sheet.write_number(0, 1, 5321234567.0).unwrap();
        let (_, rows) = read_bytes(&book.save_to_buffer().unwrap(), "x.xlsx").unwrap();
        assert_eq!(rows[0].raw, json!({"column 1": "acme.com", "column 2": "5321234567"}));
    }

    #[test]
    fn an_xlsx_upload_without_a_header_is_read() {
        let bytes = workbook(&[(0, &["acme.com", "Acme"]), (1, &["beta.com", "Beta"])]);
        let (info, rows) = read_bytes(&bytes, "upload.xlsx").unwrap();
        assert_eq!(info.header_line, None);
        assert_eq!(summary(&rows), [s(1, "acme.com Acme"), s(2, "beta.com Beta")]);
    }

    #[test]
    fn an_empty_first_sheet_is_an_error() {
        let mut book = rust_xlsxwriter::Workbook::new();
        book.add_worksheet().set_name("Leads").unwrap();
        let err = read_bytes(&book.save_to_buffer().unwrap(), "x.xlsx").unwrap_err();
        assert_eq!(err.to_string(), "the first sheet (`Leads`) is empty");
    }

    #[test]
    fn a_broken_zip_is_a_spreadsheet_error() {
        assert!(matches!(read_bytes(b"PK\x03\x04garbage", "x.xlsx"), Err(ImportError::Spreadsheet(_))));
    }
}
