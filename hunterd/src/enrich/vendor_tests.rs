//! The BIN reader on the vendors' own published files (see `hunterd/testdata/ip2location/README.md`),
//! with the values the vendors' own readers return for the same addresses.

use super::ip2bin::{BinDb, Product};
use std::io::Read;
use std::net::IpAddr;

fn open(gz: &[u8], product: Product) -> BinDb {
    let mut data = Vec::new();
    flate2::read::GzDecoder::new(gz).read_to_end(&mut data).expect("the vendor file decompresses");
    BinDb::from_bytes(data, product).expect("the vendor file opens")
}

fn ip(text: &str) -> IpAddr {
    text.parse().expect("a test address")
}

#[test]
fn the_ip2location_lite_db1_file_gives_the_countries_the_vendor_reader_gives() {
    let db = open(include_bytes!("../../testdata/ip2location/IP-COUNTRY.BIN.gz"), Product::Ip2Location);
    assert_eq!(db.build(), "IP2Location DB1 2014-12-04");
    // The vendor reader's answers (IP2Location.py 8.0.0), including its own test list's five.
    for (address, short, long) in [
        ("19.5.10.1", "US", "United States"),
        ("25.5.10.2", "GB", "United Kingdom"),
        ("43.5.10.3", "JP", "Japan"),
        ("47.5.10.4", "CA", "Canada"),
        ("51.5.10.5", "GB", "United Kingdom"),
        ("8.8.8.8", "US", "United States"),
        ("1.1.1.1", "AU", "Australia"),
    ] {
        let record = db.lookup(ip(address)).expect("a readable row").expect("a row");
        assert_eq!(record.country_short.as_deref(), Some(short), "{address}");
        assert_eq!(record.country_long.as_deref(), Some(long), "{address}");
        assert_eq!((record.region, record.is_proxy), (None, None), "DB1 has only countries");
    }
    // `-` in the vendor's file (reserved ranges) is "no value", as the vendor reader's `-` means.
    for address in ["0.0.0.0", "192.0.2.1", "255.255.255.254"] {
        let record = db.lookup(ip(address)).expect("a readable row");
        assert_eq!(record.and_then(|r| r.country_short), None, "{address}");
    }
}

#[test]
fn the_ip2proxy_px4_sample_gives_the_proxy_fields_the_vendor_reader_gives() {
    let db = open(
        include_bytes!("../../testdata/ip2location/IP2PROXY-IP-PROXYTYPE-COUNTRY-REGION-CITY-ISP.SAMPLE.BIN.gz"),
        Product::Ip2Proxy,
    );
    assert_eq!(db.build(), "IP2Proxy PX4 2016-11-17");
    // The vendor reader's answers (IP2Proxy.py 1.0.0): is_proxy, proxy type, country, region, city, ISP.
    let broadband = "Dynamic IP Address for Residential Broadband Customers";
    for (address, is_proxy, proxy_type, short, long, region, city, isp) in [
        ("1.0.233.24", 1, "PUB", "TH", "Thailand", "Phuket", "Ban Karon", broadband),
        ("1.0.241.220", 1, "PUB", "TH", "Thailand", "Phuket", "Phuket", broadband),
        ("1.0.0.5", 2, "DCH", "AU", "Australia", "Queensland", "Brisbane", "Research Prefix for APNIC Labs"),
        ("223.245.173.201", 1, "PUB", "CN", "China", "Anhui", "Huainan", "ChinaNet Anhui Province Network"),
        ("223.252.173.70", 2, "DCH", "CN", "China", "Beijing", "Beijing", "I4HK Limited"),
        ("223.255.191.109", 1, "PUB", "HK", "Hong Kong", "Hong Kong (SAR)", "Kowloon", "Wharf T&T Limited"),
        ("::100:5", 2, "DCH", "AU", "Australia", "Queensland", "Brisbane", "Research Prefix for APNIC Labs"),
    ] {
        let record = db.lookup(ip(address)).expect("a readable row").expect("a row");
        assert_eq!(record.is_proxy, Some(is_proxy), "{address}");
        assert_eq!(record.proxy_type.as_deref(), Some(proxy_type), "{address}");
        assert_eq!(record.country_short.as_deref(), Some(short), "{address}");
        assert_eq!(record.country_long.as_deref(), Some(long), "{address}");
        assert_eq!(record.region.as_deref(), Some(region), "{address}");
        assert_eq!(record.city.as_deref(), Some(city), "{address}");
        assert_eq!(record.isp.as_deref(), Some(isp), "{address}");
    }
    // Addresses the sample does not list: the vendor reader says is_proxy 0 and `-` everywhere.
    for address in ["4.0.0.47", "8.8.8.8", "0.0.0.1", "::1"] {
        let record = db.lookup(ip(address)).expect("a readable row");
        let record = record.unwrap_or_default();
        assert_eq!(record.is_proxy.unwrap_or(0), 0, "{address}");
        assert_eq!((record.proxy_type, record.country_short), (None, None), "{address}");
    }
}
