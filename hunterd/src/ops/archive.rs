//! The header of a pg_dump custom-format archive, read by hunterd itself: a pg_restore older than
//! the pg_dump that wrote the archive cannot read it and only says "unsupported version (1.16) in
//! file header", while restore must say which PostgreSQL made the backup and which one it is
//! being restored into. Layout: PostgreSQL's `WriteHead`/`ReadHead` (src/bin/pg_dump/pg_backup_archiver.c).

/// What the header says about where an archive comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArchiveHeader {
    /// Archive format version (`1.14.0` for PostgreSQL 14 and 15, `1.15.0` for 16, …).
    pub format_version: (u8, u8, u8),
    /// `server_version` of the database that was dumped (archives of format 1.10 and newer).
    pub dumped_from: Option<String>,
    /// Version of the pg_dump that wrote the archive (archives of format 1.10 and newer).
    pub dumped_by: Option<String>,
}

/// Why a header could not be read; the caller then lets pg_restore judge the file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HeaderError {
    #[error("not a pg_dump custom-format archive (no PGDMP signature)")]
    NoSignature,
    #[error("not a custom-format archive (format code {0})")]
    NotCustom(u8),
    #[error("the archive header is cut short")]
    Truncated,
    #[error("the archive header is malformed: {0}")]
    Malformed(&'static str),
}

/// pg_dump's `archCustom`.
const FORMAT_CUSTOM: u8 = 1;
/// Strings in the header (database name, versions) are short; anything longer is not a header.
const MAX_HEADER_STRING: usize = 4096;
/// How much of a file [`read_header`] needs at most.
pub const HEADER_READ_LIMIT: usize = 64 * 1024;

/// Reads the header at the start of a custom-format archive.
pub fn read_header(bytes: &[u8]) -> Result<ArchiveHeader, HeaderError> {
    let mut reader = Reader { bytes, pos: 0, int_size: 4, signed_ints: true };
    if reader.take(5)? != b"PGDMP" {
        return Err(HeaderError::NoSignature);
    }
    let major = reader.byte()?;
    let minor = reader.byte()?;
    let revision = if (major, minor) > (1, 0) { reader.byte()? } else { 0 };
    let version = (major, minor, revision);
    if version < (1, 0, 0) {
        return Err(HeaderError::Malformed("archive version below 1.0"));
    }
    reader.signed_ints = version > (1, 0, 0);
    reader.int_size = usize::from(reader.byte()?);
    if !(1..=8).contains(&reader.int_size) {
        return Err(HeaderError::Malformed("integer size out of range"));
    }
    if version >= (1, 7, 0) {
        reader.byte()?; // offset size
    }
    let format = reader.byte()?;
    if format != FORMAT_CUSTOM {
        return Err(HeaderError::NotCustom(format));
    }
    if version >= (1, 15, 0) {
        reader.byte()?; // compression algorithm
    } else if version >= (1, 4, 0) {
        reader.int()?; // compression level
    } else if version >= (1, 2, 0) {
        reader.byte()?; // compression level
    }
    let (mut dumped_from, mut dumped_by) = (None, None);
    if version >= (1, 4, 0) {
        for _ in 0..7 {
            reader.int()?; // creation time: sec, min, hour, mday, mon, year, isdst
        }
        reader.string()?; // database name
    }
    if version >= (1, 10, 0) {
        dumped_from = reader.string()?;
        dumped_by = reader.string()?;
    }
    Ok(ArchiveHeader { format_version: version, dumped_from, dumped_by })
}

/// The major version in a `server_version` string: `15.20 (Debian 15.20-0+deb12u1)` → 15,
/// `17beta1` → 17, `9.6.24` → 9 (as `server_version_num / 10000` counts it).
pub fn major_version(version: &str) -> Option<u32> {
    let digits: String = version.trim().chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
    int_size: usize,
    signed_ints: bool,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], HeaderError> {
        let end = self.pos.checked_add(n).filter(|end| *end <= self.bytes.len()).ok_or(HeaderError::Truncated)?;
        let slice = &self.bytes[self.pos..end];
        self.pos = end;
        Ok(slice)
    }

    fn byte(&mut self) -> Result<u8, HeaderError> {
        Ok(self.take(1)?[0])
    }

    /// pg_dump's `ReadInt`: a sign byte, then `int_size` bytes, least significant first.
    fn int(&mut self) -> Result<i64, HeaderError> {
        let negative = self.signed_ints && self.byte()? != 0;
        let mut value: i64 = 0;
        for (i, byte) in self.take(self.int_size)?.iter().enumerate() {
            value |= i64::from(*byte) << (8 * i);
        }
        Ok(if negative { -value } else { value })
    }

    /// pg_dump's `ReadStr`: a length (negative: no string), then that many bytes.
    fn string(&mut self) -> Result<Option<String>, HeaderError> {
        let len = self.int()?;
        if len < 0 {
            return Ok(None);
        }
        let len = usize::try_from(len).ok().filter(|len| *len <= MAX_HEADER_STRING);
        let len = len.ok_or(HeaderError::Malformed("string longer than a header holds"))?;
        Ok(Some(String::from_utf8_lossy(self.take(len)?).into_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A header as pg_dump 15 writes it (format 1.14, 4-byte ints, 8-byte offsets).
    fn header_1_14(from: &str, by: &str) -> Vec<u8> {
        let int = |v: i64| {
            let mut out = vec![u8::from(v < 0)];
            out.extend_from_slice(&(v.unsigned_abs() as u32).to_le_bytes());
            out
        };
        let string = |s: &str| [int(s.len() as i64), s.as_bytes().to_vec()].concat();
        let mut bytes = b"PGDMP".to_vec();
        bytes.extend_from_slice(&[1, 14, 0, 4, 8, FORMAT_CUSTOM]);
        bytes.extend(int(-1)); // compression level: default
        for field in [12, 30, 4, 7, 11, 126, 0] {
            bytes.extend(int(field));
        }
        bytes.extend(string("hunter"));
        bytes.extend(string(from));
        bytes.extend(string(by));
        bytes.extend_from_slice(b"table of contents follows");
        bytes
    }

    #[test]
    fn the_versions_of_a_format_1_14_header_are_read() {
        let header = read_header(&header_1_14("15.20 (Debian 15.20-0+deb12u1)", "15.20 (Debian 15.20-0+deb12u1)"));
        assert_eq!(
            header,
            Ok(ArchiveHeader {
                format_version: (1, 14, 0),
                dumped_from: Some("15.20 (Debian 15.20-0+deb12u1)".into()),
                dumped_by: Some("15.20 (Debian 15.20-0+deb12u1)".into()),
            })
        );
    }

    #[test]
    fn a_format_1_16_header_with_a_compression_byte_is_read() {
        let mut bytes = b"PGDMP".to_vec();
        bytes.extend_from_slice(&[1, 16, 0, 4, 8, FORMAT_CUSTOM, 0]);
        for _ in 0..7 {
            bytes.extend_from_slice(&[0, 1, 0, 0, 0]);
        }
        for s in ["db", "17.2", "17.2"] {
            bytes.extend_from_slice(&[0, s.len() as u8, 0, 0, 0]);
            bytes.extend_from_slice(s.as_bytes());
        }
        let header = read_header(&bytes).unwrap();
        assert_eq!(header.format_version, (1, 16, 0));
        assert_eq!(header.dumped_from.as_deref(), Some("17.2"));
    }

    #[test]
    fn a_file_without_the_signature_is_not_an_archive() {
        assert_eq!(read_header(b"-- PostgreSQL database dump\n"), Err(HeaderError::NoSignature));
    }

    #[test]
    fn a_header_cut_short_is_reported_as_truncated() {
        let bytes = header_1_14("15.20", "15.20");
        assert_eq!(read_header(&bytes[..40]), Err(HeaderError::Truncated));
    }

    #[test]
    fn a_tar_format_header_is_not_read_as_custom() {
        assert_eq!(read_header(b"PGDMP\x01\x0e\x00\x04\x08\x03"), Err(HeaderError::NotCustom(3)));
    }

    #[test]
    fn an_absurd_string_length_is_malformed_not_an_allocation() {
        let mut bytes = b"PGDMP".to_vec();
        bytes.extend_from_slice(&[1, 14, 0, 4, 8, FORMAT_CUSTOM, 0, 0, 0, 0, 0]);
        bytes.extend_from_slice(&[0; 7 * 5]); // creation time
        bytes.extend_from_slice(&[0, 0xff, 0xff, 0xff, 0x7f]); // database name of 2 GiB
        assert!(matches!(read_header(&bytes), Err(HeaderError::Malformed(_))));
    }

    #[test]
    fn major_versions_are_read_from_server_version_strings() {
        assert_eq!(major_version("15.20 (Debian 15.20-0+deb12u1)"), Some(15));
        assert_eq!(major_version("17beta1"), Some(17));
        assert_eq!(major_version("9.6.24"), Some(9));
        assert_eq!(major_version("devel"), None);
    }
}
