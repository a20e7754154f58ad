//! An in-process DNS server on loopback (UDP and TCP, random free port) playing the part of a
//! recursive resolver for zones a test builds in code: it follows CNAMEs across zones, answers
//! NXDOMAIN for unknown names and NODATA for names that exist (empty non-terminals included), and can
//! misbehave per name (SERVFAIL, REFUSED, silence) or answer every query late.
//!
//! ```ignore
//! let dns = DnsServer::start(vec![
//!     Zone::new("contoso.com").mx(10, "contoso-com.mail.protection.outlook.com").txt("v=spf1 include:spf.protection.outlook.com -all"),
//! ]);
//! let config = ScanConfig { nameservers: vec![dns.nameserver()], ..ScanConfig::default() };
//! ```
//!
//! `DnsServer::builder().synthetic()` additionally answers for `d{i}.bench.test` (and the provider
//! names they point at) from the name alone, so benchmarks need not store 100k zones.
//!
//! The server runs on its own thread and Tokio runtime, so it neither competes with nor depends on
//! the runtime of the code under test.

use hickory_proto::op::{Edns, Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::rdata::{A, AAAA, CNAME, MX, SOA, TXT};
use hickory_proto::rr::{Name, RData, Record, RecordType};
use std::collections::HashMap;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::os::fd::AsRawFd;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const TTL: u32 = 300;
const NEGATIVE_TTL: u32 = 60;
/// What we advertise and honour as the EDNS UDP payload size.
const EDNS_PAYLOAD: u16 = 1232;

/// How the server misbehaves for a name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Behaviour {
    ServFail,
    Refused,
    /// No answer at all: the client times out.
    Drop,
}

/// Records under one origin. Owner names are relative to the origin (`"@"` or `""` is the origin
/// itself) unless they end with a dot or already end with the origin.
#[derive(Debug, Clone)]
pub struct Zone {
    origin: String,
    records: Vec<(String, RData)>,
    behaviours: Vec<(String, Option<RecordType>, Behaviour)>,
}

fn norm(name: &str) -> String {
    name.trim_end_matches('.').to_ascii_lowercase()
}

fn name(s: &str) -> Name {
    Name::from_ascii(format!("{}.", norm(s))).unwrap_or_else(|e| panic!("bad DNS name {s:?}: {e}"))
}

/// A TXT with `text` split into 255-byte strings, as a zone file would.
fn txt_rdata(text: &str) -> RData {
    let chunks: Vec<&[u8]> = text.as_bytes().chunks(255).collect();
    RData::TXT(TXT::from_bytes(if chunks.is_empty() { vec![b"".as_slice()] } else { chunks }))
}

impl Zone {
    pub fn new(origin: &str) -> Zone {
        Zone { origin: norm(origin), records: Vec::new(), behaviours: Vec::new() }
    }

    pub fn origin(&self) -> &str {
        &self.origin
    }

    fn owner(&self, owner: &str) -> String {
        let o = owner.to_ascii_lowercase();
        if o.is_empty() || o == "@" {
            self.origin.clone()
        } else if o.ends_with('.') || o == self.origin || o.ends_with(&format!(".{}", self.origin)) {
            norm(&o)
        } else {
            format!("{o}.{}", self.origin)
        }
    }

    /// Any record at `owner`.
    pub fn record(mut self, owner: &str, rdata: RData) -> Zone {
        let owner = self.owner(owner);
        self.records.push((owner, rdata));
        self
    }

    /// MX at the origin; `host` is absolute (`"."` for the null MX).
    pub fn mx(self, preference: u16, host: &str) -> Zone {
        // Case is kept as given: the scanner is the one that must normalise it.
        let exchange = match host {
            "." => Name::root(),
            h if h.ends_with('.') => Name::from_ascii(h).expect("MX host"),
            h => Name::from_ascii(format!("{h}.")).expect("MX host"),
        };
        self.record("@", RData::MX(MX::new(preference, exchange)))
    }

    /// RFC 7505 null MX.
    pub fn null_mx(self) -> Zone {
        self.mx(0, ".")
    }

    /// TXT at the origin (split into 255-byte strings when longer).
    pub fn txt(self, text: &str) -> Zone {
        self.txt_at("@", text)
    }

    pub fn txt_at(self, owner: &str, text: &str) -> Zone {
        self.record(owner, txt_rdata(text))
    }

    /// One TXT record made of several strings, exactly as given.
    pub fn txt_strings(self, owner: &str, strings: &[&str]) -> Zone {
        self.record(owner, RData::TXT(TXT::new(strings.iter().map(|s| s.to_string()).collect())))
    }

    pub fn a(self, owner: &str, ip: &str) -> Zone {
        self.record(owner, RData::A(A(ip.parse::<Ipv4Addr>().expect("IPv4 address"))))
    }

    pub fn aaaa(self, owner: &str, ip: &str) -> Zone {
        self.record(owner, RData::AAAA(AAAA(ip.parse::<Ipv6Addr>().expect("IPv6 address"))))
    }

    /// `owner` is an alias of the absolute name `target`.
    pub fn cname(self, owner: &str, target: &str) -> Zone {
        self.record(owner, RData::CNAME(CNAME(name(target))))
    }

    pub fn dmarc(self, text: &str) -> Zone {
        self.txt_at("_dmarc", text)
    }

    pub fn dkim(self, selector: &str, text: &str) -> Zone {
        self.txt_at(&format!("{selector}._domainkey"), text)
    }

    pub fn dkim_cname(self, selector: &str, target: &str) -> Zone {
        self.cname(&format!("{selector}._domainkey"), target)
    }

    pub fn autodiscover_cname(self, target: &str) -> Zone {
        self.cname("autodiscover", target)
    }

    /// Misbehave for every query type at `owner`.
    pub fn behave(mut self, owner: &str, behaviour: Behaviour) -> Zone {
        let owner = self.owner(owner);
        self.behaviours.push((owner, None, behaviour));
        self
    }

    /// Misbehave for one query type at `owner`.
    pub fn behave_for(mut self, owner: &str, rtype: RecordType, behaviour: Behaviour) -> Zone {
        let owner = self.owner(owner);
        self.behaviours.push((owner, Some(rtype), behaviour));
        self
    }
}

/// What exists at a name.
enum Node<'a> {
    Missing,
    /// Exists (records, or an empty non-terminal).
    Records(std::borrow::Cow<'a, [RData]>),
}

struct State {
    /// Swapped whole by [`DnsServer::set_zones`]; each query works on one consistent snapshot.
    data: std::sync::RwLock<Arc<ZoneData>>,
    synthetic: bool,
    delay_us: AtomicU64,
    queries: AtomicU64,
    /// Answer CNAMEs alone, as an authoritative server does, instead of following them.
    cname_alone: bool,
    /// Queries held at once (received, answer not yet sent) before new ones are dropped; 0 = no limit.
    capacity: u64,
    held: AtomicU64,
    dropped: AtomicU64,
}

struct ZoneData {
    names: HashMap<String, Vec<RData>>,
    /// Zone origins, longest first (for the SOA of negative answers).
    origins: Vec<String>,
    behaviours: HashMap<(String, Option<RecordType>), Behaviour>,
}

impl ZoneData {
    fn build(zones: Vec<Zone>) -> ZoneData {
        let mut names: HashMap<String, Vec<RData>> = HashMap::new();
        let mut behaviours = HashMap::new();
        let mut origins = Vec::new();
        for zone in zones {
            names.entry(zone.origin.clone()).or_default();
            for (owner, rdata) in zone.records {
                // Every name between the owner and the origin exists (empty non-terminals).
                let mut parent = owner.as_str();
                while let Some((_, rest)) = parent.split_once('.') {
                    if rest.len() < zone.origin.len() {
                        break;
                    }
                    names.entry(rest.to_string()).or_default();
                    parent = rest;
                }
                names.entry(owner).or_default().push(rdata);
            }
            for (owner, rtype, behaviour) in zone.behaviours {
                behaviours.insert((owner, rtype), behaviour);
            }
            origins.push(zone.origin);
        }
        origins.sort_by_key(|o| std::cmp::Reverse(o.len()));
        ZoneData { names, origins, behaviours }
    }
}

impl State {
    fn snapshot(&self) -> Arc<ZoneData> {
        match self.data.read() {
            Ok(data) => data.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    fn node<'a>(&self, data: &'a ZoneData, qname: &str) -> Node<'a> {
        if self.synthetic
            && let Some(node) = synthetic::node(qname)
        {
            return node;
        }
        match data.names.get(qname) {
            Some(records) => Node::Records(std::borrow::Cow::Borrowed(records)),
            None => Node::Missing,
        }
    }

    fn soa_for(&self, data: &ZoneData, qname: &str) -> Record {
        let zone = data
            .origins
            .iter()
            .find(|o| qname == o.as_str() || qname.ends_with(&format!(".{o}")))
            .map_or_else(Name::root, |o| name(o));
        let mname = Name::from_ascii("ns.test.").expect("static name");
        let rname = Name::from_ascii("hostmaster.test.").expect("static name");
        let soa = SOA::new(mname, rname, 1, 3600, 600, 86400, NEGATIVE_TTL);
        Record::from_rdata(zone, NEGATIVE_TTL, RData::SOA(soa))
    }

    /// Answers like a recursive resolver: follows CNAMEs (up to 8), NXDOMAIN/NODATA with a SOA.
    fn resolve(&self, data: &ZoneData, qname: &str, qtype: RecordType) -> (ResponseCode, Vec<Record>, Vec<Record>) {
        let mut answers = Vec::new();
        let mut current = qname.to_string();
        for _ in 0..8 {
            let Node::Records(records) = self.node(data, &current) else {
                return (ResponseCode::NXDomain, answers, vec![self.soa_for(data, &current)]);
            };
            let owner = name(&current);
            let matching: Vec<&RData> = records.iter().filter(|r| r.record_type() == qtype).collect();
            if !matching.is_empty() {
                answers.extend(matching.into_iter().map(|r| Record::from_rdata(owner.clone(), TTL, r.clone())));
                return (ResponseCode::NoError, answers, Vec::new());
            }
            let cname = records.iter().find_map(|r| match r {
                RData::CNAME(c) if qtype != RecordType::CNAME => Some(c.0.clone()),
                _ => None,
            });
            match cname {
                Some(target) => {
                    answers.push(Record::from_rdata(owner, TTL, RData::CNAME(CNAME(target.clone()))));
                    if self.cname_alone {
                        return (ResponseCode::NoError, answers, Vec::new());
                    }
                    current = norm(&target.to_ascii());
                }
                None => return (ResponseCode::NoError, answers, vec![self.soa_for(data, &current)]),
            }
        }
        (ResponseCode::ServFail, Vec::new(), Vec::new())
    }

    /// The response bytes for a request, or `None` to stay silent.
    fn handle(&self, request: &[u8], udp: bool) -> Option<Vec<u8>> {
        let request = Message::from_vec(request).ok()?;
        let query = request.queries.first()?.clone();
        self.queries.fetch_add(1, Ordering::Relaxed);
        let qname = norm(&query.name().to_ascii());
        let qtype = query.query_type();
        let data = self.snapshot();
        let behaviour =
            data.behaviours.get(&(qname.clone(), Some(qtype))).or_else(|| data.behaviours.get(&(qname.clone(), None)));
        let (rcode, answers, authority) = match behaviour {
            Some(Behaviour::Drop) => return None,
            Some(Behaviour::ServFail) => (ResponseCode::ServFail, Vec::new(), Vec::new()),
            Some(Behaviour::Refused) => (ResponseCode::Refused, Vec::new(), Vec::new()),
            None => self.resolve(&data, &qname, qtype),
        };
        let mut response = response_to(&request, query, rcode);
        response.add_answers(answers).add_authorities(authority);
        let bytes = response.to_vec().ok()?;
        let limit = if request.edns.is_some() { usize::from(request.max_payload().max(512)) } else { 512 };
        if udp && bytes.len() > limit {
            let mut truncated = response_to(&request, request.queries[0].clone(), rcode);
            truncated.metadata.truncation = true;
            return truncated.to_vec().ok();
        }
        Some(bytes)
    }
}

fn response_to(request: &Message, query: Query, rcode: ResponseCode) -> Message {
    let mut response = Message::new(request.metadata.id, MessageType::Response, OpCode::Query);
    response.metadata.recursion_desired = request.metadata.recursion_desired;
    response.metadata.recursion_available = true;
    response.metadata.response_code = rcode;
    response.add_query(query);
    if request.edns.is_some() {
        let mut edns = Edns::new();
        edns.set_max_payload(EDNS_PAYLOAD).set_version(0);
        response.set_edns(edns);
    }
    response
}

/// How to start a [`DnsServer`].
#[derive(Default)]
pub struct DnsServerBuilder {
    zones: Vec<Zone>,
    synthetic: bool,
    delay: Duration,
    threads: usize,
    cname_alone: bool,
    capacity: u64,
}

impl DnsServerBuilder {
    pub fn zone(mut self, zone: Zone) -> Self {
        self.zones.push(zone);
        self
    }

    pub fn zones(mut self, zones: impl IntoIterator<Item = Zone>) -> Self {
        self.zones.extend(zones);
        self
    }

    /// Also answer for `d{i}.bench.test` and the provider names they use (see [`synthetic`]).
    pub fn synthetic(mut self) -> Self {
        self.synthetic = true;
        self
    }

    /// Every answer is sent this late (UDP and TCP).
    pub fn delay(mut self, delay: Duration) -> Self {
        self.delay = delay;
        self
    }

    /// Answer a name that is a CNAME with the CNAME alone (authoritative servers and some
    /// forwarders do), instead of following the chain like a recursive resolver.
    pub fn cname_alone(mut self) -> Self {
        self.cname_alone = true;
        self
    }

    /// Hold at most `queries` at once (received, answer not yet sent) and drop the rest, as a
    /// resolver with a small socket buffer does with a burst.
    pub fn capacity(mut self, queries: u64) -> Self {
        self.capacity = queries;
        self
    }

    /// Worker threads of the server's runtime (default 1).
    pub fn threads(mut self, threads: usize) -> Self {
        self.threads = threads;
        self
    }

    pub fn start(self) -> DnsServer {
        let state = Arc::new(State {
            data: std::sync::RwLock::new(Arc::new(ZoneData::build(self.zones))),
            synthetic: self.synthetic,
            delay_us: AtomicU64::new(self.delay.as_micros() as u64),
            queries: AtomicU64::new(0),
            cname_alone: self.cname_alone,
            capacity: self.capacity,
            held: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
        });
        let (udp, tcp) = bind_pair();
        let addr = udp.local_addr().expect("UDP address");
        let (shutdown, stop) = tokio::sync::oneshot::channel::<()>();
        let threads = self.threads.max(1);
        let server_state = state.clone();
        let thread = std::thread::Builder::new()
            .name("test-dns".into())
            .spawn(move || {
                let runtime = if threads == 1 {
                    tokio::runtime::Builder::new_current_thread().enable_all().build()
                } else {
                    tokio::runtime::Builder::new_multi_thread()
                        .worker_threads(threads)
                        .thread_name("test-dns-worker")
                        .enable_all()
                        .build()
                }
                .expect("DNS server runtime");
                runtime.block_on(async move {
                    let udp = Arc::new(tokio::net::UdpSocket::from_std(udp).expect("UDP socket"));
                    let tcp = tokio::net::TcpListener::from_std(tcp).expect("TCP listener");
                    let (late_tx, late_rx) = tokio::sync::mpsc::unbounded_channel();
                    tokio::spawn(send_late(udp.clone(), late_rx, server_state.clone()));
                    for _ in 0..threads {
                        tokio::spawn(serve_udp(udp.clone(), server_state.clone(), late_tx.clone()));
                    }
                    tokio::spawn(serve_tcp(tcp, server_state));
                    let _ = stop.await;
                });
            })
            .expect("spawn DNS server thread");
        DnsServer { addr, state, shutdown: Some(shutdown), thread: Some(thread) }
    }
}

/// A UDP socket and a TCP listener on the same free loopback port.
fn bind_pair() -> (std::net::UdpSocket, std::net::TcpListener) {
    for _ in 0..100 {
        let udp = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind UDP");
        let Ok(tcp) = std::net::TcpListener::bind(udp.local_addr().expect("UDP address")) else { continue };
        udp.set_nonblocking(true).expect("nonblocking UDP");
        tcp.set_nonblocking(true).expect("nonblocking TCP");
        // Bursts of tens of thousands of queries must not overflow the default receive buffer.
        let size: libc::c_int = 16 << 20;
        for option in [libc::SO_RCVBUFFORCE, libc::SO_RCVBUF, libc::SO_SNDBUFFORCE, libc::SO_SNDBUF] {
            // SAFETY: setsockopt with a valid fd and a pointer to a c_int of the stated size.
            unsafe {
                libc::setsockopt(
                    udp.as_raw_fd(),
                    libc::SOL_SOCKET,
                    option,
                    (&size as *const libc::c_int).cast(),
                    std::mem::size_of::<libc::c_int>() as libc::socklen_t,
                );
            }
        }
        return (udp, tcp);
    }
    panic!("no free port for both UDP and TCP on 127.0.0.1");
}

type Late = (tokio::time::Instant, Vec<u8>, SocketAddr);

async fn serve_udp(
    socket: Arc<tokio::net::UdpSocket>,
    state: Arc<State>,
    late: tokio::sync::mpsc::UnboundedSender<Late>,
) {
    let mut buf = vec![0u8; 4096];
    loop {
        let Ok((len, peer)) = socket.recv_from(&mut buf).await else { continue };
        if state.capacity > 0 && state.held.load(Ordering::Relaxed) >= state.capacity {
            state.queries.fetch_add(1, Ordering::Relaxed);
            state.dropped.fetch_add(1, Ordering::Relaxed);
            continue;
        }
        let Some(response) = state.handle(&buf[..len], true) else { continue };
        let delay = state.delay_us.load(Ordering::Relaxed);
        if delay == 0 {
            let _ = socket.send_to(&response, peer).await;
        } else {
            state.held.fetch_add(1, Ordering::Relaxed);
            let due = tokio::time::Instant::now() + Duration::from_micros(delay);
            let _ = late.send((due, response, peer));
        }
    }
}

/// Sends delayed answers in arrival order: the delay is the same for all, so due times only grow.
async fn send_late(
    socket: Arc<tokio::net::UdpSocket>,
    mut queue: tokio::sync::mpsc::UnboundedReceiver<Late>,
    state: Arc<State>,
) {
    while let Some((due, response, peer)) = queue.recv().await {
        tokio::time::sleep_until(due).await;
        let _ = socket.send_to(&response, peer).await;
        state.held.fetch_sub(1, Ordering::Relaxed);
    }
}

async fn serve_tcp(listener: tokio::net::TcpListener, state: Arc<State>) {
    loop {
        let Ok((mut stream, _)) = listener.accept().await else { continue };
        let state = state.clone();
        tokio::spawn(async move {
            loop {
                let Ok(len) = stream.read_u16().await else { return };
                let mut request = vec![0u8; usize::from(len)];
                if stream.read_exact(&mut request).await.is_err() {
                    return;
                }
                let Some(response) = state.handle(&request, false) else { continue };
                let delay = state.delay_us.load(Ordering::Relaxed);
                if delay > 0 {
                    tokio::time::sleep(Duration::from_micros(delay)).await;
                }
                let mut framed = (response.len() as u16).to_be_bytes().to_vec();
                framed.extend_from_slice(&response);
                if stream.write_all(&framed).await.is_err() {
                    return;
                }
            }
        });
    }
}

/// A running test DNS server; stopped when dropped.
pub struct DnsServer {
    addr: SocketAddr,
    state: Arc<State>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl DnsServer {
    pub fn builder() -> DnsServerBuilder {
        DnsServerBuilder::default()
    }

    /// A server for `zones`, answering at once.
    pub fn start(zones: impl IntoIterator<Item = Zone>) -> DnsServer {
        DnsServer::builder().zones(zones).start()
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `ip:port`, as `scan.nameservers` takes it.
    pub fn nameserver(&self) -> String {
        self.addr.to_string()
    }

    /// Queries received so far (UDP and TCP, answered or not).
    pub fn queries(&self) -> u64 {
        self.state.queries.load(Ordering::Relaxed)
    }

    /// Queries dropped because the server held [`DnsServerBuilder::capacity`] already.
    pub fn dropped(&self) -> u64 {
        self.state.dropped.load(Ordering::Relaxed)
    }

    /// CPU time used so far by the server's threads (all `test-dns*` threads of this process), so a
    /// benchmark can tell the server's share from the client's.
    pub fn cpu_time(&self) -> Duration {
        // SAFETY: sysconf has no preconditions.
        let ticks_per_second = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as u64;
        let mut ticks = 0u64;
        for entry in std::fs::read_dir("/proc/self/task").into_iter().flatten().flatten() {
            let comm = std::fs::read_to_string(entry.path().join("comm")).unwrap_or_default();
            if !comm.starts_with("test-dns") {
                continue;
            }
            let stat = std::fs::read_to_string(entry.path().join("stat")).unwrap_or_default();
            // Fields after the parenthesised name: state is the 3rd field, utime the 14th, stime the 15th.
            let fields: Vec<&str> =
                stat.rsplit_once(')').map(|(_, rest)| rest.split_whitespace().collect()).unwrap_or_default();
            ticks += fields.get(11).and_then(|f| f.parse::<u64>().ok()).unwrap_or(0);
            ticks += fields.get(12).and_then(|f| f.parse::<u64>().ok()).unwrap_or(0);
        }
        Duration::from_millis(ticks * 1000 / ticks_per_second)
    }

    /// Replaces every zone (and behaviour) at once, as if the domains had changed their DNS.
    pub fn set_zones(&self, zones: impl IntoIterator<Item = Zone>) {
        let data = Arc::new(ZoneData::build(zones.into_iter().collect()));
        match self.state.data.write() {
            Ok(mut current) => *current = data,
            Err(poisoned) => *poisoned.into_inner() = data,
        }
    }

    /// Changes the answer delay from now on.
    pub fn set_delay(&self, delay: Duration) {
        self.state.delay_us.store(delay.as_micros() as u64, Ordering::Relaxed);
    }
}

impl Drop for DnsServer {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Answers computed from the name, for benchmarks: `d{i}.bench.test` for any `i`, with a mix
/// decided by `i % 20`:
///
/// | `i % 20` | share | what |
/// |---|---|---|
/// | 0–7 | 40 % | Microsoft 365: tenant MX, SPF include, MS= TXT, autodiscover; DMARC on even `i`; selector1/2 CNAMEs into onmicrosoft.com when `i % 3 == 0` |
/// | 8–12 | 25 % | Google Workspace: five aspmx hosts (or smtp.google.com on odd `i`), `_spf.google.com` (three netblock includes), site verification, `google` DKIM on even `i`, DMARC p=none |
/// | 13–16 | 20 % | a hoster (one of 50): two MX hosts, SPF `a mx include:` a two-level include chain, `default` DKIM when `i % 4 == 0` |
/// | 17–18 | 10 % | self-hosted: `mail.d{i}` with A and AAAA, SPF `mx a ip4:`, DMARC reject, `mail` DKIM |
/// | 19 | 5 % | alternately no MX (SPF `-all`) and NXDOMAIN |
pub mod synthetic {
    use super::*;
    use std::borrow::Cow;

    pub const SUFFIX: &str = "bench.test";

    /// The `i`-th benchmark domain.
    pub fn domain(i: u64) -> String {
        format!("d{i}.{SUFFIX}")
    }

    const DKIM_KEY: &str = "v=DKIM1; k=rsa; p=MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAy8Dbv8prpJ/0kKhlGeJYozo2t60EG8L0561g13R29LvMR5hyvGZlGJpmn65s0h0zGoYr1w1Kyf3UUkVAvgbqhRI6kRE8ySpCyBZ2i7Zsj86W4y6M2mL1aV8mxLlX9pLv1x7Q1m7YhZ8o";

    fn txt(text: &str) -> RData {
        txt_rdata(text)
    }

    fn mx(preference: u16, host: &str) -> RData {
        RData::MX(MX::new(preference, name(host)))
    }

    fn cname(target: &str) -> RData {
        RData::CNAME(CNAME(name(target)))
    }

    fn a(i: u64) -> RData {
        RData::A(A(Ipv4Addr::new(198, 18, (i >> 8) as u8, i as u8)))
    }

    fn aaaa(i: u64) -> RData {
        RData::AAAA(AAAA(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, (i >> 16) as u16, i as u16)))
    }

    fn exists<'a>(records: Vec<RData>) -> Option<Node<'a>> {
        Some(Node::Records(Cow::Owned(records)))
    }

    /// What exists at `qname`, or `None` when the name is not the synthetic world's.
    pub(super) fn node(qname: &str) -> Option<Node<'static>> {
        if let Some(rest) = qname.strip_suffix(".bench.test") {
            return bench_domain(rest);
        }
        if let Some(tenant) = qname.strip_suffix(".mail.protection.outlook.com") {
            if tenant.contains('.') {
                return Some(Node::Missing);
            }
            return exists(vec![RData::A(A(Ipv4Addr::new(52, 101, 8, 1))), RData::A(A(Ipv4Addr::new(52, 101, 9, 1)))]);
        }
        if qname.ends_with(".onmicrosoft.com") {
            return if qname.contains("._domainkey.") { exists(vec![txt(DKIM_KEY)]) } else { exists(vec![]) };
        }
        if let Some(hoster) = qname.strip_suffix(".hoster-bench.example") {
            return Some(match hoster.split_once('.') {
                Some(("mx1" | "mx2", h)) if h.starts_with("hoster") => Node::Records(Cow::Owned(vec![a(7), aaaa(7)])),
                Some(("spf", h)) if h.starts_with("hoster") => Node::Records(Cow::Owned(vec![txt(&format!(
                    "v=spf1 ip4:203.0.113.0/24 include:spf2.{h}.hoster-bench.example ~all"
                ))])),
                Some(("spf2", h)) if h.starts_with("hoster") => {
                    Node::Records(Cow::Owned(vec![txt("v=spf1 ip4:198.51.100.0/24 ip6:2001:db8:1::/48 ~all")]))
                }
                _ => Node::Missing,
            });
        }
        let shared: Option<Vec<RData>> = match qname {
            "spf.protection.outlook.com" => Some(vec![txt(
                "v=spf1 ip4:40.92.0.0/15 ip4:40.107.0.0/16 ip4:52.100.0.0/15 ip4:52.102.0.0/16 ip4:52.103.0.0/16 ip4:104.47.0.0/17 ip6:2a01:111:f400::/48 ip6:2a01:111:f403::/49 ip6:2a01:111:f403:8000::/51 ip6:2a01:111:f403:c000::/51 ip6:2a01:111:f403:f000::/52 -all",
            )]),
            "_spf.google.com" => Some(vec![txt(
                "v=spf1 include:_netblocks.google.com include:_netblocks2.google.com include:_netblocks3.google.com ~all",
            )]),
            "_netblocks.google.com" => Some(vec![txt(
                "v=spf1 ip4:35.190.247.0/24 ip4:64.233.160.0/19 ip4:66.102.0.0/20 ip4:66.249.80.0/20 ip4:72.14.192.0/18 ip4:74.125.0.0/16 ip4:108.177.8.0/21 ip4:173.194.0.0/16 ip4:209.85.128.0/17 ip4:216.58.192.0/19 ip4:216.239.32.0/19 ~all",
            )]),
            "_netblocks2.google.com" => Some(vec![txt(
                "v=spf1 ip6:2001:4860:4000::/36 ip6:2404:6800:4000::/36 ip6:2607:f8b0:4000::/36 ip6:2800:3f0:4000::/36 ip6:2a00:1450:4000::/36 ip6:2c0f:fb50:4000::/36 ~all",
            )]),
            "_netblocks3.google.com" => Some(vec![txt(
                "v=spf1 ip4:172.217.0.0/19 ip4:172.217.32.0/20 ip4:172.217.128.0/19 ip4:172.217.160.0/20 ip4:172.217.192.0/19 ip4:172.253.56.0/21 ip4:172.253.112.0/20 ip4:108.177.96.0/19 ip4:35.191.0.0/16 ip4:130.211.0.0/22 ~all",
            )]),
            "aspmx.l.google.com"
            | "alt1.aspmx.l.google.com"
            | "alt2.aspmx.l.google.com"
            | "alt3.aspmx.l.google.com"
            | "alt4.aspmx.l.google.com"
            | "smtp.google.com" => Some(vec![a(27), aaaa(27)]),
            "autodiscover.outlook.com" => Some(vec![cname("autod.ms-acdc-autod.office.com")]),
            _ => None,
        };
        shared.map(|records| Node::Records(Cow::Owned(records)))
    }

    fn bench_domain(rest: &str) -> Option<Node<'static>> {
        let (prefix, label) = match rest.rsplit_once('.') {
            Some((prefix, label)) => (Some(prefix), label),
            None => (None, rest),
        };
        let i: u64 = label.strip_prefix('d')?.parse().ok()?;
        let domain = domain(i);
        let kind = i % 20;
        if kind == 19 && (i / 20) % 2 == 1 {
            return Some(Node::Missing);
        }
        // Every second, third and fourth domain of a kind (remainders named so they read as a mix).
        let (rem2, rem3, rem4) = (i % 2, i % 3, i % 4);
        let (every_2nd, every_3rd, every_4th) = (rem2 == 0, rem3 == 0, rem4 == 0);
        let records: Vec<RData> = match (kind, prefix) {
            // Microsoft 365
            (0..=7, None) => vec![
                mx(0, &format!("d{i}-bench-test.mail.protection.outlook.com")),
                txt("v=spf1 include:spf.protection.outlook.com -all"),
                txt(&format!("MS=ms{:08}", i % 100_000_000)),
            ],
            (0..=7, Some("_dmarc")) if every_2nd => {
                vec![txt(&format!("v=DMARC1; p=quarantine; pct=100; rua=mailto:dmarc@{domain}"))]
            }
            (0..=7, Some("autodiscover")) => vec![cname("autodiscover.outlook.com")],
            (0..=7, Some("_domainkey")) if every_3rd => vec![],
            (0..=7, Some(selector @ ("selector1._domainkey" | "selector2._domainkey"))) if every_3rd => {
                let s = selector.split('.').next().unwrap_or_default();
                vec![cname(&format!("{s}-d{i}-bench-test._domainkey.d{i}bench.onmicrosoft.com"))]
            }
            // Google Workspace
            (8..=12, None) if i % 2 == 1 => vec![
                mx(1, "smtp.google.com"),
                txt("v=spf1 include:_spf.google.com ~all"),
                txt(&format!("google-site-verification=bench{i}")),
            ],
            (8..=12, None) => vec![
                mx(1, "aspmx.l.google.com"),
                mx(5, "alt1.aspmx.l.google.com"),
                mx(5, "alt2.aspmx.l.google.com"),
                mx(10, "alt3.aspmx.l.google.com"),
                mx(10, "alt4.aspmx.l.google.com"),
                txt("v=spf1 include:_spf.google.com ~all"),
                txt(&format!("google-site-verification=bench{i}")),
            ],
            (8..=12, Some("_dmarc")) => vec![txt("v=DMARC1; p=none")],
            (8..=12, Some("_domainkey")) if every_2nd => vec![],
            (8..=12, Some("google._domainkey")) if every_2nd => vec![txt(DKIM_KEY)],
            // Hoster
            (13..=16, None) => {
                let h = i % 50;
                vec![
                    mx(10, &format!("mx1.hoster{h}.hoster-bench.example")),
                    mx(20, &format!("mx2.hoster{h}.hoster-bench.example")),
                    txt(&format!("v=spf1 a mx include:spf.hoster{h}.hoster-bench.example ~all")),
                ]
            }
            (13..=16, Some("_domainkey")) if every_4th => vec![],
            (13..=16, Some("default._domainkey")) if every_4th => vec![txt(DKIM_KEY)],
            // Self-hosted
            (17..=18, None) => vec![
                mx(10, &format!("mail.{domain}")),
                txt(&format!("v=spf1 mx a ip4:198.18.{}.{} -all", (i >> 8) as u8, i as u8)),
                a(i),
            ],
            (17..=18, Some("mail")) => vec![a(i), aaaa(i)],
            (17..=18, Some("_dmarc")) => vec![txt(&format!("v=DMARC1; p=reject; rua=mailto:postmaster@{domain}"))],
            (17..=18, Some("_domainkey")) => vec![],
            (17..=18, Some("mail._domainkey")) => vec![txt(DKIM_KEY)],
            // No MX
            (19, None) => vec![txt("v=spf1 -all")],
            _ => return Some(Node::Missing),
        };
        Some(Node::Records(Cow::Owned(records)))
    }
}
