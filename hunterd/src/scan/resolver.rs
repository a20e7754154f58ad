//! The DNS transport under the scanner.
//!
//! UDP is our own: a few long-lived sockets per nameserver, queries multiplexed on them by message ID
//! (hickory-proto encodes and decodes the messages). TCP, used when a UDP answer comes back
//! truncated, is hickory-resolver's name-server pool. On top: retries that rotate nameservers, a
//! global in-flight limit, a per-nameserver rate limit and a small cache for shared names.
//!
//! Why not `hickory_resolver::Resolver` for everything: its cache would serve stale apex data to
//! rescans, its CNAME chasing sends queries we could not count, its errors hide the response code we
//! report as the scan status, and its UDP client opens, registers and closes a socket for every
//! query: measured, that alone cost more CPU than all the rest of a scan (see the scan_throughput
//! benchmark). A socket per nameserver-and-slot keeps the source-port entropy of a handful of random
//! ports, plus the random 16-bit ID, plus the question check on every answer.

use hickory_resolver::config::{ConnectionConfig, NameServerConfig, ResolverOpts, ServerOrderingStrategy};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::net::xfer::{DnsHandle, FirstAnswer};
use hickory_resolver::net::{DnsError, NetError};
use hickory_resolver::proto::op::{DnsRequestOptions, Edns, Message, MessageType, OpCode, Query, ResponseCode};
use hickory_resolver::proto::rr::{Name, Record, RecordType};
use hickory_resolver::{NameServerPool, PoolContext, TlsConfig};
use std::collections::HashMap;
use std::hash::{BuildHasher, Hasher};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{OnceCell, Semaphore, oneshot};

/// Longest time a shared-infrastructure answer is reused, whatever its TTL: rescans see fresh data.
const SHARED_CACHE_MAX_TTL: Duration = Duration::from_secs(300);
/// Negative answers for shared names are kept briefly: a typo'd include should not be hammered.
const SHARED_CACHE_NEGATIVE_TTL: Duration = Duration::from_secs(60);
const SHARED_CACHE_CAPACITY: usize = 20_000;
/// Queries in flight per UDP socket (each socket has its own source port and reader task), and
/// the bounds on sockets per nameserver.
const QUERIES_PER_SOCKET: usize = 64;
const MIN_SOCKETS: usize = 4;
const MAX_SOCKETS: usize = 64;
/// Receive buffer asked for each socket (the kernel caps it at net.core.rmem_max): a burst of
/// answers must not be dropped while the reader task waits for a core.
const SOCKET_RECV_BUFFER: usize = 4 << 20;
/// Queries one nameserver gets at once at the start, the least it is ever cut to, and how much of
/// its window it loses when a query times out. Resolvers drop bursts beyond a few hundred queued
/// packets, and public ones rate-limit per client: the window finds what the server sustains.
const INITIAL_WINDOW: f64 = 32.0;
const MIN_WINDOW: f64 = 4.0;
const WINDOW_CUT: f64 = 0.7;
/// After the first loss the window grows by this many queries per window's worth of answers.
const CAREFUL_GROWTH: f64 = 1.0;
/// The shortest wait before an unanswered query counts as probably lost.
const MIN_LOSS_AFTER: Duration = Duration::from_millis(30);
/// The EDNS payload size we advertise (the DNS flag day 2020 recommendation).
const EDNS_PAYLOAD: u16 = 1232;
/// Largest UDP answer we read; bigger ones are truncated by the server anyway.
const RECV_BUFFER: usize = 4096;

/// How a query ended when the server answered it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Rcode {
    NoError,
    NxDomain,
}

/// A server's answer: the answer section (possibly only a CNAME chain) and its response code.
#[derive(Debug, Clone)]
pub(crate) struct Answer {
    pub rcode: Rcode,
    pub records: Vec<Record>,
    /// The authority section holds a SOA: a negative answer for the last name asked about (after
    /// any CNAMEs the server followed), so an alias at the end of the chain has no such records.
    pub negative_proof: bool,
}

impl Answer {
    pub fn is_nxdomain(&self) -> bool {
        self.rcode == Rcode::NxDomain
    }
}

/// Why a query produced no answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Failure {
    Timeout,
    ServFail,
    Refused,
    /// Network trouble (port unreachable, no route…), a malformed answer or an unexpected code.
    Other(String),
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::Timeout => write!(f, "timeout"),
            Failure::ServFail => write!(f, "SERVFAIL"),
            Failure::Refused => write!(f, "REFUSED"),
            Failure::Other(what) => write!(f, "{what}"),
        }
    }
}

/// Settings of the transport, taken from `ScanConfig`.
#[derive(Debug, Clone)]
pub(crate) struct DnsSettings {
    pub nameservers: Vec<SocketAddr>,
    pub timeout: Duration,
    pub retries: u32,
    pub concurrency: usize,
    /// 0 = unlimited.
    pub per_nameserver_qps: u32,
}

struct Upstream {
    addr: SocketAddr,
    /// Bound on first use, inside the runtime that scans.
    udp: OnceCell<Vec<MuxSocket>>,
    socket_count: usize,
    next_socket: AtomicUsize,
    tcp: NameServerPool<TokioRuntimeProvider>,
    limiter: Option<RateLimiter>,
    window: Window,
}

pub(crate) struct Dns {
    upstreams: Vec<Upstream>,
    next_upstream: AtomicUsize,
    in_flight: Semaphore,
    timeout: Duration,
    retries: u32,
    shared: SharedCache,
}

impl Dns {
    pub fn new(settings: &DnsSettings) -> Dns {
        let mut opts = ResolverOpts::default();
        opts.timeout = settings.timeout;
        opts.num_concurrent_reqs = 1;
        opts.cache_size = 0;
        opts.edns0 = true;
        opts.server_ordering_strategy = ServerOrderingStrategy::UserProvidedOrder;
        // Plain DNS over TCP only: hickory is built without DNS-over-TLS, so there is no TLS to set.
        let context = Arc::new(PoolContext::new(opts, TlsConfig {}));
        let upstreams = settings
            .nameservers
            .iter()
            .map(|addr| {
                let mut tcp = ConnectionConfig::tcp();
                tcp.port = addr.port();
                let mut tcp_only = NameServerConfig::tcp(addr.ip());
                tcp_only.connections = vec![tcp];
                Upstream {
                    addr: *addr,
                    udp: OnceCell::new(),
                    socket_count: settings.concurrency.div_ceil(QUERIES_PER_SOCKET).clamp(MIN_SOCKETS, MAX_SOCKETS),
                    next_socket: AtomicUsize::new(0),
                    tcp: NameServerPool::from_config([tcp_only], context.clone(), TokioRuntimeProvider::default()),
                    limiter: (settings.per_nameserver_qps > 0).then(|| RateLimiter::new(settings.per_nameserver_qps)),
                    window: Window::new(settings.concurrency as f64, settings.timeout),
                }
            })
            .collect();
        Dns {
            upstreams,
            next_upstream: AtomicUsize::new(0),
            in_flight: Semaphore::new(settings.concurrency.clamp(1, Semaphore::MAX_PERMITS)),
            timeout: settings.timeout,
            retries: settings.retries,
            shared: SharedCache::default(),
        }
    }

    /// One question, retried on timeouts (and on SERVFAIL/REFUSED when another server can be asked).
    /// Every attempt sent is added to `sent`.
    pub async fn query(&self, name: &Name, rtype: RecordType, sent: &AtomicU32) -> Result<Answer, Failure> {
        let count = self.upstreams.len();
        if count == 0 {
            return Err(Failure::Other("no nameservers configured".into()));
        }
        let start = self.pick_upstream();
        let mut last = Failure::Timeout;
        for attempt in 0..=self.retries as usize {
            let upstream = &self.upstreams[(start + attempt) % count];
            match self.attempt(upstream, name, rtype, sent).await {
                Ok(answer) => return Ok(answer),
                Err(failure) => {
                    let retryable = match failure {
                        Failure::Timeout | Failure::Other(_) => true,
                        // The same server would say the same; another one might not.
                        Failure::ServFail | Failure::Refused => count > 1,
                    };
                    last = failure;
                    if !retryable {
                        break;
                    }
                }
            }
        }
        Err(last)
    }

    /// The next nameserver in rotation with room in its window (so several share the load), or the
    /// one with the most room when all are full.
    fn pick_upstream(&self) -> usize {
        let count = self.upstreams.len();
        let offset = self.next_upstream.fetch_add(1, Ordering::Relaxed);
        let mut best = offset % count;
        let mut best_room = f64::MIN;
        for i in 0..count {
            let candidate = (offset + i) % count;
            let room = self.upstreams[candidate].window.room();
            if room >= 1.0 {
                return candidate;
            }
            if room > best_room {
                (best, best_room) = (candidate, room);
            }
        }
        best
    }

    /// As [`Dns::query`], through the shared cache: for names many domains point at (SPF include
    /// targets, provider MX hosts), never for a domain's own records. Concurrent scans asking the
    /// same uncached name wait for one query instead of each sending their own.
    pub async fn query_shared(&self, name: &Name, rtype: RecordType, sent: &AtomicU32) -> Result<Answer, Failure> {
        let key = (name.to_ascii().to_ascii_lowercase(), rtype);
        loop {
            match self.shared.lookup(&key) {
                Lookup::Hit(answer) => return Ok(answer),
                // The other query's claim always notifies, even when cancelled, so this cannot hang.
                Lookup::Wait(notified) => notified.await,
                Lookup::Claimed => {
                    let guard = Claim { cache: &self.shared, key: Some(key) };
                    let result = self.query(name, rtype, sent).await;
                    guard.complete(result.as_ref().ok());
                    return result;
                }
            }
        }
    }

    async fn attempt(
        &self,
        upstream: &Upstream,
        name: &Name,
        rtype: RecordType,
        sent: &AtomicU32,
    ) -> Result<Answer, Failure> {
        let _permit = self.in_flight.acquire().await.map_err(|_| Failure::Other("scanner shut down".into()))?;
        let slot = upstream.window.acquire().await;
        if let Some(limiter) = &upstream.limiter {
            limiter.acquire().await;
        }
        let sent_at = tokio::time::Instant::now();
        let deadline = sent_at + self.timeout;
        sent.fetch_add(1, Ordering::Relaxed);
        let ask = tokio::time::timeout_at(deadline, upstream.ask_udp(name, rtype));
        tokio::pin!(ask);
        // An answer much later than usual is probably lost: the window shrinks then, long before
        // the timeout says so for certain.
        let suspicion = tokio::time::sleep(upstream.window.loss_after());
        tokio::pin!(suspicion);
        let mut suspected = false;
        let outcome = loop {
            tokio::select! {
                outcome = &mut ask => break outcome,
                () = &mut suspicion, if !suspected => {
                    suspected = true;
                    slot.lost();
                }
            }
        };
        let response = match outcome {
            Err(_elapsed) => {
                if !suspected {
                    slot.lost();
                }
                return Err(Failure::Timeout);
            }
            Ok(response) => response?,
        };
        upstream.window.answered(sent_at.elapsed());
        if !response.metadata.truncation {
            return answer_of(response);
        }
        // Too big for UDP: the same question over TCP, within what is left of the timeout.
        sent.fetch_add(1, Ordering::Relaxed);
        let mut options = DnsRequestOptions::default();
        options.use_edns = true;
        options.recursion_desired = true;
        let query = Query::query(name.clone(), rtype);
        match tokio::time::timeout_at(deadline, upstream.tcp.lookup(query, options).first_answer()).await {
            Err(_elapsed) => Err(Failure::Timeout),
            Ok(Ok(response)) => answer_of(response.into_message()),
            Ok(Err(error)) => classify_error(&error),
        }
    }
}

impl Upstream {
    async fn sockets(&self) -> Result<&[MuxSocket], Failure> {
        let sockets = self
            .udp
            .get_or_try_init(|| async {
                (0..self.socket_count).map(|_| MuxSocket::bind(self.addr)).collect::<std::io::Result<Vec<_>>>()
            })
            .await
            .map_err(|e| Failure::Other(format!("cannot open a UDP socket to {}: {e}", self.addr)))?;
        Ok(sockets)
    }

    /// Sends the question on one of the sockets and waits for the answer with its ID and question.
    async fn ask_udp(&self, name: &Name, rtype: RecordType) -> Result<Message, Failure> {
        let sockets = self.sockets().await?;
        let socket = &sockets[self.next_socket.fetch_add(1, Ordering::Relaxed) % sockets.len()];
        let (id, answer) = socket.register();
        let _pending = PendingGuard { socket, id };
        let bytes = query_message(id, name, rtype).to_vec().map_err(|e| Failure::Other(e.to_string()))?;
        socket.socket.send(&bytes).await.map_err(|e| Failure::Other(format!("sending to {}: {e}", self.addr)))?;
        let bytes = answer.await.map_err(|_| Failure::Other("answer reader stopped".into()))?;
        let message = Message::from_vec(&bytes).map_err(|e| Failure::Other(format!("malformed answer: {e}")))?;
        let asked = message
            .queries
            .first()
            // Name equality is case-insensitive (RFC 4343).
            .is_some_and(|q| q.query_type() == rtype && q.name() == name);
        if message.metadata.message_type != MessageType::Response || !asked {
            return Err(Failure::Other("answer does not match the question".into()));
        }
        Ok(message)
    }
}

fn query_message(id: u16, name: &Name, rtype: RecordType) -> Message {
    let mut message = Message::new(id, MessageType::Query, OpCode::Query);
    message.metadata.recursion_desired = true;
    message.add_query(Query::query(name.clone(), rtype));
    let mut edns = Edns::new();
    edns.set_max_payload(EDNS_PAYLOAD).set_version(0);
    message.set_edns(edns);
    message
}

fn answer_of(message: Message) -> Result<Answer, Failure> {
    match message.metadata.response_code {
        ResponseCode::NoError => {
            Ok(Answer { rcode: Rcode::NoError, negative_proof: has_soa(&message), records: message.answers })
        }
        ResponseCode::NXDomain => {
            Ok(Answer { rcode: Rcode::NxDomain, negative_proof: has_soa(&message), records: message.answers })
        }
        ResponseCode::ServFail => Err(Failure::ServFail),
        ResponseCode::Refused => Err(Failure::Refused),
        other => Err(Failure::Other(format!("response code {other}"))),
    }
}

fn has_soa(message: &Message) -> bool {
    message.authorities.iter().any(|r| r.record_type() == RecordType::SOA)
}

type Waiters = Arc<Mutex<HashMap<u16, oneshot::Sender<Vec<u8>>>>>;

/// A connected UDP socket shared by many queries, with a task handing each answer to the query that
/// carries its ID.
struct MuxSocket {
    socket: Arc<tokio::net::UdpSocket>,
    waiters: Waiters,
    reader: tokio::task::JoinHandle<()>,
}

impl MuxSocket {
    fn bind(server: SocketAddr) -> std::io::Result<MuxSocket> {
        let local: SocketAddr = match server.ip() {
            IpAddr::V4(_) => (Ipv4Addr::UNSPECIFIED, 0).into(),
            IpAddr::V6(_) => (Ipv6Addr::UNSPECIFIED, 0).into(),
        };
        let socket = std::net::UdpSocket::bind(local)?;
        // Best effort: a smaller buffer only means more retries under load.
        let _ = nix::sys::socket::setsockopt(&socket, nix::sys::socket::sockopt::RcvBuf, &SOCKET_RECV_BUFFER);
        // Connected: the kernel drops datagrams from anyone but the server.
        socket.connect(server)?;
        socket.set_nonblocking(true)?;
        let socket = Arc::new(tokio::net::UdpSocket::from_std(socket)?);
        let waiters: Waiters = Arc::default();
        let reader = tokio::spawn(read_answers(socket.clone(), waiters.clone()));
        Ok(MuxSocket { socket, waiters, reader })
    }

    /// A fresh random ID and the channel its answer will come on.
    fn register(&self) -> (u16, oneshot::Receiver<Vec<u8>>) {
        let (tx, rx) = oneshot::channel();
        let mut waiters = match self.waiters.lock() {
            Ok(w) => w,
            Err(poisoned) => poisoned.into_inner(),
        };
        loop {
            let id = random_id();
            if let std::collections::hash_map::Entry::Vacant(slot) = waiters.entry(id) {
                slot.insert(tx);
                return (id, rx);
            }
        }
    }

    fn forget(&self, id: u16) {
        if let Ok(mut waiters) = self.waiters.lock() {
            waiters.remove(&id);
        }
    }
}

impl Drop for MuxSocket {
    fn drop(&mut self) {
        self.reader.abort();
    }
}

/// Removes a query's ID when it ends in any way (answer, timeout, cancellation).
struct PendingGuard<'a> {
    socket: &'a MuxSocket,
    id: u16,
}

impl Drop for PendingGuard<'_> {
    fn drop(&mut self) {
        self.socket.forget(self.id);
    }
}

async fn read_answers(socket: Arc<tokio::net::UdpSocket>, waiters: Waiters) {
    let mut buf = vec![0u8; RECV_BUFFER];
    loop {
        // Errors are ICMP reports (port unreachable…) for earlier datagrams: the affected queries
        // time out and retry; the socket stays usable.
        let Ok(len) = socket.recv(&mut buf).await else { continue };
        if len < 12 {
            continue;
        }
        let id = u16::from_be_bytes([buf[0], buf[1]]);
        let waiter = waiters.lock().ok().and_then(|mut w| w.remove(&id));
        if let Some(waiter) = waiter {
            let _ = waiter.send(buf[..len].to_vec());
        }
    }
}

/// Query IDs: unpredictable enough that an off-path attacker must guess (RFC 5452), cheap enough
/// for tens of thousands a second.
fn random_id() -> u16 {
    static STATE: AtomicU64 = AtomicU64::new(0);
    static SEED: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    let seed = *SEED.get_or_init(|| std::collections::hash_map::RandomState::new().build_hasher().finish() | 1);
    // splitmix64 over a per-process random seed.
    let mut z = STATE.fetch_add(0x9E37_79B9_7F4A_7C15, Ordering::Relaxed).wrapping_add(seed);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    (z ^ (z >> 31)) as u16
}

/// hickory reports negative answers and bad response codes as errors: turn them back into answers.
fn classify_error(error: &NetError) -> Result<Answer, Failure> {
    let response_code = match error {
        NetError::Dns(DnsError::NoRecordsFound(no_records)) => no_records.response_code,
        NetError::Dns(DnsError::ResponseCode(code)) => *code,
        NetError::Timeout => return Err(Failure::Timeout),
        _ => return Err(Failure::Other(error.to_string())),
    };
    match response_code {
        ResponseCode::NoError => Ok(Answer { rcode: Rcode::NoError, records: Vec::new(), negative_proof: true }),
        ResponseCode::NXDomain => Ok(Answer { rcode: Rcode::NxDomain, records: Vec::new(), negative_proof: true }),
        ResponseCode::ServFail => Err(Failure::ServFail),
        ResponseCode::Refused => Err(Failure::Refused),
        other => Err(Failure::Other(format!("response code {other}"))),
    }
}

/// Queries in flight to one nameserver, bounded by a window that adapts to loss like TCP's: it
/// doubles every round trip until the first loss (slow start), then grows gently while answers
/// come back (one more per window of answers) and is cut to [`WINDOW_CUT`] of the window a query
/// was sent in when it goes unanswered for three round trips; losses of queries sent before that
/// cut do not cut again, since one burst's losses surface together. Sends are thus clocked by answers, never a burst beyond
/// what the server has shown it takes.
struct Window {
    state: Mutex<WindowState>,
    freed: tokio::sync::Notify,
    timeout: Duration,
}

struct WindowState {
    limit: f64,
    max: f64,
    in_flight: usize,
    /// Set by the first loss: growth is careful from then on.
    lossy: bool,
    /// Counts cuts: a loss of a query sent before the latest cut was already answered for.
    epoch: u64,
    /// Smoothed round-trip time of answered queries.
    srtt: Option<Duration>,
}

/// A query's place in a window, given back when dropped; remembers the window it was sent in.
struct WindowSlot<'a> {
    window: &'a Window,
    epoch: u64,
    limit: f64,
}

impl WindowSlot<'_> {
    /// This query went unanswered for too long.
    fn lost(&self) {
        self.window.lost(self.epoch, self.limit);
    }
}

impl Drop for WindowSlot<'_> {
    fn drop(&mut self) {
        self.window.lock().in_flight -= 1;
        self.window.freed.notify_one();
    }
}

impl Window {
    fn new(max: f64, timeout: Duration) -> Window {
        let max = max.max(MIN_WINDOW);
        Window {
            state: Mutex::new(WindowState {
                limit: INITIAL_WINDOW.min(max),
                max,
                in_flight: 0,
                lossy: false,
                epoch: 0,
                srtt: None,
            }),
            freed: tokio::sync::Notify::new(),
            timeout,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, WindowState> {
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    async fn acquire(&self) -> WindowSlot<'_> {
        loop {
            {
                let mut state = self.lock();
                if (state.in_flight as f64) < state.limit.floor() {
                    state.in_flight += 1;
                    return WindowSlot { window: self, epoch: state.epoch, limit: state.limit };
                }
            }
            // A slot given back while we looked leaves its permit here, so no wake-up is lost.
            self.freed.notified().await;
        }
    }

    /// Free places in the window (negative when it was just cut below what is in flight).
    fn room(&self) -> f64 {
        let state = self.lock();
        state.limit - state.in_flight as f64
    }

    /// How long without an answer makes a query probably lost: three smoothed round trips, at
    /// least [`MIN_LOSS_AFTER`], at most the timeout.
    fn loss_after(&self) -> Duration {
        let srtt = self.lock().srtt;
        srtt.map_or(self.timeout, |rtt| (rtt * 3).max(MIN_LOSS_AFTER).min(self.timeout))
    }

    fn answered(&self, rtt: Duration) {
        let mut state = self.lock();
        state.srtt = Some(state.srtt.map_or(rtt, |s| (s * 7 + rtt) / 8));
        // Only a window in use grows: demand below it says nothing about what the server takes.
        if (state.in_flight as f64) + 1.0 >= state.limit.floor() / 2.0 {
            let growth = if state.lossy { CAREFUL_GROWTH / state.limit } else { 1.0 };
            state.limit = (state.limit + growth).min(state.max);
        }
        drop(state);
        // A grown window may admit a waiter the released slot alone would not.
        self.freed.notify_one();
    }

    /// A query sent with the window at `sent_limit` was lost: the window becomes a fraction of that
    /// (a burst's queries sent before the cut, lost with it, do not cut again).
    fn lost(&self, sent_epoch: u64, sent_limit: f64) {
        let mut state = self.lock();
        state.lossy = true;
        if sent_epoch == state.epoch {
            state.limit = (sent_limit * WINDOW_CUT).min(state.limit).max(MIN_WINDOW);
            state.epoch += 1;
        }
    }

    #[cfg(test)]
    fn limit(&self) -> f64 {
        self.lock().limit
    }
}

/// Spaces queries to one server: at most `qps` per second on average, bursts of up to 50 ms' worth.
struct RateLimiter {
    interval: Duration,
    burst: Duration,
    next: Mutex<tokio::time::Instant>,
}

impl RateLimiter {
    fn new(qps: u32) -> RateLimiter {
        let interval = Duration::from_secs(1) / qps.max(1);
        let burst = interval * (qps / 20).max(1);
        let now = tokio::time::Instant::now();
        // A fresh limiter starts with a full burst.
        let next = now.checked_sub(burst).unwrap_or(now);
        RateLimiter { interval, burst, next: Mutex::new(next) }
    }

    async fn acquire(&self) {
        let now = tokio::time::Instant::now();
        let send_at = {
            let Ok(mut next) = self.next.lock() else { return };
            // Unused capacity is banked for at most one burst.
            let floor = now.checked_sub(self.burst).unwrap_or(now);
            let slot = (*next).max(floor);
            *next = slot + self.interval;
            slot
        };
        if send_at > now {
            tokio::time::sleep_until(send_at).await;
        }
    }
}

type CacheKey = (String, RecordType);

enum Lookup {
    Hit(Answer),
    /// Someone is asking already: wait for them, then look again.
    Wait(tokio::sync::futures::OwnedNotified),
    /// Nobody is: the caller asks and must [`Claim::complete`].
    Claimed,
}

/// A TTL-respecting cache capped at a few minutes, in two generations: when the young one is full
/// the old one is dropped, and hits in the old one move back, so busy names (Google's SPF) survive
/// a stream of one-off names (each Microsoft 365 tenant's MX host).
#[derive(Default)]
struct SharedCache {
    inner: Mutex<CacheInner>,
}

#[derive(Default)]
struct CacheInner {
    young: HashMap<CacheKey, (Instant, Answer)>,
    old: HashMap<CacheKey, (Instant, Answer)>,
    pending: HashMap<CacheKey, Arc<tokio::sync::Notify>>,
}

impl SharedCache {
    fn lock(&self) -> std::sync::MutexGuard<'_, CacheInner> {
        match self.inner.lock() {
            Ok(inner) => inner,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    fn lookup(&self, key: &CacheKey) -> Lookup {
        let now = Instant::now();
        let mut inner = self.lock();
        if let Some((expires, answer)) = inner.young.get(key)
            && *expires > now
        {
            return Lookup::Hit(answer.clone());
        }
        if let Some((expires, answer)) = inner.old.remove(key)
            && expires > now
        {
            inner.young.insert(key.clone(), (expires, answer.clone()));
            return Lookup::Hit(answer);
        }
        if let Some(notify) = inner.pending.get(key) {
            // Created before the lock is released, so the wake-up cannot be missed.
            return Lookup::Wait(notify.clone().notified_owned());
        }
        inner.pending.insert(key.clone(), Arc::new(tokio::sync::Notify::new()));
        Lookup::Claimed
    }

    /// Ends a claim: stores the answer (if any) and wakes whoever waited.
    fn finish(&self, key: &CacheKey, answer: Option<&Answer>) {
        let mut inner = self.lock();
        if let Some(answer) = answer {
            let ttl = if answer.records.is_empty() {
                SHARED_CACHE_NEGATIVE_TTL
            } else {
                let min_ttl = answer.records.iter().map(|r| r.ttl).min().unwrap_or(0);
                Duration::from_secs(u64::from(min_ttl)).min(SHARED_CACHE_MAX_TTL)
            };
            if !ttl.is_zero() {
                if inner.young.len() >= SHARED_CACHE_CAPACITY / 2 {
                    inner.old = std::mem::take(&mut inner.young);
                }
                inner.young.insert(key.clone(), (Instant::now() + ttl, answer.clone()));
            }
        }
        if let Some(notify) = inner.pending.remove(key) {
            notify.notify_waiters();
        }
    }
}

/// The right to ask for a shared name; released (waking the waiters) even if the asking is cancelled.
struct Claim<'a> {
    cache: &'a SharedCache,
    key: Option<CacheKey>,
}

impl Claim<'_> {
    fn complete(mut self, answer: Option<&Answer>) {
        if let Some(key) = self.key.take() {
            self.cache.finish(&key, answer);
        }
    }
}

impl Drop for Claim<'_> {
    fn drop(&mut self) {
        if let Some(key) = self.key.take() {
            self.cache.finish(&key, None);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Paused time: the clock only moves when every task waits, so a loaded machine cannot skew it.
    #[tokio::test(start_paused = true)]
    async fn the_rate_limiter_spaces_queries_after_the_burst() {
        // 1,000 qps: a burst of 51 (50 ms' worth and the current slot), then one per millisecond.
        let limiter = RateLimiter::new(1_000);
        let start = tokio::time::Instant::now();
        for _ in 0..(51 + 100) {
            limiter.acquire().await;
        }
        let elapsed = start.elapsed();
        assert!(elapsed >= Duration::from_millis(95), "{elapsed:?}");
        assert!(elapsed < Duration::from_secs(2), "{elapsed:?}");
    }

    /// `n` queries in flight at once.
    async fn fill(window: &Window, n: usize) -> Vec<WindowSlot<'_>> {
        futures::future::join_all((0..n).map(|_| window.acquire())).await
    }

    #[tokio::test]
    async fn a_window_in_use_doubles_per_round_trip_until_the_first_loss() {
        let window = Window::new(1_000.0, Duration::from_secs(1));
        let slots = fill(&window, 32).await;
        for _ in &slots {
            window.answered(Duration::from_millis(1));
        }
        assert_eq!(window.limit(), 64.0);
    }

    #[test]
    fn a_window_nobody_uses_does_not_grow() {
        let window = Window::new(1_000.0, Duration::from_secs(1));
        for _ in 0..100 {
            window.answered(Duration::from_millis(1));
        }
        assert_eq!(window.limit(), INITIAL_WINDOW);
    }

    #[tokio::test]
    async fn a_bursts_losses_cut_the_window_once_and_growth_turns_careful() {
        let window = Window::new(1_000.0, Duration::from_secs(60));
        let burst = fill(&window, 20).await;
        for slot in &burst {
            slot.lost();
        }
        assert!((window.limit() - 32.0 * WINDOW_CUT).abs() < 1e-9, "one cut for one burst: {}", window.limit());
        drop(burst);
        let before = window.limit();
        let slots = fill(&window, 22).await;
        for _ in &slots {
            window.answered(Duration::from_millis(1));
        }
        assert!(window.limit() - before < 1.5, "about one more per window of answers: {}", window.limit());
    }

    #[tokio::test]
    async fn a_loss_after_a_cut_cuts_again() {
        let window = Window::new(1_000.0, Duration::from_secs(60));
        fill(&window, 1).await[0].lost();
        fill(&window, 1).await[0].lost();
        assert!((window.limit() - 32.0 * WINDOW_CUT * WINDOW_CUT).abs() < 1e-9, "{}", window.limit());
    }

    #[tokio::test]
    async fn a_window_never_exceeds_the_scan_concurrency_nor_falls_below_the_floor() {
        let window = Window::new(40.0, Duration::ZERO);
        let slots = fill(&window, 32).await;
        for _ in 0..100 {
            window.answered(Duration::from_millis(1));
        }
        assert_eq!(window.limit(), 40.0);
        drop(slots);
        for _ in 0..100 {
            fill(&window, 1).await[0].lost();
        }
        assert_eq!(window.limit(), MIN_WINDOW);
    }

    #[tokio::test]
    async fn a_full_window_holds_the_next_query_until_a_slot_is_given_back() {
        let window = Window::new(4.0, Duration::from_secs(1));
        let slots: Vec<_> = futures::future::join_all((0..4).map(|_| window.acquire())).await;
        assert!(tokio::time::timeout(Duration::from_millis(20), window.acquire()).await.is_err());
        drop(slots);
        assert!(tokio::time::timeout(Duration::from_secs(5), window.acquire()).await.is_ok());
    }

    #[tokio::test(start_paused = true)]
    async fn a_fresh_rate_limiter_lets_a_burst_through_at_once() {
        let limiter = RateLimiter::new(1_000);
        let start = tokio::time::Instant::now();
        for _ in 0..50 {
            limiter.acquire().await;
        }
        assert!(start.elapsed() < Duration::from_millis(40), "{:?}", start.elapsed());
    }
}
