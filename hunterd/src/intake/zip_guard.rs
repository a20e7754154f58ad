//! Refuses decompression bombs before a spreadsheet reader unpacks anything.
//!
//! XLSX, XLSB and ODS files are zip archives, and the readers hold parts of them (the shared-string
//! table, a cell's text) in memory. A 1 MB file can unpack to gigabytes. Every entry is therefore
//! unpacked once into a counter, never into memory: declared sizes can lie, so the real bytes are
//! counted and the pass stops at the first limit crossed. XML parts are also checked for a text or
//! tag run longer than a row may be, which is what a giant cell looks like.

use std::io::{Read, Seek};

/// Largest unpacked size of one part of a spreadsheet (a million-row sheet is well below this).
pub const MAX_ENTRY: u64 = 256 * 1024 * 1024;
/// Largest unpacked size of the whole file.
pub const MAX_TOTAL: u64 = 1024 * 1024 * 1024;
/// Largest unpacked/packed ratio of a part bigger than [`RATIO_FLOOR`] (real sheets stay far below).
pub const MAX_RATIO: u64 = 100;
/// Parts smaller than this unpacked are never too compressed to be trusted.
pub const RATIO_FLOOR: u64 = 1024 * 1024;
/// The longest run between two XML delimiters: a cell or row longer than the CSV path's row limit.
pub const MAX_XML_RUN: usize = 64 * 1024;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum BombError {
    #[error("the file is not a readable zip archive: {0}")]
    NotZip(String),
    #[error("part {name} unpacks to more than {} MiB (the limit per part of a spreadsheet)", MAX_ENTRY / 1024 / 1024)]
    EntryTooLarge { name: String },
    #[error("the file unpacks to more than {} MiB (the limit per spreadsheet)", MAX_TOTAL / 1024 / 1024)]
    TotalTooLarge,
    #[error(
        "part {name} unpacks to more than {MAX_RATIO} times its packed size of {packed} bytes \
         (the limit for spreadsheets; this looks like a decompression bomb)"
    )]
    RatioTooHigh { name: String, packed: u64 },
    #[error("part {name} holds a cell or row longer than {} KiB (the limit per row)", MAX_XML_RUN / 1024)]
    RunTooLong { name: String },
}

/// Checks every entry of the zip archive in `rs` against the limits; leaves the reader anywhere.
pub fn check<RS: Read + Seek>(rs: RS) -> Result<(), BombError> {
    let mut archive = zip::ZipArchive::new(rs).map_err(|e| BombError::NotZip(e.to_string()))?;
    let mut total = 0u64;
    for i in 0..archive.len() {
        let mut entry = archive.by_index(i).map_err(|e| BombError::NotZip(e.to_string()))?;
        // zip decodes a non-UTF-8 name as CP437 and fails only when that fails too.
        let name = match entry.name() {
            Ok(name) => name.into_owned(),
            Err(_) => String::from_utf8_lossy(entry.name_raw()).into_owned(),
        };
        let limit = Limit::for_entry(entry.compressed_size(), MAX_TOTAL - total);
        let is_xml = name.ends_with(".xml") || name.ends_with(".rels");
        let unpacked = count(&mut entry, &name, is_xml, limit)?;
        total += unpacked;
    }
    Ok(())
}

/// What an entry may unpack to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Limit {
    entry: u64,
    ratio: u64,
    total_left: u64,
}

impl Limit {
    fn for_entry(packed: u64, total_left: u64) -> Limit {
        Limit { entry: MAX_ENTRY, ratio: packed.saturating_mul(MAX_RATIO).max(RATIO_FLOOR), total_left }
    }

    /// Which limit `unpacked` bytes cross, if any.
    fn crossed(&self, unpacked: u64, name: &str, packed: u64) -> Option<BombError> {
        if unpacked > self.entry {
            Some(BombError::EntryTooLarge { name: name.to_string() })
        } else if unpacked > self.ratio {
            Some(BombError::RatioTooHigh { name: name.to_string(), packed })
        } else if unpacked > self.total_left {
            Some(BombError::TotalTooLarge)
        } else {
            None
        }
    }
}

/// Unpacks `entry` into nothing, counting; stops at the first limit crossed.
fn count(
    entry: &mut zip::read::ZipFile<'_, impl Read>,
    name: &str,
    is_xml: bool,
    limit: Limit,
) -> Result<u64, BombError> {
    let packed = entry.compressed_size();
    let mut buf = vec![0u8; 64 * 1024];
    let (mut unpacked, mut run) = (0u64, RunTracker::default());
    loop {
        let n = match entry.read(&mut buf) {
            Ok(0) => return Ok(unpacked),
            Ok(n) => n,
            Err(e) => return Err(BombError::NotZip(format!("{name}: {e}"))),
        };
        unpacked += n as u64;
        if let Some(e) = limit.crossed(unpacked, name, packed) {
            return Err(e);
        }
        if is_xml && !run.feed(&buf[..n]) {
            return Err(BombError::RunTooLong { name: name.to_string() });
        }
    }
}

/// The length of the current run of bytes without `<` or `>`, across chunks.
#[derive(Debug, Default)]
struct RunTracker {
    current: usize,
}

impl RunTracker {
    /// False once a run exceeds [`MAX_XML_RUN`].
    fn feed(&mut self, bytes: &[u8]) -> bool {
        for &b in bytes {
            if b == b'<' || b == b'>' {
                self.current = 0;
            } else {
                self.current += 1;
                if self.current > MAX_XML_RUN {
                    return false;
                }
            }
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Cursor, Write};

    fn zip_with(entries: &[(&str, &[u8])]) -> Vec<u8> {
        let mut out = zip::ZipWriter::new(Cursor::new(Vec::new()));
        let options = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
        for (name, data) in entries {
            out.start_file(*name, options).unwrap();
            out.write_all(data).unwrap();
        }
        out.finish().unwrap().into_inner()
    }

    #[test]
    fn an_ordinary_workbook_passes() {
        let file = zip_with(&[(
            "xl/worksheets/sheet1.xml",
            b"<sheetData><row r=\"1\"><c><v>contoso.com</v></c></row></sheetData>",
        )]);
        assert_eq!(check(Cursor::new(file)), Ok(()));
    }

    #[test]
    fn a_part_that_unpacks_far_beyond_its_packed_size_is_refused() {
        let zeros = vec![b'<'; 8 * 1024 * 1024];
        let file = zip_with(&[("xl/sharedStrings.xml", &zeros)]);
        assert!(matches!(check(Cursor::new(file)), Err(BombError::RatioTooHigh { .. })));
    }

    #[test]
    fn a_cell_longer_than_a_row_may_be_is_refused() {
        let mut xml = b"<si><t>".to_vec();
        xml.extend((0..70 * 1024).map(|i| b'a' + (i % 26) as u8));
        xml.extend(b"</t></si>");
        let file = zip_with(&[("xl/sharedStrings.xml", &xml)]);
        let refused = check(Cursor::new(file)).unwrap_err();
        assert_eq!(refused, BombError::RunTooLong { name: "xl/sharedStrings.xml".into() });
        assert!(refused.to_string().contains("64 KiB"));
    }

    #[test]
    fn runs_are_counted_across_chunk_boundaries() {
        let mut run = RunTracker::default();
        assert!(run.feed(&vec![b'a'; MAX_XML_RUN - 1]));
        assert!(run.feed(b"a"));
        assert!(!run.feed(b"a"));
    }

    #[test]
    fn limits_name_the_part_and_the_figure() {
        let limit = Limit::for_entry(10, u64::MAX);
        assert_eq!(limit.crossed(RATIO_FLOOR, "a", 10), None);
        assert!(matches!(limit.crossed(RATIO_FLOOR + 1, "a", 10), Some(BombError::RatioTooHigh { .. })));
        let big = Limit::for_entry(MAX_ENTRY, u64::MAX);
        assert_eq!(big.crossed(MAX_ENTRY + 1, "s", 1), Some(BombError::EntryTooLarge { name: "s".into() }));
    }
}
