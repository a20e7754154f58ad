//! IP2Location and IP2Proxy BIN files, read directly from their documented layout (no crate covers
//! both products with a licence we can use and without requiring the optional index).
//!
//! Layout (all integers little-endian; "addresses" are 1-based file offsets, string pointers 0-based):
//! header `db_type u8, columns u8, year u8 (two digits), month u8, day u8, ipv4_count u32,
//! ipv4_base u32, ipv6_count u32, ipv6_base u32, ipv4_index u32, ipv6_index u32, product_code u8`.
//! A row is the range's first address (u32 or u128) followed by `columns - 1` u32 pointers; the next
//! row's first address bounds the range. A pointer leads to a length-prefixed string; the country
//! pointer leads to the short code, and the long name follows at `pointer + 3`. An index (optional)
//! holds, for each value of the address's top 16 bits, the first and last row to search.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::Path;

const HEADER_LEN: usize = 29;
const INDEX_LEN: usize = 65536 * 8;

/// Which product a BIN file is; each has its own column positions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Product {
    Ip2Location,
    Ip2Proxy,
}

impl Product {
    fn code(self) -> u8 {
        match self {
            Product::Ip2Location => 1,
            Product::Ip2Proxy => 2,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Product::Ip2Location => "IP2Location",
            Product::Ip2Proxy => "IP2Proxy",
        }
    }

    /// 1-based column positions (column 1 is the address) of each field for `db_type`; 0 = absent.
    fn positions(self, db_type: u8) -> Option<Positions> {
        let t = usize::from(db_type);
        match self {
            Product::Ip2Location => {
                const ISP: [u8; 27] = [0, 0, 3, 0, 5, 0, 7, 5, 7, 0, 8, 0, 9, 0, 9, 0, 9, 0, 9, 7, 9, 0, 9, 7, 9, 9, 9];
                const USAGE: [u8; 27] =
                    [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 12, 20, 20, 20];
                if !(1..=26).contains(&t) {
                    return None;
                }
                let geo = |p: u8| if t >= 3 { p } else { 0 };
                Some(Positions {
                    country: 2,
                    region: geo(3),
                    city: geo(4),
                    isp: ISP[t],
                    usage_type: USAGE[t],
                    asn: if t == 26 { 24 } else { 0 },
                    as_name: if t == 26 { 25 } else { 0 },
                    ..Positions::default()
                })
            }
            Product::Ip2Proxy => {
                if !(1..=11).contains(&t) {
                    return None;
                }
                let from = |first: usize, p: u8| if t >= first { p } else { 0 };
                Some(Positions {
                    proxy_type: from(2, 2),
                    country: if t == 1 { 2 } else { 3 },
                    region: from(3, 4),
                    city: from(3, 5),
                    isp: from(4, 6),
                    usage_type: from(6, 8),
                    asn: from(7, 9),
                    as_name: from(7, 10),
                    provider: from(11, 13),
                })
            }
        }
    }
}

#[derive(Debug, Clone, Copy, Default)]
struct Positions {
    proxy_type: u8,
    country: u8,
    region: u8,
    city: u8,
    isp: u8,
    usage_type: u8,
    asn: u8,
    as_name: u8,
    provider: u8,
}

impl Positions {
    fn max(&self) -> u8 {
        [
            self.proxy_type,
            self.country,
            self.region,
            self.city,
            self.isp,
            self.usage_type,
            self.asn,
            self.as_name,
            self.provider,
        ]
        .into_iter()
        .max()
        .unwrap_or(0)
    }
}

/// Why a BIN file could not be used; the caller adds the file name.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum BinError {
    #[error("shorter than its header says ({0})")]
    Truncated(&'static str),
    #[error("unknown database type {0}")]
    UnknownType(u8),
    #[error("is an {found} file, not {expected}")]
    WrongProduct { found: &'static str, expected: &'static str },
    #[error("has {found} columns, database type {db_type} needs at least {needed}")]
    Columns { found: u8, db_type: u8, needed: u8 },
    #[error("string pointer {0} is outside the file")]
    BadPointer(u32),
}

/// One row's fields; `None` where the database has no such column or says `-`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BinRecord {
    pub country_short: Option<String>,
    pub country_long: Option<String>,
    pub region: Option<String>,
    pub city: Option<String>,
    pub isp: Option<String>,
    pub usage_type: Option<String>,
    pub asn: Option<u32>,
    pub as_name: Option<String>,
    pub proxy_type: Option<String>,
    pub provider: Option<String>,
    /// IP2Proxy's `is_proxy`: 0 not a proxy, 1 proxy, 2 data centre / search engine range.
    pub is_proxy: Option<u8>,
}

/// An opened BIN file, held in memory.
#[derive(Debug)]
pub struct BinDb {
    data: Vec<u8>,
    product: Product,
    db_type: u8,
    columns: u8,
    positions: Positions,
    date: (u8, u8, u8),
    v4: Section,
    v6: Section,
}

#[derive(Debug, Clone, Copy)]
struct Section {
    count: u32,
    /// 0-based offset of the first row.
    base: usize,
    /// 0-based offset of the index, if the file has one.
    index: Option<usize>,
    row_len: usize,
    addr_len: usize,
}

fn u32_at(data: &[u8], at: usize) -> Option<u32> {
    data.get(at..at + 4).map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
}

fn u128_at(data: &[u8], at: usize) -> Option<u128> {
    let b: [u8; 16] = data.get(at..at + 16)?.try_into().ok()?;
    Some(u128::from_le_bytes(b))
}

impl BinDb {
    pub fn open(path: &Path, product: Product) -> Result<BinDb, String> {
        let data = std::fs::read(path).map_err(|e| e.to_string())?;
        BinDb::from_bytes(data, product).map_err(|e| e.to_string())
    }

    /// Checks everything a lookup will touch except string pointers, so a truncated file fails here.
    pub fn from_bytes(data: Vec<u8>, product: Product) -> Result<BinDb, BinError> {
        if data.len() < HEADER_LEN {
            return Err(BinError::Truncated("header"));
        }
        let db_type = data[0];
        let columns = data[1];
        // Older files have no product code (0 there); newer ones say which product they are.
        let found_product = data.get(HEADER_LEN).copied().unwrap_or(0);
        if matches!(found_product, 1 | 2) && found_product != product.code() {
            let found = if found_product == 1 { "IP2Location" } else { "IP2Proxy" };
            return Err(BinError::WrongProduct { found, expected: product.name() });
        }
        let positions = product.positions(db_type).ok_or(BinError::UnknownType(db_type))?;
        if columns < positions.max().max(1) {
            return Err(BinError::Columns { found: columns, db_type, needed: positions.max() });
        }
        let header = |at: usize| u32_at(&data, at).unwrap_or(0);
        let section =
            |count_at: usize, base_at: usize, index_at: usize, addr_len: usize| -> Result<Section, BinError> {
                let count = header(count_at);
                let base = header(base_at) as usize;
                let index = header(index_at) as usize;
                let row_len = addr_len + (usize::from(columns) - 1) * 4;
                let s = Section {
                    count,
                    base: base.saturating_sub(1),
                    index: (index > 0).then(|| index - 1),
                    row_len,
                    addr_len,
                };
                if count > 0 {
                    let end = (count as usize).checked_mul(row_len).and_then(|n| n.checked_add(s.base));
                    if base == 0 || end.is_none_or(|end| end > data.len()) {
                        return Err(BinError::Truncated("rows"));
                    }
                    if s.index.is_some_and(|i| i + INDEX_LEN > data.len()) {
                        return Err(BinError::Truncated("index"));
                    }
                }
                Ok(s)
            };
        let v4 = section(5, 9, 21, 4)?;
        let v6 = section(13, 17, 25, 16)?;
        Ok(BinDb { product, db_type, columns, positions, date: (data[2], data[3], data[4]), v4, v6, data })
    }

    pub fn product(&self) -> Product {
        self.product
    }

    /// e.g. `IP2Location DB26 2026-11-01`: changes whenever a new edition is installed.
    pub fn build(&self) -> String {
        let (y, m, d) = self.date;
        let kind = if self.product == Product::Ip2Location { "DB" } else { "PX" };
        format!("{} {kind}{} 20{y:02}-{m:02}-{d:02}", self.product.name(), self.db_type)
    }

    pub fn columns(&self) -> u8 {
        self.columns
    }

    pub fn lookup(&self, ip: IpAddr) -> Result<Option<BinRecord>, BinError> {
        let row = match normalize(ip) {
            IpAddr::V4(v4) => self.find(self.v4, u128::from(u32::from(v4)), u128::from(u32::MAX))?,
            IpAddr::V6(v6) => self.find(self.v6, u128::from(v6), u128::MAX)?,
        };
        row.map(|at| self.record(at)).transpose()
    }

    /// The first row, among the first `limit` of each address family, whose fields cannot be read
    /// (a string pointer outside the file, a truncated row), with its position; see
    /// [`super::maxmind::MaxMindDb::first_undecodable`] for why this is checked up front.
    pub fn first_unreadable(&self, limit: u32) -> Option<String> {
        for (family, s) in [("IPv4", self.v4), ("IPv6", self.v6)] {
            for row in 0..s.count.min(limit) {
                let at = s.base + row as usize * s.row_len + s.addr_len;
                if let Err(e) = self.record(at) {
                    return Some(format!("{family} row {} cannot be read: {e}", row + 1));
                }
            }
        }
        None
    }

    /// Offset of the row holding `ip`, by binary search narrowed by the index when present.
    fn find(&self, s: Section, ip: u128, max: u128) -> Result<Option<usize>, BinError> {
        if s.count == 0 {
            return Ok(None);
        }
        let read_addr = |row: u32| -> Option<u128> {
            let at = s.base + row as usize * s.row_len;
            if s.addr_len == 4 { u32_at(&self.data, at).map(u128::from) } else { u128_at(&self.data, at) }
        };
        let (mut low, mut high) = (0u32, s.count - 1);
        if let Some(index) = s.index {
            let bucket = if s.addr_len == 4 { (ip >> 16) as usize } else { (ip >> 112) as usize };
            let at = index + bucket * 8;
            low = u32_at(&self.data, at).ok_or(BinError::Truncated("index"))?;
            high = u32_at(&self.data, at + 4).ok_or(BinError::Truncated("index"))?.min(s.count - 1);
        }
        let ip = ip.min(max - 1);
        while low <= high {
            let mid = low + (high - low) / 2;
            let from = read_addr(mid).ok_or(BinError::Truncated("rows"))?;
            // The row after the last is a sentinel; files without one end at the family's maximum.
            let to = read_addr(mid + 1).unwrap_or(max);
            if ip < from {
                if mid == 0 {
                    return Ok(None);
                }
                high = mid - 1;
            } else if ip >= to {
                low = mid + 1;
            } else {
                return Ok(Some(s.base + mid as usize * s.row_len + s.addr_len));
            }
        }
        Ok(None)
    }

    fn pointer(&self, fields_at: usize, position: u8) -> Option<u32> {
        (position >= 2).then(|| u32_at(&self.data, fields_at + (usize::from(position) - 2) * 4)).flatten()
    }

    fn string(&self, ptr: u32) -> Result<String, BinError> {
        let at = ptr as usize;
        let len = *self.data.get(at).ok_or(BinError::BadPointer(ptr))? as usize;
        let bytes = self.data.get(at + 1..at + 1 + len).ok_or(BinError::BadPointer(ptr))?;
        Ok(String::from_utf8_lossy(bytes).into_owned())
    }

    fn field(&self, fields_at: usize, position: u8) -> Result<Option<String>, BinError> {
        match self.pointer(fields_at, position) {
            Some(ptr) => Ok(meaningful(self.string(ptr)?)),
            None => Ok(None),
        }
    }

    fn record(&self, at: usize) -> Result<BinRecord, BinError> {
        let p = self.positions;
        let (country_short, country_long) = match self.pointer(at, p.country) {
            Some(ptr) => (meaningful(self.string(ptr)?), meaningful(self.string(ptr.saturating_add(3))?)),
            None => (None, None),
        };
        let proxy_type = self.field(at, p.proxy_type)?;
        let asn = self.field(at, p.asn)?.and_then(|a| a.parse::<u32>().ok());
        // The official libraries' rule: no country means "not a proxy"; data-centre and search-engine
        // ranges are level 2.
        let level = match (country_short.as_deref(), proxy_type.as_deref()) {
            (None, _) => 0,
            (Some(_), Some("DCH" | "SES")) => 2,
            (Some(_), _) => 1,
        };
        let is_proxy = (self.product == Product::Ip2Proxy).then_some(level);
        Ok(BinRecord {
            region: self.field(at, p.region)?,
            city: self.field(at, p.city)?,
            isp: self.field(at, p.isp)?,
            usage_type: self.field(at, p.usage_type)?,
            asn,
            as_name: self.field(at, p.as_name)?,
            provider: self.field(at, p.provider)?,
            is_proxy,
            proxy_type,
            country_short,
            country_long,
        })
    }
}

/// `-` (and empty) is how the files say "no value".
fn meaningful(s: String) -> Option<String> {
    let t = s.trim();
    (!t.is_empty() && t != "-").then(|| t.to_string())
}

/// IPv4-mapped, 6to4 and Teredo addresses are looked up as the IPv4 address they carry.
fn normalize(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => {
            let n = u128::from(v6);
            if let Some(v4) = v6.to_ipv4_mapped() {
                IpAddr::V4(v4)
            } else if n >> 112 == 0x2002 {
                IpAddr::V4(Ipv4Addr::from((n >> 80) as u32))
            } else if n >> 96 == 0x2001_0000 {
                IpAddr::V4(Ipv4Addr::from(!(n as u32)))
            } else {
                IpAddr::V6(Ipv6Addr::from(n))
            }
        }
        v4 => v4,
    }
}

/// One range for [`write_bin`]: the first address and the row's fields (`None` writes `-`; `is_proxy`
/// is not written, readers derive it from `proxy_type`). The fields are reached through `Deref`, so
/// `row.isp = …` reads as a row of the file.
#[derive(Debug, Clone)]
pub struct BinRow {
    pub from: IpAddr,
    pub record: BinRecord,
}

impl BinRow {
    /// A range starting at `from` with every field `-`.
    pub fn new(from: IpAddr) -> BinRow {
        BinRow { from, record: BinRecord::default() }
    }
}

impl std::ops::Deref for BinRow {
    type Target = BinRecord;
    fn deref(&self) -> &BinRecord {
        &self.record
    }
}

impl std::ops::DerefMut for BinRow {
    fn deref_mut(&mut self) -> &mut BinRecord {
        &mut self.record
    }
}

/// Writes a BIN file in the documented layout, with indexes: for tests, benchmarks and samples. Each
/// range runs until the next row's `from`; the last to the end of its address family. Addresses below
/// the first row are "not found".
pub fn write_bin(product: Product, db_type: u8, date: (u8, u8, u8), rows: &[BinRow]) -> Result<Vec<u8>, BinError> {
    let positions = product.positions(db_type).ok_or(BinError::UnknownType(db_type))?;
    let columns = positions.max().max(2);
    let mut v4: Vec<(u128, &BinRow)> = Vec::new();
    let mut v6: Vec<(u128, &BinRow)> = Vec::new();
    for row in rows {
        match row.from {
            IpAddr::V4(a) => v4.push((u128::from(u32::from(a)), row)),
            IpAddr::V6(a) => v6.push((u128::from(a), row)),
        }
    }
    v4.sort_by_key(|r| r.0);
    v6.sort_by_key(|r| r.0);

    // Strings first (after the header), so row pointers are known when rows are written.
    let mut out = vec![0u8; HEADER_LEN + 1];
    let put_str = |out: &mut Vec<u8>, s: &str| -> u32 {
        let at = out.len() as u32;
        let bytes = &s.as_bytes()[..s.len().min(255)];
        out.push(bytes.len() as u8);
        out.extend_from_slice(bytes);
        at
    };
    let mut pointers: Vec<Vec<(u8, u32)>> = Vec::new();
    for (_, row) in v4.iter().chain(v6.iter()) {
        let mut cols = Vec::new();
        // Country: the short code padded to 2 characters, then the long name at +3.
        let short = row.country_short.clone().unwrap_or_else(|| "-".into());
        let at = out.len() as u32;
        out.push(2);
        let mut code = short.into_bytes();
        code.resize(2, b' ');
        out.extend_from_slice(&code[..2]);
        put_str(&mut out, row.country_long.as_deref().unwrap_or("-"));
        cols.push((positions.country, at));
        let asn = row.asn.map(|a| a.to_string());
        for (pos, value) in [
            (positions.proxy_type, &row.proxy_type),
            (positions.region, &row.region),
            (positions.city, &row.city),
            (positions.isp, &row.isp),
            (positions.usage_type, &row.usage_type),
            (positions.asn, &asn),
            (positions.as_name, &row.as_name),
            (positions.provider, &row.provider),
        ] {
            if pos >= 2 {
                let at = put_str(&mut out, value.as_deref().unwrap_or("-"));
                cols.push((pos, at));
            }
        }
        pointers.push(cols);
    }

    let row_bytes = |addr_len: usize, from: u128, cols: &[(u8, u32)]| -> Vec<u8> {
        let mut row = if addr_len == 4 { (from as u32).to_le_bytes().to_vec() } else { from.to_le_bytes().to_vec() };
        let mut fields = vec![0u8; (usize::from(columns) - 1) * 4];
        for &(pos, ptr) in cols {
            let at = (usize::from(pos) - 2) * 4;
            fields[at..at + 4].copy_from_slice(&ptr.to_le_bytes());
        }
        row.extend_from_slice(&fields);
        row
    };
    let section = |out: &mut Vec<u8>, rows: &[(u128, &BinRow)], ptrs: &[Vec<(u8, u32)>], addr_len: usize, max: u128| {
        let base = out.len() as u32 + 1;
        for ((from, _), cols) in rows.iter().zip(ptrs) {
            out.extend_from_slice(&row_bytes(addr_len, *from, cols));
        }
        // Sentinel: bounds the last range.
        out.extend_from_slice(&row_bytes(addr_len, max, &[]));
        let index = out.len() as u32 + 1;
        let shift = if addr_len == 4 { 16 } else { 112 };
        for bucket in 0..65536u128 {
            let first = bucket << shift;
            let last = first | ((1u128 << shift) - 1);
            let row_of = |ip: u128| rows.partition_point(|r| r.0 <= ip).saturating_sub(1) as u32;
            out.extend_from_slice(&row_of(first).to_le_bytes());
            out.extend_from_slice(&row_of(last).to_le_bytes());
        }
        (rows.len() as u32, base, index)
    };
    let (v4_ptrs, v6_ptrs) = pointers.split_at(v4.len());
    let (c4, b4, i4) = section(&mut out, &v4, v4_ptrs, 4, u128::from(u32::MAX));
    let (c6, b6, i6) = section(&mut out, &v6, v6_ptrs, 16, u128::MAX);
    out[0] = db_type;
    out[1] = columns;
    out[2] = date.0;
    out[3] = date.1;
    out[4] = date.2;
    for (at, v) in [(5, c4), (9, b4), (13, c6), (17, b6), (21, i4), (25, i6)] {
        out[at..at + 4].copy_from_slice(&v.to_le_bytes());
    }
    out[29] = product.code();
    Ok(out)
}
