//! Which text encoding a file is in, and a streaming decoder to UTF-8 that never holds the whole file.
//!
//! Order: a byte-order mark wins; UTF-16 without one is recognised by its zero bytes; otherwise, if the
//! bytes scanned are valid UTF-8 they are UTF-8 (pure ASCII included), else chardetng guesses a legacy
//! encoding (windows-1254 for Turkish, windows-1252…). Bytes the chosen encoding cannot decode become
//! U+FFFD, which the CSV reader turns into a rejected row with its line number.

use std::io::{self, Read};

use chardetng::{EncodingDetector, Iso2022JpDetection, Utf8Detection};
use encoding_rs::{CoderResult, Decoder, Encoding, UTF_8, UTF_16BE, UTF_16LE};

const CHUNK: usize = 64 * 1024;
/// chardetng only needs a sample; past this much non-ASCII text it has made up its mind.
const DETECTOR_SAMPLE: usize = 4 * 1024 * 1024;

/// The outcome of looking at a file's bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sniffed {
    /// No bytes at all (a lone byte-order mark counts as none).
    Empty,
    /// Zero bytes in a file that is not UTF-16: not text.
    Binary,
    Text(&'static Encoding),
}

/// Looks at every byte `r` yields (give it the whole file, or a prefix when the input cannot be read
/// twice; a sequence cut by the end of a prefix is not held against UTF-8).
pub fn sniff(mut r: impl Read, complete: bool) -> io::Result<Sniffed> {
    let mut buf = vec![0u8; CHUNK];
    let first_len = read_full(&mut r, &mut buf)?;
    let first = &buf[..first_len];
    if let Some((encoding, bom_len)) = Encoding::for_bom(first) {
        return Ok(if first_len == bom_len { Sniffed::Empty } else { Sniffed::Text(encoding) });
    }
    if first.is_empty() {
        return Ok(Sniffed::Empty);
    }
    if let Some(encoding) = utf16_without_bom(first) {
        return Ok(Sniffed::Text(encoding));
    }
    if first.contains(&0) {
        return Ok(Sniffed::Binary);
    }

    // A CSV file runs no scripts, so ISO-2022-JP is a fair guess (as chardetng 0.1 always allowed).
    let mut detector = EncodingDetector::new(Iso2022JpDetection::Allow);
    let mut fed = 0usize;
    let mut utf8 = Utf8Check::default();
    let mut len = first_len;
    loop {
        let chunk = &buf[..len];
        if fed < DETECTOR_SAMPLE && Encoding::ascii_valid_up_to(chunk) < chunk.len() {
            detector.feed(chunk, false);
            fed += chunk.len();
        }
        if utf8.valid {
            utf8.feed(chunk);
        }
        len = read_full(&mut r, &mut buf)?;
        if len == 0 {
            break;
        }
    }
    if utf8.valid && (utf8.pending.is_empty() || !complete) {
        return Ok(Sniffed::Text(UTF_8));
    }
    detector.feed(&[], true);
    Ok(Sniffed::Text(detector.guess(None, Utf8Detection::Deny)))
}

/// Incremental UTF-8 validation across chunk boundaries.
struct Utf8Check {
    valid: bool,
    /// The start of a sequence cut by the chunk boundary.
    pending: Vec<u8>,
}

impl Utf8Check {
    fn feed(&mut self, chunk: &[u8]) {
        let mut joined;
        let bytes = if self.pending.is_empty() {
            chunk
        } else {
            joined = std::mem::take(&mut self.pending);
            joined.extend_from_slice(chunk);
            &joined[..]
        };
        match std::str::from_utf8(bytes) {
            Ok(_) => self.pending.clear(),
            Err(e) if e.error_len().is_none() => self.pending = bytes[e.valid_up_to()..].to_vec(),
            Err(_) => self.valid = false,
        }
    }
}

impl Default for Utf8Check {
    fn default() -> Self {
        Utf8Check { valid: true, pending: Vec::new() }
    }
}

/// ASCII text in UTF-16 has a zero in every other byte.
fn utf16_without_bom(bytes: &[u8]) -> Option<&'static Encoding> {
    let pairs = &bytes[..bytes.len().min(4096) & !1];
    if pairs.len() < 4 {
        return None;
    }
    let n = pairs.len() / 2;
    let zero_even = pairs.iter().step_by(2).filter(|&&b| b == 0).count();
    let zero_odd = pairs.iter().skip(1).step_by(2).filter(|&&b| b == 0).count();
    if zero_odd * 10 >= n * 7 && zero_even == 0 {
        Some(UTF_16LE)
    } else if zero_even * 10 >= n * 7 && zero_odd == 0 {
        Some(UTF_16BE)
    } else {
        None
    }
}

/// Fills `buf` as far as the reader allows (short reads are not the end).
pub(super) fn read_full(r: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

/// A `Read` of UTF-8 over a `Read` of `encoding`, decoding one chunk at a time. A leading byte-order
/// mark is dropped; malformed sequences become U+FFFD.
pub struct DecodeReader<R> {
    inner: R,
    decoder: Decoder,
    input: Box<[u8]>,
    in_pos: usize,
    in_len: usize,
    in_eof: bool,
    output: Box<[u8]>,
    out_pos: usize,
    out_len: usize,
    finished: bool,
}

impl<R: Read> DecodeReader<R> {
    pub fn new(inner: R, encoding: &'static Encoding) -> DecodeReader<R> {
        DecodeReader {
            inner,
            decoder: encoding.new_decoder_with_bom_removal(),
            input: vec![0; CHUNK].into_boxed_slice(),
            in_pos: 0,
            in_len: 0,
            in_eof: false,
            // Room for any chunk's worst-case expansion, so every call makes progress.
            output: vec![0; CHUNK * 3 + 16].into_boxed_slice(),
            out_pos: 0,
            out_len: 0,
            finished: false,
        }
    }
}

impl<R: Read> Read for DecodeReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            if self.out_pos < self.out_len {
                let n = buf.len().min(self.out_len - self.out_pos);
                buf[..n].copy_from_slice(&self.output[self.out_pos..self.out_pos + n]);
                self.out_pos += n;
                return Ok(n);
            }
            if self.finished || buf.is_empty() {
                return Ok(0);
            }
            if self.in_pos == self.in_len && !self.in_eof {
                self.in_len = read_full(&mut self.inner, &mut self.input)?;
                self.in_pos = 0;
                self.in_eof = self.in_len == 0;
            }
            let (result, read, written, _) =
                self.decoder.decode_to_utf8(&self.input[self.in_pos..self.in_len], &mut self.output, self.in_eof);
            self.in_pos += read;
            self.out_pos = 0;
            self.out_len = written;
            if self.in_eof && result == CoderResult::InputEmpty {
                self.finished = true;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sniffed(bytes: &[u8]) -> Sniffed {
        sniff(bytes, true).unwrap()
    }

    fn decode(bytes: &[u8], encoding: &'static Encoding) -> String {
        let mut out = String::new();
        DecodeReader::new(bytes, encoding).read_to_string(&mut out).unwrap();
        out
    }

    #[test]
    fn a_utf8_bom_means_utf8() {
        assert_eq!(sniffed(b"\xEF\xBB\xBFdomain\nacme.com\n"), Sniffed::Text(UTF_8));
    }

    #[test]
    fn utf16_boms_are_recognised() {
        assert_eq!(sniffed(b"\xFF\xFEd\0o\0"), Sniffed::Text(UTF_16LE));
        assert_eq!(sniffed(b"\xFE\xFF\0d\0o"), Sniffed::Text(UTF_16BE));
    }

    #[test]
    fn utf16_without_a_bom_is_recognised_by_its_zero_bytes() {
        let le: Vec<u8> = "domain\nacme.com\n".encode_utf16().flat_map(u16::to_le_bytes).collect();
        assert_eq!(sniffed(&le), Sniffed::Text(UTF_16LE));
    }

    #[test]
    fn pure_ascii_is_utf8() {
        assert_eq!(sniffed(b"domain\nacme.com\n"), Sniffed::Text(UTF_8));
    }

    #[test]
    fn utf8_without_a_bom_is_recognised() {
        assert_eq!(sniffed("Şirket,Web\nİstanbul Gıda,gida.com.tr\n".as_bytes()), Sniffed::Text(UTF_8));
    }

    #[test]
    fn turkish_windows_1254_is_guessed() {
        let text = "Firma,Web Sitesi\nİstanbul Gıda Sanayi ve Ticaret A.Ş.,istanbulgida.com.tr\n\
                    Çağdaş Yazılım Hizmetleri Ltd. Şti.,cagdasyazilim.com.tr\n\
                    Doğuş Otomotiv Servis ve Ticaret A.Ş.,dogusotomotiv.com.tr\n\
                    Ülker Bisküvi Sanayi A.Ş.,ulker.com.tr\nŞişecam Düzcam Sanayi,sisecam.com.tr\n";
        let (bytes, _, _) = encoding_rs::WINDOWS_1254.encode(text);
        let Sniffed::Text(encoding) = sniffed(&bytes) else { panic!("not text") };
        assert_eq!(encoding.name(), "windows-1254");
        assert_eq!(decode(&bytes, encoding), text);
    }

    #[test]
    fn western_windows_1252_is_guessed() {
        let text = "Company,Website\nCafé Münchner Spezialitäten GmbH,muenchner.de\n\
                    Société Générale des Eaux,sge.fr\nPâtisserie François & Fils,francois.fr\n\
                    Größere Bäckerei Müller,baeckerei-mueller.de\n";
        let (bytes, _, _) = encoding_rs::WINDOWS_1252.encode(text);
        let Sniffed::Text(encoding) = sniffed(&bytes) else { panic!("not text") };
        assert_eq!(decode(&bytes, encoding), text);
    }

    #[test]
    fn a_late_invalid_byte_means_not_utf8() {
        let mut bytes = "ş\n".as_bytes().to_vec();
        bytes.extend(std::iter::repeat_n(b'a', 200_000));
        bytes.extend(b"\n\xFEx\n");
        assert_ne!(sniffed(&bytes), Sniffed::Text(UTF_8));
    }

    #[test]
    fn a_sequence_split_by_a_chunk_boundary_is_still_utf8() {
        let mut bytes = vec![b'a'; CHUNK - 1];
        bytes.extend("ş".as_bytes());
        assert_eq!(sniffed(&bytes), Sniffed::Text(UTF_8));
    }

    #[test]
    fn zero_bytes_mean_binary() {
        assert_eq!(sniffed(b"%PDF-1.4\n\0\0\x01\x02garbage"), Sniffed::Binary);
    }

    #[test]
    fn no_bytes_or_only_a_bom_is_empty() {
        assert_eq!(sniffed(b""), Sniffed::Empty);
        assert_eq!(sniffed(b"\xEF\xBB\xBF"), Sniffed::Empty);
    }

    #[test]
    fn the_decoder_drops_the_bom_and_marks_invalid_bytes() {
        assert_eq!(decode(b"\xEF\xBB\xBFa.com\nb\xFF.com\n", UTF_8), "a.com\nb\u{FFFD}.com\n");
    }

    #[test]
    fn the_decoder_streams_through_small_reads() {
        let text = "Şirket;Web\n".repeat(20_000);
        let (bytes, _, _) = encoding_rs::WINDOWS_1254.encode(&text);
        let mut reader = DecodeReader::new(&bytes[..], encoding_rs::WINDOWS_1254);
        let mut out = Vec::new();
        let mut small = [0u8; 7];
        loop {
            let n = reader.read(&mut small).unwrap();
            if n == 0 {
                break;
            }
            out.extend_from_slice(&small[..n]);
        }
        assert_eq!(String::from_utf8(out).unwrap(), text);
    }
}
