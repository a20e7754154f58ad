//! Lookups against local fakes: wiremock for RDAP, TCP listeners on loopback for port-43 WHOIS.

use super::*;
use std::time::Instant;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;
use wiremock::matchers::{headers, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

/// What rdap.verisign.com answers for a .com domain (trimmed links and notices).
const VERISIGN_RDAP: &str = r#"{
  "objectClassName": "domain",
  "handle": "2138514_DOMAIN_COM-VRSN",
  "ldhName": "EXAMPLE.COM",
  "links": [{"value": "https://rdap.verisign.com/com/v1/domain/EXAMPLE.COM", "rel": "self",
             "href": "https://rdap.verisign.com/com/v1/domain/EXAMPLE.COM", "type": "application/rdap+json"},
            {"value": "https://rdap.markmonitor.com/rdap/domain/EXAMPLE.COM", "rel": "related",
             "href": "https://rdap.markmonitor.com/rdap/domain/EXAMPLE.COM", "type": "application/rdap+json"}],
  "status": ["client delete prohibited", "client transfer prohibited", "server update prohibited"],
  "entities": [{
    "objectClassName": "entity", "handle": "292", "roles": ["registrar"],
    "publicIds": [{"type": "IANA Registrar ID", "identifier": "292"}],
    "vcardArray": ["vcard", [["version", {}, "text", "4.0"], ["fn", {}, "text", "MarkMonitor Inc."]]],
    "entities": [{"objectClassName": "entity", "roles": ["abuse"],
      "vcardArray": ["vcard", [["version", {}, "text", "4.0"], ["fn", {}, "text", ""],
        ["tel", {"type": "voice"}, "uri", "tel:+1.2086851750"], ["email", {}, "text", "abusecomplaints@markmonitor.com"]]]}]
  }],
  "events": [
    {"eventAction": "registration", "eventDate": "1997-09-15T04:00:00Z"},
    {"eventAction": "expiration", "eventDate": "2028-09-14T04:00:00Z"},
    {"eventAction": "last changed", "eventDate": "2019-09-09T15:39:04Z"},
    {"eventAction": "last update of RDAP database", "eventDate": "2026-11-23T10:00:00Z"}
  ],
  "secureDNS": {"delegationSigned": false},
  "nameservers": [
    {"objectClassName": "nameserver", "ldhName": "NS1.EXAMPLE.COM"},
    {"objectClassName": "nameserver", "ldhName": "NS2.EXAMPLE.COM"}
  ],
  "rdapConformance": ["rdap_level_0", "icann_rdap_technical_implementation_guide_1", "icann_rdap_response_profile_1"],
  "notices": [{"title": "Terms of Use", "description": ["Service subject to Terms of Use."]}]
}"#;

/// whois.verisign-grs.com's thin answer, legal text included.
const VERISIGN_WHOIS: &str = "   Domain Name: EXAMPLE.NET\r
   Registry Domain ID: 4450412_DOMAIN_NET-VRSN\r
   Registrar WHOIS Server: whois.markmonitor.com\r
   Registrar URL: http://www.markmonitor.com\r
   Updated Date: 2024-08-14T07:01:34Z\r
   Creation Date: 1999-03-15T05:00:00Z\r
   Registry Expiry Date: 2027-03-15T04:00:00Z\r
   Registrar: MarkMonitor Inc.\r
   Registrar IANA ID: 292\r
   Registrar Abuse Contact Email: abusecomplaints@markmonitor.com\r
   Registrar Abuse Contact Phone: +1.2086851750\r
   Domain Status: clientDeleteProhibited https://icann.org/epp#clientDeleteProhibited\r
   Name Server: NS1.EXAMPLE.NET\r
   Name Server: NS2.EXAMPLE.NET\r
   DNSSEC: unsigned\r
   URL of the ICANN Whois Inaccuracy Complaint Form: https://www.icann.org/wicf/\r
>>> Last update of whois database: 2026-11-23T10:00:00Z <<<\r
\r
For more information on Whois status codes, please visit https://icann.org/epp\r
\r
NOTICE: The expiration date displayed in this record is the date the\r
registrar's sponsorship of the domain name registration in the registry is\r
currently set to expire. This date does not necessarily reflect the expiration\r
date of the domain name registrant's agreement with the sponsoring\r
registrar.\r
";

/// whois.trabis.gov.tr's answer for a .com.tr domain.
const TRABIS_WHOIS: &str = "** Domain Name: example.com.tr
Domain Status: Active
Frozen Status: -
Transfer Status: The domain is LOCKED to transfer.

** Registrant:
   Örnek Teknoloji A.Ş.
   Hidden upon user request
   Hidden upon user request


** Registrar:
NIC Handle\t\t: tyh14-metu
Organization Name\t: TURKTICARET.NET YAZILIM HIZMETLERI SANAYI VE TICARET A.S.
Address\t\t\t: Hidden upon user request
Phone\t\t\t: Hidden upon user request
Fax\t\t\t: Hidden upon user request


** Domain Servers:
ns1.example.com.tr \nns2.example.com.tr 

** Additional Info:
Created on..............: 2001-Aug-23.
Expires on..............: 2026-Aug-22.
";

/// A registrar that writes dates its own way, with a registrant section that must not be mistaken
/// for the registrar.
const ODD_DATES_WHOIS: &str = "Domain Name:       example.mx

Created On:        15/09/1997
Expiration Date:   14-Sep-2028
Last Updated On:   Mon Apr 14 10:00:00 CST 2025
Registrar:         Akky (Una division de NIC Mexico)
URL:               http://www.akky.mx

Registrant:
   Name:           Ejemplo S.A. de C.V.
   City:           Monterrey

Name Servers:
   DNS:            ns1.example.mx
   DNS:            ns2.example.mx
";

fn date(y: i32, m: u32, d: u32) -> Option<NaiveDate> {
    NaiveDate::from_ymd_opt(y, m, d)
}

/// A bootstrap routing `tlds` (and always `com`, which a valid file must cover) to `base`.
fn bootstrap_to(base: &str, tlds: &[&str]) -> Bootstrap {
    let mut services = vec![format!(r#"[["com"], ["{base}/"]]"#)];
    services.extend(tlds.iter().map(|tld| format!(r#"[["{tld}"], ["{base}/"]]"#)));
    Bootstrap::parse(&format!(r#"{{"version": "1.0", "services": [{}]}}"#, services.join(","))).unwrap()
}

fn client(bootstrap: Bootstrap, whois: &[(&str, &WhoisServer)]) -> WhoisClient {
    WhoisClient::new(WhoisConfig {
        bootstrap,
        whois_servers: whois.iter().map(|(tld, server)| (tld.to_string(), (*server).clone())).collect(),
        iana_whois: None,
        rdap_timeout: Duration::from_millis(500),
        whois_timeout: Duration::from_millis(500),
        rdap_max_bytes: 64 * 1024,
        whois_max_bytes: 64 * 1024,
    })
    .unwrap()
}

/// A port-43 server that answers every connection with `answer`; it records the query lines.
struct FakeWhois {
    server: WhoisServer,
    queries: Arc<Mutex<Vec<String>>>,
}

impl FakeWhois {
    async fn answering(answer: impl Into<Vec<u8>>) -> Self {
        let answer = Arc::new(answer.into());
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let server = WhoisServer::new("127.0.0.1", listener.local_addr().unwrap().port());
        let queries = Arc::new(Mutex::new(Vec::new()));
        let recorded = queries.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let (answer, recorded) = (answer.clone(), recorded.clone());
                tokio::spawn(async move {
                    let mut stream = BufReader::new(stream);
                    let mut line = String::new();
                    if stream.read_line(&mut line).await.is_ok() {
                        recorded.lock().unwrap().push(line);
                        let _ = stream.get_mut().write_all(&answer).await;
                        let _ = stream.get_mut().shutdown().await;
                    }
                });
            }
        });
        FakeWhois { server, queries }
    }

    fn queries(&self) -> Vec<String> {
        self.queries.lock().unwrap().clone()
    }
}

/// Accepts connections and never says a word.
async fn silent_whois() -> WhoisServer {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let server = WhoisServer::new("127.0.0.1", listener.local_addr().unwrap().port());
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((stream, _)) = listener.accept().await {
            held.push(stream);
        }
    });
    server
}

async fn rdap_server_answering(template: ResponseTemplate) -> MockServer {
    let rdap = MockServer::start().await;
    Mock::given(method("GET")).and(path("/domain/example.com")).respond_with(template).mount(&rdap).await;
    rdap
}

// --- RDAP ---

#[tokio::test]
async fn a_verisign_style_rdap_answer_gives_registrar_dates_and_nameservers() {
    let rdap = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/domain/example.com"))
        .and(headers("accept", vec!["application/rdap+json", "application/json"]))
        .respond_with(ResponseTemplate::new(200).set_body_raw(VERISIGN_RDAP, "application/rdap+json"))
        .mount(&rdap)
        .await;

    let found = client(bootstrap_to(&rdap.uri(), &[]), &[]).lookup("Example.COM.").await.unwrap().unwrap();

    assert_eq!(
        found,
        Registration {
            registrar: Some("MarkMonitor Inc.".into()),
            created: date(1997, 9, 15),
            expires: date(2028, 9, 14),
            nameservers: vec!["ns1.example.com".into(), "ns2.example.com".into()],
            source: RegistrationSource::Rdap { url: format!("{}/domain/example.com", rdap.uri()) },
        }
    );
}

#[test]
fn a_registration_is_stored_as_plain_json() {
    let registration = Registration {
        registrar: Some("MarkMonitor Inc.".into()),
        created: date(1997, 9, 15),
        expires: None,
        nameservers: vec!["ns1.example.com".into()],
        source: RegistrationSource::Whois { server: "whois.trabis.gov.tr".into() },
    };
    let json = serde_json::to_value(&registration).unwrap();
    assert_eq!(
        json,
        serde_json::json!({"registrar": "MarkMonitor Inc.", "created": "1997-09-15", "expires": null,
            "nameservers": ["ns1.example.com"], "source": {"kind": "whois", "server": "whois.trabis.gov.tr"}})
    );
    assert_eq!(serde_json::from_value::<Registration>(json).unwrap(), registration);
}

#[tokio::test]
async fn an_rdap_404_means_the_domain_is_not_registered_and_whois_is_not_asked() {
    let rdap = rdap_server_answering(ResponseTemplate::new(404)).await;
    let whois = FakeWhois::answering(VERISIGN_WHOIS).await;

    let found = client(bootstrap_to(&rdap.uri(), &[]), &[("com", &whois.server)]).lookup("example.com").await;

    assert_eq!(found.unwrap(), None);
    assert!(whois.queries().is_empty());
}

#[tokio::test]
async fn an_rdap_server_error_falls_back_to_port_43_whois() {
    let rdap = rdap_server_answering(ResponseTemplate::new(500)).await;
    let whois = FakeWhois::answering(VERISIGN_WHOIS).await;

    let found = client(bootstrap_to(&rdap.uri(), &[]), &[("com", &whois.server)]).lookup("example.com").await;

    let found = found.unwrap().unwrap();
    assert_eq!(found.source, RegistrationSource::Whois { server: whois.server.to_string() });
    assert_eq!(found.registrar.as_deref(), Some("MarkMonitor Inc."));
}

#[tokio::test]
async fn an_rdap_server_error_without_a_whois_server_is_reported() {
    let rdap = rdap_server_answering(ResponseTemplate::new(500)).await;

    let err = client(bootstrap_to(&rdap.uri(), &[]), &[]).lookup("example.com").await.unwrap_err();

    assert!(matches!(err, WhoisError::Http { status: 500, .. }), "{err}");
}

#[tokio::test]
async fn when_rdap_and_whois_both_fail_the_rdap_failure_is_reported() {
    let rdap = rdap_server_answering(ResponseTemplate::new(503)).await;
    let silent = silent_whois().await;

    let err = client(bootstrap_to(&rdap.uri(), &[]), &[("com", &silent)]).lookup("example.com").await.unwrap_err();

    assert!(matches!(err, WhoisError::Http { status: 503, .. }), "{err}");
}

#[tokio::test]
async fn an_rdap_redirect_is_followed_and_the_answering_url_is_the_source() {
    let registry = MockServer::start().await;
    let registrar = MockServer::start().await;
    let answering_url = format!("{}/rdap/domain/example.com", registrar.uri());
    Mock::given(path("/domain/example.com"))
        .respond_with(ResponseTemplate::new(302).insert_header("location", answering_url.as_str()))
        .mount(&registry)
        .await;
    Mock::given(path("/rdap/domain/example.com"))
        .respond_with(ResponseTemplate::new(200).set_body_raw(VERISIGN_RDAP, "application/rdap+json"))
        .mount(&registrar)
        .await;

    let found = client(bootstrap_to(&registry.uri(), &[]), &[]).lookup("example.com").await.unwrap().unwrap();

    assert_eq!(found.source, RegistrationSource::Rdap { url: answering_url });
    assert_eq!(found.expires, date(2028, 9, 14));
}

#[tokio::test]
async fn an_rdap_redirect_loop_is_an_error() {
    let rdap = MockServer::start().await;
    let same_url = format!("{}/domain/example.com", rdap.uri());
    Mock::given(path("/domain/example.com"))
        .respond_with(ResponseTemplate::new(301).insert_header("location", same_url.as_str()))
        .mount(&rdap)
        .await;

    let err = client(bootstrap_to(&rdap.uri(), &[]), &[]).lookup("example.com").await.unwrap_err();

    assert!(matches!(err, WhoisError::Transport { .. }), "{err}");
}

#[tokio::test]
async fn a_slow_rdap_server_times_out() {
    let rdap = rdap_server_answering(
        ResponseTemplate::new(200)
            .set_body_raw(VERISIGN_RDAP, "application/rdap+json")
            .set_delay(Duration::from_secs(5)),
    )
    .await;

    let started = Instant::now();
    let err = client(bootstrap_to(&rdap.uri(), &[]), &[]).lookup("example.com").await.unwrap_err();

    assert!(matches!(err, WhoisError::Timeout { .. }), "{err}");
    assert!(started.elapsed() < Duration::from_secs(3), "{:?}", started.elapsed());
}

#[tokio::test]
async fn an_oversized_rdap_answer_is_refused() {
    let huge = format!(r#"{{"objectClassName": "domain", "padding": "{}"}}"#, "x".repeat(200 * 1024));
    let rdap = rdap_server_answering(ResponseTemplate::new(200).set_body_raw(huge, "application/rdap+json")).await;

    let err = client(bootstrap_to(&rdap.uri(), &[]), &[]).lookup("example.com").await.unwrap_err();

    assert!(matches!(err, WhoisError::TooLarge { limit: 65536, .. }), "{err}");
}

#[tokio::test]
async fn an_rdap_answer_that_is_not_json_is_malformed() {
    let rdap =
        rdap_server_answering(ResponseTemplate::new(200).set_body_raw("<html>maintenance</html>", "text/html")).await;

    let err = client(bootstrap_to(&rdap.uri(), &[]), &[]).lookup("example.com").await.unwrap_err();

    assert!(matches!(err, WhoisError::Malformed { .. }), "{err}");
}

#[tokio::test]
async fn an_rdap_rate_limit_is_reported_as_such() {
    let rdap = rdap_server_answering(ResponseTemplate::new(429)).await;

    let err = client(bootstrap_to(&rdap.uri(), &[]), &[]).lookup("example.com").await.unwrap_err();

    assert!(matches!(err, WhoisError::RateLimited { .. }), "{err}");
}

#[tokio::test]
async fn an_rdap_answer_without_any_field_falls_back_to_whois() {
    let rdap = rdap_server_answering(
        ResponseTemplate::new(200)
            .set_body_raw(r#"{"objectClassName": "domain", "ldhName": "example.com"}"#, "application/rdap+json"),
    )
    .await;
    let whois = FakeWhois::answering(VERISIGN_WHOIS).await;

    let found = client(bootstrap_to(&rdap.uri(), &[]), &[("com", &whois.server)]).lookup("example.com").await;

    assert_eq!(found.unwrap().unwrap().source, RegistrationSource::Whois { server: whois.server.to_string() });
}

// --- port-43 WHOIS ---

#[tokio::test]
async fn a_verisign_thin_whois_answer_is_parsed() {
    let whois = FakeWhois::answering(VERISIGN_WHOIS).await;

    // A bootstrap without .net, so the lookup goes straight to port 43.
    let rdap_less = bootstrap_to("http://127.0.0.1:9", &[]);
    let found = client(rdap_less, &[("net", &whois.server)]).lookup("example.net").await.unwrap().unwrap();

    assert_eq!(
        found,
        Registration {
            registrar: Some("MarkMonitor Inc.".into()),
            created: date(1999, 3, 15),
            expires: date(2027, 3, 15),
            nameservers: vec!["ns1.example.net".into(), "ns2.example.net".into()],
            source: RegistrationSource::Whois { server: whois.server.to_string() },
        }
    );
}

#[tokio::test]
async fn a_tr_answer_is_read_from_its_registrar_and_domain_server_sections() {
    let whois = FakeWhois::answering(TRABIS_WHOIS).await;

    let found =
        client(Bootstrap::embedded(), &[("tr", &whois.server)]).lookup("example.com.tr").await.unwrap().unwrap();

    assert_eq!(found.registrar.as_deref(), Some("TURKTICARET.NET YAZILIM HIZMETLERI SANAYI VE TICARET A.S."));
    assert_eq!((found.created, found.expires), (date(2001, 8, 23), date(2026, 8, 22)));
    assert_eq!(found.nameservers, ["ns1.example.com.tr", "ns2.example.com.tr"]);
    assert_eq!(whois.queries(), ["example.com.tr\r\n"]);
}

#[tokio::test]
async fn a_registrar_with_odd_date_formats_is_understood() {
    let whois = FakeWhois::answering(ODD_DATES_WHOIS).await;

    let found = client(Bootstrap::embedded(), &[("mx", &whois.server)]).lookup("example.mx").await.unwrap().unwrap();

    assert_eq!(found.registrar.as_deref(), Some("Akky (Una division de NIC Mexico)"));
    assert_eq!((found.created, found.expires), (date(1997, 9, 15), date(2028, 9, 14)));
    assert_eq!(found.nameservers, ["ns1.example.mx", "ns2.example.mx"]);
}

#[tokio::test]
async fn a_whois_no_match_means_the_domain_is_not_registered() {
    let whois = FakeWhois::answering("No match for \"NOPE.CN\".\r\n").await;

    let found = client(Bootstrap::embedded(), &[("cn", &whois.server)]).lookup("nope.cn").await;

    assert_eq!(found.unwrap(), None);
}

#[tokio::test]
async fn a_whois_server_refusing_to_answer_is_rate_limiting() {
    let whois = FakeWhois::answering("%% Query rate limit exceeded. Try again later.\r\n").await;

    let err = client(Bootstrap::embedded(), &[("ru", &whois.server)]).lookup("example.ru").await.unwrap_err();

    assert!(matches!(err, WhoisError::RateLimited { .. }), "{err}");
}

#[tokio::test]
async fn a_whois_server_that_never_answers_times_out() {
    let silent = silent_whois().await;

    let started = Instant::now();
    let err = client(Bootstrap::embedded(), &[("tr", &silent)]).lookup("example.com.tr").await.unwrap_err();

    assert!(matches!(err, WhoisError::Timeout { .. }), "{err}");
    assert!(started.elapsed() < Duration::from_secs(3), "{:?}", started.elapsed());
}

#[tokio::test]
async fn a_huge_whois_answer_is_refused_without_reading_it_all() {
    let whois = FakeWhois::answering(vec![b'x'; 20 * 1024 * 1024]).await;

    let started = Instant::now();
    let err = client(Bootstrap::embedded(), &[("tr", &whois.server)]).lookup("example.com.tr").await.unwrap_err();

    assert!(matches!(err, WhoisError::TooLarge { limit: 65536, .. }), "{err}");
    assert!(started.elapsed() < Duration::from_secs(3), "{:?}", started.elapsed());
}

#[tokio::test]
async fn a_refused_whois_connection_is_a_transport_error() {
    let closed = {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        WhoisServer::new("127.0.0.1", listener.local_addr().unwrap().port())
    };

    let err = client(Bootstrap::embedded(), &[("tr", &closed)]).lookup("example.com.tr").await.unwrap_err();

    assert!(matches!(err, WhoisError::Transport { .. }), "{err}");
}

// --- choosing a service ---

#[tokio::test]
async fn a_tld_without_rdap_or_whois_is_reported() {
    let err = client(Bootstrap::embedded(), &[]).lookup("example.zz").await.unwrap_err();

    assert!(matches!(&err, WhoisError::NoService { tld } if tld == "zz"), "{err}");
}

#[tokio::test]
async fn an_unlisted_tld_is_looked_up_on_the_server_iana_refers_to() {
    let registry = FakeWhois::answering(VERISIGN_WHOIS).await;
    let iana = FakeWhois::answering(format!(
        "% IANA WHOIS server\r\n\r\ndomain:       ZZ\r\n\r\norganisation: Example Registry\r\n\r\nwhois:        {}\r\n\r\nstatus:       ACTIVE\r\n",
        registry.server
    ))
    .await;
    let mut config =
        WhoisConfig { bootstrap: Bootstrap::embedded(), whois_servers: HashMap::new(), ..WhoisConfig::default() };
    config.iana_whois = Some(iana.server.clone());
    config.whois_timeout = Duration::from_millis(500);
    let client = WhoisClient::new(config).unwrap();

    let first = client.lookup("example.zz").await.unwrap().unwrap();
    let second = client.lookup("other.zz").await.unwrap().unwrap();

    assert_eq!(first.source, RegistrationSource::Whois { server: registry.server.to_string() });
    assert_eq!(second.registrar, first.registrar);
    assert_eq!(iana.queries(), ["zz\r\n"], "one referral per TLD");
    assert_eq!(registry.queries(), ["example.zz\r\n", "other.zz\r\n"]);
}

#[tokio::test]
async fn a_name_that_is_not_a_domain_is_rejected() {
    let client = client(Bootstrap::embedded(), &[]);
    for bad in ["", "localhost", "a..com", "exa mple.com"] {
        assert!(matches!(client.lookup(bad).await, Err(WhoisError::InvalidDomain(_))), "{bad}");
    }
}

#[tokio::test]
async fn an_idn_is_queried_in_punycode() {
    let whois = FakeWhois::answering(TRABIS_WHOIS).await;

    let _ = client(Bootstrap::embedded(), &[("tr", &whois.server)]).lookup("örnek.com.tr").await;

    assert_eq!(whois.queries(), ["xn--rnek-4qa.com.tr\r\n"]);
}

// --- refreshing the bootstrap ---

#[tokio::test]
async fn a_refreshed_bootstrap_is_stored_in_the_state_dir_and_used_at_once() {
    let iana = MockServer::start().await;
    let file = format!(
        r#"{{"description": "RDAP bootstrap file for Domain Name System registrations", "publication": "2026-11-23T19:00:02Z",
            "services": [[["com", "net"], ["{0}/"]], [["zz"], ["{0}/zz/"]]], "version": "1.0"}}"#,
        iana.uri()
    );
    Mock::given(path("/rdap/dns.json"))
        .respond_with(ResponseTemplate::new(200).set_body_raw(file.clone(), "application/json"))
        .mount(&iana)
        .await;
    Mock::given(path("/zz/domain/example.zz"))
        .respond_with(ResponseTemplate::new(200).set_body_raw(VERISIGN_RDAP, "application/rdap+json"))
        .mount(&iana)
        .await;
    let state = tempfile::tempdir().unwrap();
    let client = client(Bootstrap::embedded(), &[]);
    assert!(matches!(client.lookup("example.zz").await, Err(WhoisError::NoService { .. })));

    client.refresh_bootstrap(&format!("{}/rdap/dns.json", iana.uri()), state.path()).await.unwrap();

    assert_eq!(std::fs::read_to_string(state.path().join(bootstrap::STATE_FILE)).unwrap(), file);
    assert_eq!(Bootstrap::load(state.path()).1, BootstrapOrigin::StateDir(state.path().join(bootstrap::STATE_FILE)));
    assert!(client.lookup("example.zz").await.unwrap().is_some());
    let leftovers: Vec<_> = std::fs::read_dir(state.path()).unwrap().collect();
    assert_eq!(leftovers.len(), 1, "no temporary file left behind");
}

#[tokio::test]
async fn a_refresh_that_downloads_garbage_keeps_the_previous_copy() {
    let iana = MockServer::start().await;
    Mock::given(path("/rdap/dns.json"))
        .respond_with(ResponseTemplate::new(200).set_body_string("<html>oops</html>"))
        .mount(&iana)
        .await;
    let state = tempfile::tempdir().unwrap();
    let previous = r#"{"services": [[["com"], ["https://mirror.example/"]]]}"#;
    std::fs::write(state.path().join(bootstrap::STATE_FILE), previous).unwrap();
    let client = client(Bootstrap::embedded(), &[]);

    let err = client.refresh_bootstrap(&format!("{}/rdap/dns.json", iana.uri()), state.path()).await.unwrap_err();

    assert!(matches!(err, BootstrapError::Invalid(_)), "{err}");
    assert_eq!(std::fs::read_to_string(state.path().join(bootstrap::STATE_FILE)).unwrap(), previous);
}

#[tokio::test]
async fn a_failed_bootstrap_download_is_reported() {
    let iana = MockServer::start().await;
    Mock::given(path("/rdap/dns.json")).respond_with(ResponseTemplate::new(503)).mount(&iana).await;
    let state = tempfile::tempdir().unwrap();

    let err = client(Bootstrap::embedded(), &[])
        .refresh_bootstrap(&format!("{}/rdap/dns.json", iana.uri()), state.path())
        .await
        .unwrap_err();

    assert!(matches!(err, BootstrapError::Download { .. }), "{err}");
    assert!(!state.path().join(bootstrap::STATE_FILE).exists());
}

#[test]
fn settings_override_the_built_in_whois_table_and_set_the_timeouts() {
    let settings: WhoisSettings =
        toml::from_str("rdap_timeout_ms = 1500\nwhois_timeout_ms = 2500\n[servers]\n\".tr\" = \"whois.nic.tr\"\n")
            .unwrap();
    let state = tempfile::tempdir().unwrap();

    let config = WhoisConfig::from_settings(&settings, state.path());

    assert_eq!(config.whois_servers["tr"], WhoisServer::new("whois.nic.tr", 43));
    assert_eq!(config.whois_servers["cn"], WhoisServer::new("whois.cnnic.cn", 43));
    assert_eq!((config.rdap_timeout, config.whois_timeout), (Duration::from_millis(1500), Duration::from_millis(2500)));
    assert_eq!(config.bootstrap, Bootstrap::embedded());
}
