//! Port-43 WHOIS (RFC 3912): one query line, the server answers with text and closes.

use super::parse::{self, Parsed};
use super::{Registration, RegistrationSource, WhoisError};
use std::collections::HashMap;
use std::fmt;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// The reference's table (engine.md §4.1), corrected where the registry has moved: the reference
/// never reached any of these (its WHOIS library ignored the server), so nothing depends on the
/// old names. Used for TLDs without RDAP and when RDAP fails.
const DEFAULT_SERVERS: &[(&str, &str)] = &[
    // .tr moved from METU (whois.nic.tr, now gone) to BTK's TRABIS in 2022.
    ("tr", "whois.trabis.gov.tr"),
    ("com", "whois.verisign-grs.com"),
    ("net", "whois.verisign-grs.com"),
    ("org", "whois.pir.org"),
    ("info", "whois.nic.info"),
    ("biz", "whois.nic.biz"),
    ("io", "whois.nic.io"),
    ("co", "whois.nic.co"),
    ("me", "whois.nic.me"),
    ("uk", "whois.nic.uk"),
    ("de", "whois.denic.de"),
    ("fr", "whois.nic.fr"),
    ("nl", "whois.domain-registry.nl"),
    ("au", "whois.auda.org.au"),
    ("ca", "whois.cira.ca"),
    ("jp", "whois.jprs.jp"),
    ("cn", "whois.cnnic.cn"),
    ("ru", "whois.tcinet.ru"),
    ("br", "whois.registro.br"),
    ("in", "whois.nixiregistry.in"),
    ("mx", "whois.mx"),
    ("it", "whois.nic.it"),
    ("es", "whois.nic.es"),
    ("eu", "whois.eu"),
];

/// The built-in TLD → server table.
pub fn default_whois_servers() -> HashMap<String, WhoisServer> {
    DEFAULT_SERVERS.iter().map(|(tld, host)| (tld.to_string(), WhoisServer::new(host, 43))).collect()
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WhoisServer {
    pub host: String,
    pub port: u16,
}

impl WhoisServer {
    pub fn new(host: &str, port: u16) -> Self {
        WhoisServer { host: host.to_string(), port }
    }

    /// `host`, `host:port`, `ip:port` or `[v6]:port`; port 43 when none is given.
    pub fn parse(text: &str) -> Option<Self> {
        let text = text.trim();
        if let Ok(addr) = text.parse::<std::net::SocketAddr>() {
            return Some(WhoisServer { host: addr.ip().to_string(), port: addr.port() });
        }
        let (host, port) = match text.rsplit_once(':') {
            Some((host, port)) if !host.contains(':') => (host, port.parse().ok()?),
            Some(_) => return None,
            None => (text, 43),
        };
        let valid = !host.is_empty() && host.chars().all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-');
        valid.then(|| WhoisServer::new(&host.to_ascii_lowercase(), port))
    }
}

impl fmt::Display for WhoisServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.port, self.host.contains(':')) {
            (43, _) => f.write_str(&self.host),
            (port, true) => write!(f, "[{}]:{port}", self.host),
            (port, false) => write!(f, "{}:{port}", self.host),
        }
    }
}

/// Asks `server` about `domain`; `Ok(None)` when its answer holds none of the fields.
pub(super) async fn lookup(
    server: &WhoisServer,
    domain: &str,
    timeout: Duration,
    max_bytes: usize,
) -> Result<Option<Registration>, WhoisError> {
    let bytes = query(server, &query_line(&server.host, domain), timeout, max_bytes).await?;
    let text = decode(&bytes, domain);
    let parsed = parse::parse(&text);
    if parsed.is_empty() {
        if parse::looks_rate_limited(&text) {
            return Err(WhoisError::RateLimited { service: server.to_string() });
        }
        return Ok(None);
    }
    let Parsed { registrar, created, expires, nameservers } = parsed;
    Ok(Some(Registration {
        registrar,
        created,
        expires,
        nameservers,
        source: RegistrationSource::Whois { server: server.to_string() },
    }))
}

/// Asks IANA's WHOIS which server serves `tld` (its `whois:` line; older answers say `refer:`).
pub(super) async fn referral(
    iana: &WhoisServer,
    tld: &str,
    timeout: Duration,
) -> Result<Option<WhoisServer>, WhoisError> {
    let bytes = query(iana, &format!("{tld}\r\n"), timeout, 64 * 1024).await?;
    let text = String::from_utf8_lossy(&bytes);
    Ok(text.lines().find_map(|line| {
        let (key, value) = line.split_once(':')?;
        let key = key.trim().to_ascii_lowercase();
        if key == "whois" || key == "refer" { WhoisServer::parse(value) } else { None }
    }))
}

/// Some servers answer only a particular query syntax with the fields we need.
fn query_line(host: &str, domain: &str) -> String {
    match host {
        // Without `-T dn` DENIC answers only the status.
        "whois.denic.de" => format!("-T dn,ace {domain}\r\n"),
        // `/e` asks JPRS for English field names.
        "whois.jprs.jp" => format!("{domain}/e\r\n"),
        // `domain` keeps Verisign from listing nameserver and registrar objects of the same name.
        "whois.verisign-grs.com" => format!("domain {domain}\r\n"),
        _ => format!("{domain}\r\n"),
    }
}

/// Sends the query and reads to EOF, all within `timeout`, refusing answers over `max_bytes`.
async fn query(server: &WhoisServer, line: &str, timeout: Duration, max_bytes: usize) -> Result<Vec<u8>, WhoisError> {
    let service = server.to_string();
    let exchange = async {
        let mut stream = TcpStream::connect((server.host.as_str(), server.port)).await?;
        stream.write_all(line.as_bytes()).await?;
        let mut answer = Vec::new();
        let mut buf = vec![0u8; 16 * 1024];
        loop {
            let n = stream.read(&mut buf).await?;
            if n == 0 {
                return Ok::<_, std::io::Error>(Some(answer));
            }
            if answer.len() + n > max_bytes {
                return Ok(None);
            }
            answer.extend_from_slice(&buf[..n]);
        }
    };
    match tokio::time::timeout(timeout, exchange).await {
        Err(_) => Err(WhoisError::Timeout { service, timeout }),
        Ok(Err(e)) => Err(WhoisError::Transport { service, message: e.to_string() }),
        Ok(Ok(None)) => Err(WhoisError::TooLarge { service, limit: max_bytes }),
        Ok(Ok(Some(answer))) => Ok(answer),
    }
}

/// Most servers send UTF-8; the rest send their country's legacy code page.
fn decode(bytes: &[u8], domain: &str) -> String {
    if let Ok(text) = std::str::from_utf8(bytes) {
        return text.to_string();
    }
    let legacy = if domain.ends_with(".tr") { encoding_rs::WINDOWS_1254 } else { encoding_rs::WINDOWS_1252 };
    legacy.decode_without_bom_handling(bytes).0.into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_server_is_a_host_with_port_43_unless_a_port_is_given() {
        assert_eq!(WhoisServer::parse("whois.mx"), Some(WhoisServer::new("whois.mx", 43)));
        assert_eq!(WhoisServer::parse("Whois.Example:4343"), Some(WhoisServer::new("whois.example", 4343)));
        assert_eq!(WhoisServer::parse("127.0.0.1:4343"), Some(WhoisServer::new("127.0.0.1", 4343)));
        assert_eq!(WhoisServer::parse("[::1]:4343"), Some(WhoisServer::new("::1", 4343)));
        for bad in ["", "two words", "host:port", "::1"] {
            assert_eq!(WhoisServer::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn a_server_displays_its_port_only_when_it_is_not_43() {
        assert_eq!(WhoisServer::new("whois.mx", 43).to_string(), "whois.mx");
        assert_eq!(WhoisServer::new("127.0.0.1", 4343).to_string(), "127.0.0.1:4343");
        assert_eq!(WhoisServer::new("::1", 4343).to_string(), "[::1]:4343");
    }

    #[test]
    fn the_built_in_table_queries_the_listed_servers_for_tlds_without_rdap() {
        let table = default_whois_servers();
        for (tld, host) in
            [("tr", "whois.trabis.gov.tr"), ("cn", "whois.cnnic.cn"), ("ru", "whois.tcinet.ru"), ("mx", "whois.mx")]
        {
            assert_eq!(table[tld], WhoisServer::new(host, 43), "{tld}");
        }
    }

    #[test]
    fn servers_with_their_own_query_syntax_get_it() {
        assert_eq!(query_line("whois.denic.de", "example.de"), "-T dn,ace example.de\r\n");
        assert_eq!(query_line("whois.jprs.jp", "example.jp"), "example.jp/e\r\n");
        assert_eq!(query_line("whois.trabis.gov.tr", "example.com.tr"), "example.com.tr\r\n");
    }

    #[test]
    fn a_turkish_answer_that_is_not_utf8_is_read_as_windows_1254() {
        // "Şirket" in windows-1254.
        assert_eq!(decode(b"\xDEirket", "example.com.tr"), "Şirket");
        assert_eq!(decode("Şirket".as_bytes(), "example.com.tr"), "Şirket");
    }
}
