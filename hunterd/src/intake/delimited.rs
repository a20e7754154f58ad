//! Delimited text (CSV with `,` `;` tab or `|`) read one record at a time in bounded memory.
//!
//! A small RFC 4180 reader of our own rather than the csv crate, because imports need what it does not
//! give: the physical line of every record, a record-size cap that skips a monster line instead of
//! buffering it, and recovery from a stray quote. A quote that is never closed, or closes in a way no
//! well-formed file would (text after the closing quote), after having swallowed line breaks, is reported
//! on the line where it opened; the lines it swallowed are then read again as ordinary rows. (Two stray
//! quotes that pair up into a well-formed multi-line field cannot be told apart from a legitimate one.)

use std::io::{self, Read};

/// Longest record accepted; a longer one is rejected and skipped to the end of its line.
pub const MAX_RECORD: usize = 64 * 1024;
/// How much of a rejected record is kept for the report.
const RAW_SHOWN: usize = 200;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Record {
    /// `line` is the physical line (1-based) the record starts on.
    Fields {
        line: u64,
        fields: Vec<String>,
    },
    Malformed {
        line: u64,
        reason: String,
        raw: String,
    },
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum State {
    FieldStart,
    Unquoted,
    Quoted,
    /// A `"` inside a quoted field: an escaped quote or the end of the field.
    QuoteInQuoted,
}

pub struct Records<R> {
    src: R,
    buf: Box<[u8]>,
    pos: usize,
    len: usize,
    eof: bool,
    /// Bytes to read again before `src` (after a stray quote swallowed them).
    replay: Vec<u8>,
    replay_pos: usize,
    prev_cr: bool,
    delimiter: u8,
    /// Physical line of the next byte.
    line: u64,
    max_record: usize,
    encoding: &'static str,
    raw: Vec<u8>,
}

impl<R: Read> Records<R> {
    /// `src` must yield UTF-8 (see `encoding::DecodeReader`); `encoding` names the file's encoding in
    /// messages about bytes it could not decode.
    pub fn new(src: R, delimiter: u8, encoding: &'static str) -> Records<R> {
        Records {
            src,
            buf: vec![0; 64 * 1024].into_boxed_slice(),
            pos: 0,
            len: 0,
            eof: false,
            replay: Vec::new(),
            replay_pos: 0,
            prev_cr: false,
            delimiter,
            line: 1,
            max_record: MAX_RECORD,
            encoding,
            raw: Vec::new(),
        }
    }

    pub fn with_max_record(mut self, max_record: usize) -> Records<R> {
        self.max_record = max_record;
        self
    }

    /// The next byte with `\r\n` and lone `\r` turned into `\n`.
    fn next_byte(&mut self) -> io::Result<Option<u8>> {
        if self.replay_pos < self.replay.len() {
            self.replay_pos += 1;
            return Ok(Some(self.replay[self.replay_pos - 1]));
        }
        loop {
            if self.pos == self.len {
                if self.eof {
                    return Ok(None);
                }
                self.len = loop {
                    match self.src.read(&mut self.buf) {
                        Ok(n) => break n,
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                        Err(e) => return Err(e),
                    }
                };
                self.pos = 0;
                if self.len == 0 {
                    self.eof = true;
                    return Ok(None);
                }
            }
            let b = self.buf[self.pos];
            self.pos += 1;
            let after_cr = std::mem::replace(&mut self.prev_cr, b == b'\r');
            match b {
                b'\r' => return Ok(Some(b'\n')),
                b'\n' if after_cr => continue,
                _ => return Ok(Some(b)),
            }
        }
    }

    /// The next record; blank lines are skipped.
    pub fn next_record(&mut self) -> io::Result<Option<Record>> {
        loop {
            match self.read_record()? {
                Some(Record::Fields { fields, .. }) if fields.len() == 1 && fields[0].is_empty() => continue,
                other => return Ok(other),
            }
        }
    }

    fn read_record(&mut self) -> io::Result<Option<Record>> {
        let start_line = self.line;
        self.raw.clear();
        let mut fields: Vec<String> = Vec::new();
        let mut field: Vec<u8> = Vec::new();
        let mut state = State::FieldStart;
        let mut quote_line = start_line;
        // Where in `raw` the line after the opening quote starts, once the quoted field spans lines.
        let mut replay_from: Option<usize> = None;
        loop {
            let Some(b) = self.next_byte()? else {
                if state == State::Quoted {
                    return Ok(Some(self.unclosed_quote(start_line, quote_line, replay_from)));
                }
                if self.raw.is_empty() {
                    return Ok(None);
                }
                fields.push(into_string(field));
                break;
            };
            self.raw.push(b);
            if self.raw.len() > self.max_record {
                if state == State::Quoted && replay_from.is_some() {
                    return Ok(Some(self.unclosed_quote(start_line, quote_line, replay_from)));
                }
                return self.skip_oversized_line(start_line).map(Some);
            }
            let delimiter = self.delimiter;
            match (state, b) {
                (State::FieldStart, b'"') => {
                    state = State::Quoted;
                    quote_line = self.line;
                    replay_from = None;
                }
                (State::FieldStart | State::Unquoted | State::QuoteInQuoted, d) if d == delimiter => {
                    fields.push(into_string(std::mem::take(&mut field)));
                    state = State::FieldStart;
                }
                (State::FieldStart | State::Unquoted | State::QuoteInQuoted, b'\n') => {
                    self.line += 1;
                    fields.push(into_string(field));
                    break;
                }
                (State::FieldStart | State::Unquoted, _) => {
                    field.push(b);
                    state = State::Unquoted;
                }
                (State::Quoted, b'"') => state = State::QuoteInQuoted,
                (State::Quoted, b'\n') => {
                    self.line += 1;
                    field.push(b);
                    if replay_from.is_none() {
                        replay_from = Some(self.raw.len());
                    }
                }
                (State::Quoted, _) => field.push(b),
                (State::QuoteInQuoted, b'"') => {
                    field.push(b'"');
                    state = State::Quoted;
                }
                (State::QuoteInQuoted, _) => {
                    if replay_from.is_some() {
                        return Ok(Some(self.unclosed_quote(start_line, quote_line, replay_from)));
                    }
                    // `"Acme" Inc` on one line: keep the text, as spreadsheet programs do.
                    field.push(b);
                    state = State::Unquoted;
                }
            }
        }
        let fields_ok = fields.iter().find_map(|f| {
            if f.contains('\u{FFFD}') {
                Some(format!("contains bytes that are not valid {}", self.encoding))
            } else if f.contains('\0') {
                Some("contains a zero byte".to_string())
            } else {
                None
            }
        });
        Ok(Some(match fields_ok {
            Some(reason) => Record::Malformed { line: start_line, reason, raw: shown(&self.raw) },
            None => Record::Fields { line: start_line, fields },
        }))
    }

    /// Reports a quote that swallowed line breaks without closing properly, and arranges for the lines
    /// after the one it opened on to be read again.
    fn unclosed_quote(&mut self, start_line: u64, quote_line: u64, replay_from: Option<usize>) -> Record {
        let raw = shown(&self.raw);
        if let Some(from) = replay_from {
            let mut replay = self.raw[from..].to_vec();
            replay.extend_from_slice(&self.replay[self.replay_pos..]);
            self.replay = replay;
            self.replay_pos = 0;
            self.line = quote_line + 1;
        }
        let reason = if quote_line == start_line {
            "a quote (\") opened on this line is never closed".to_string()
        } else {
            format!("a quote (\") opened on line {quote_line} is never closed")
        };
        Record::Malformed { line: start_line, reason, raw }
    }

    fn skip_oversized_line(&mut self, start_line: u64) -> io::Result<Record> {
        let raw = shown(&self.raw);
        while let Some(b) = self.next_byte()? {
            if b == b'\n' {
                self.line += 1;
                break;
            }
        }
        Ok(Record::Malformed {
            line: start_line,
            reason: format!("row is longer than {} KiB; skipped", self.max_record / 1024),
            raw,
        })
    }
}

impl<R: Read> Iterator for Records<R> {
    type Item = io::Result<Record>;

    fn next(&mut self) -> Option<Self::Item> {
        self.next_record().transpose()
    }
}

fn into_string(bytes: Vec<u8>) -> String {
    String::from_utf8(bytes).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

/// The first line of a record, cut to a length a report can show.
fn shown(raw: &[u8]) -> String {
    let first_line = raw.split(|&b| b == b'\n').next().unwrap_or(raw);
    truncate(&String::from_utf8_lossy(first_line), RAW_SHOWN)
}

/// `s` cut to at most `max` characters, marked with `…` when cut.
pub fn truncate(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_string(),
    }
}

const DELIMITERS: [u8; 4] = [b',', b';', b'\t', b'|'];

/// The delimiter most lines of `sample` agree on (the same non-zero count outside quotes); `,` when
/// none appears (a one-column file).
pub fn sniff_delimiter(sample: &str) -> u8 {
    let lines: Vec<&str> = sample.lines().filter(|l| !l.trim().is_empty()).take(100).collect();
    let mut best = (0usize, b',');
    for delimiter in DELIMITERS {
        let mut agreeing = std::collections::HashMap::<usize, usize>::new();
        for line in &lines {
            let n = count_outside_quotes(line, delimiter);
            if n > 0 {
                *agreeing.entry(n).or_default() += 1;
            }
        }
        let score = agreeing.values().copied().max().unwrap_or(0);
        if score > best.0 {
            best = (score, delimiter);
        }
    }
    best.1
}

fn count_outside_quotes(line: &str, delimiter: u8) -> usize {
    let mut quoted = false;
    let mut n = 0;
    for b in line.bytes() {
        if b == b'"' {
            quoted = !quoted;
        } else if b == delimiter && !quoted {
            n += 1;
        }
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;

    fn records(text: &str) -> Vec<Record> {
        Records::new(text.as_bytes(), b',', "UTF-8").map(Result::unwrap).collect()
    }

    fn fields(line: u64, fields: &[&str]) -> Record {
        Record::Fields { line, fields: fields.iter().map(|s| s.to_string()).collect() }
    }

    #[test]
    fn records_carry_their_physical_line() {
        assert_eq!(
            records("a,b\n\nc,d\r\ne,f\rg,h"),
            vec![fields(1, &["a", "b"]), fields(3, &["c", "d"]), fields(4, &["e", "f"]), fields(5, &["g", "h"])]
        );
    }

    #[test]
    fn quoted_fields_may_hold_delimiters_quotes_and_line_breaks() {
        assert_eq!(
            records("\"Acme, \"\"Best\"\" Inc\",acme.com\n\"Two\nLines\",two.com\nx,y\n"),
            vec![
                fields(1, &["Acme, \"Best\" Inc", "acme.com"]),
                fields(2, &["Two\nLines", "two.com"]),
                fields(4, &["x", "y"])
            ]
        );
    }

    #[test]
    fn text_after_a_closing_quote_on_the_same_line_is_kept() {
        assert_eq!(records("\"Acme\" Inc,acme.com\n"), vec![fields(1, &["Acme Inc", "acme.com"])]);
    }

    #[test]
    fn an_unclosed_quote_is_reported_where_it_opened_and_the_rest_is_read_again() {
        let got = records("a.com,Acme\nb.com,\"Beta\nc.com,Gamma\nd.com,Delta\n");
        assert_eq!(got.len(), 4, "{got:?}");
        assert_eq!(got[0], fields(1, &["a.com", "Acme"]));
        assert!(
            matches!(&got[1], Record::Malformed { line: 2, reason, raw }
                if reason.contains("never closed") && raw == "b.com,\"Beta"),
            "{:?}",
            got[1]
        );
        assert_eq!(got[2], fields(3, &["c.com", "Gamma"]));
        assert_eq!(got[3], fields(4, &["d.com", "Delta"]));
    }

    #[test]
    fn a_stray_quote_closed_by_a_later_field_is_reported_on_its_line() {
        let got = records("a.com,\"Acme\nb.com,Beta\n\"Gamma\",c.com\n");
        assert!(matches!(&got[0], Record::Malformed { line: 1, .. }), "{got:?}");
        assert_eq!(got[1..], [fields(2, &["b.com", "Beta"]), fields(3, &["Gamma", "c.com"])]);
    }

    #[test]
    fn a_quote_swallowing_more_than_the_record_cap_is_reported_and_recovered() {
        let mut text = String::from("x.com,\"open\n");
        for i in 0..2_000 {
            text.push_str(&format!("d{i}.com,Name {i}\n"));
        }
        let got: Vec<Record> =
            Records::new(text.as_bytes(), b',', "UTF-8").with_max_record(4096).map(Result::unwrap).collect();
        assert!(matches!(&got[0], Record::Malformed { line: 1, .. }), "{:?}", got[0]);
        assert_eq!(got.len(), 2_001);
        assert_eq!(got[2_000], fields(2_001, &["d1999.com", "Name 1999"]));
    }

    #[test]
    fn an_oversized_line_is_rejected_and_skipped() {
        let text = format!("a.com\n{}\nb.com\n", "x".repeat(200_000));
        let got = records(&text);
        assert_eq!(got[0], fields(1, &["a.com"]));
        assert!(matches!(&got[1], Record::Malformed { line: 2, reason, raw }
            if reason.contains("longer than 64 KiB") && raw.chars().count() == RAW_SHOWN + 1));
        assert_eq!(got[2], fields(3, &["b.com"]));
    }

    #[test]
    fn undecodable_bytes_reject_only_their_row() {
        let got = records("a.com\nb\u{FFFD}.com\nc.com\n");
        assert_eq!(got[0], fields(1, &["a.com"]));
        assert!(
            matches!(&got[1], Record::Malformed { line: 2, reason, .. } if reason == "contains bytes that are not valid UTF-8")
        );
        assert_eq!(got[2], fields(3, &["c.com"]));
    }

    #[test]
    fn the_delimiter_most_lines_agree_on_wins() {
        assert_eq!(sniff_delimiter("Firma;Web\n\"Acme, Inc\";acme.com\nBeta, Ltd;beta.com\n"), b';');
        assert_eq!(sniff_delimiter("a\tb\tc\n1\t2\t3\n"), b'\t');
        assert_eq!(sniff_delimiter("a|b\n1|2\n"), b'|');
        assert_eq!(sniff_delimiter("company,domain\nAcme,acme.com\n"), b',');
    }

    #[test]
    fn a_one_column_file_gets_a_comma() {
        assert_eq!(sniff_delimiter("acme.com\nbeta.com\n"), b',');
    }
}
