//! MaxMind GeoIP2/GeoLite2 City or Country, and ASN databases.

use maxminddb::{Reader, WithinOptions, geoip2};
use std::net::IpAddr;
use std::path::Path;

/// Geography from a City or Country database (a Country database simply has no city).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Geo {
    pub country: Option<String>,
    pub country_name: Option<String>,
    pub region: Option<String>,
    pub city: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Asn {
    pub number: Option<u32>,
    pub org: Option<String>,
}

/// An opened MaxMind DB file, held in memory.
pub struct MaxMindDb {
    reader: Reader<Vec<u8>>,
}

impl std::fmt::Debug for MaxMindDb {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MaxMindDb").field("build", &self.build()).finish()
    }
}

fn non_empty(s: Option<&str>) -> Option<String> {
    s.map(str::trim).filter(|s| !s.is_empty()).map(str::to_string)
}

impl MaxMindDb {
    pub fn open(path: &Path) -> Result<MaxMindDb, String> {
        let reader = Reader::open_readfile(path).map_err(|e| e.to_string())?;
        Ok(MaxMindDb { reader })
    }

    /// e.g. `GeoLite2-ASN@1732000000`: the type and build time, which change with every edition.
    pub fn build(&self) -> String {
        let m = self.reader.metadata();
        format!("{}@{}", m.database_type, m.build_epoch)
    }

    /// An IPv6 address in an IPv4-only database is simply not found.
    fn covers(&self, ip: IpAddr) -> bool {
        ip.is_ipv4() || self.reader.metadata().ip_version == 6
    }

    pub fn geo(&self, ip: IpAddr) -> Result<Option<Geo>, String> {
        if !self.covers(ip) {
            return Ok(None);
        }
        let found = self.reader.lookup(ip).map_err(|e| e.to_string())?;
        let Some(city) = found.decode::<geoip2::City>().map_err(|e| e.to_string())? else {
            return Ok(None);
        };
        let geo = Geo {
            country: non_empty(city.country.iso_code),
            country_name: non_empty(city.country.names.english),
            region: non_empty(city.subdivisions.first().and_then(|s| s.names.english)),
            city: non_empty(city.city.names.english),
        };
        Ok((geo != Geo::default()).then_some(geo))
    }

    pub fn asn(&self, ip: IpAddr) -> Result<Option<Asn>, String> {
        if !self.covers(ip) {
            return Ok(None);
        }
        let found = self.reader.lookup(ip).map_err(|e| e.to_string())?;
        let Some(asn) = found.decode::<geoip2::Asn>().map_err(|e| e.to_string())? else {
            return Ok(None);
        };
        let asn = Asn { number: asn.autonomous_system_number, org: non_empty(asn.autonomous_system_organization) };
        Ok((asn != Asn::default()).then_some(asn))
    }

    /// The first record, among the first `limit` networks, that cannot be decoded as `kind`'s
    /// record (e.g. a field stored with another type than the format documents), with its network.
    /// Lookups of such records leave their fields empty, so this is checked at load and by
    /// `hunterd check` instead of surfacing as silently empty fields.
    pub fn first_undecodable(&self, kind: MaxMindKind, limit: usize) -> Option<String> {
        let networks = match self.reader.networks(WithinOptions::default()) {
            Ok(networks) => networks,
            Err(e) => return Some(e.to_string()),
        };
        for found in networks.take(limit) {
            let found = match found {
                Ok(found) => found,
                Err(e) => return Some(e.to_string()),
            };
            let decoded = match kind {
                MaxMindKind::City => found.decode::<geoip2::City>().map(drop),
                MaxMindKind::Asn => found.decode::<geoip2::Asn>().map(drop),
            };
            if let Err(e) = decoded {
                let network = found.network().map(|n| n.to_string()).unwrap_or_else(|_| "?".into());
                return Some(format!("the record for {network} cannot be decoded: {e}"));
            }
        }
        None
    }
}

/// Which record layout a MaxMind file is read with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MaxMindKind {
    City,
    Asn,
}
