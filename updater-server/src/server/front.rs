//! The HTTP/1.1 front: every connection starts here, and most never leave.
//!
//! Update checks and downloads are body-less `GET`/`HEAD` requests, and serving them through hyper costs more than
//! the answer itself (see the README's performance section: more system calls and more user time per check than nginx
//! serving the same bytes from a file). The front reads request heads itself, parses them with `millennium_http1`
//! (`httparse`, as hyper does), and runs each request through the *same* axum [`Router`] as hyper would, so routes,
//! authentication, limits, metrics and headers are identical; only the response is written by the front, its head
//! encoded as hyper encodes it ([`millennium_http1::encode_head`]), in one `send` with the body for a small answer.
//!
//! An update check whose URL was answered before is answered with that answer, kept whole with the counters it adds
//! to (`updates::reuse`), without the router: routing, extracting and handling a check cost more than writing it.
//!
//! Local-file downloads (whole file or a single range: a response carrying a [`SendFile`] extension, deltas included)
//! are sent with `sendfile(2)` on a corked socket (`TCP_CORK`, as nginx's `tcp_nopush`): the head goes out with the
//! file's first bytes, then the file goes from the page cache to the socket without a copy through this process. Object-store blobs and every other body are written
//! from the body's frames.
//!
//! One kind of request with a body is served too: the release-health reports (`POST /{app}/events`), small and
//! frequent (hyper's path costs the HTTP worker about 2 µs more per report, of ~32 µs, most of which is the kernel's
//! TCP work and the handler, the same on both paths). The front takes such a `POST` only when it is framed by one plain `Content-Length` and its head and body fit in [`MAX_HEAD`]
//! bytes (`millennium_http1::parse_head`; chunked, larger, `Expect: 100-continue` and the rest stay hyper's), reads
//! the whole body within the head's read timeout, and runs it through the same router with the body in memory, so the
//! endpoint's limits, rate limits, metrics and logs are those of every other path (the e2e tests compare both paths'
//! answers and effects).
//!
//! Anything the front does not serve is handed to hyper, with the bytes already read replayed in front of the socket
//! (`Replay`), and hyper serves the rest of the connection: other requests with a body, `Expect`, `Upgrade`,
//! `Connection` (keep-alive negotiation, `close`), HTTP/1.0, other methods, URIs that are not origin-form, too
//! many header lines, a head larger than hyper's buffer ([`MAX_HEAD`]), and malformed heads (hyper answers those with
//! its own `400`/`431`). So the front decides nothing hyper would decide differently; pipelined requests stay in
//! order across the hand-off, as the buffer goes with it.
//!
//! Timeouts ([`HttpTimeouts`]): a connection waiting for its next request is closed after `idle` (by its runtime's
//! sweeper, `idle.rs`, which spares each request a timer); a request head (with the body of a `POST` the front
//! serves) must arrive whole within `header_read` of its first byte (slow-loris clients); a client that takes no bytes
//! for `write` while a response is sent is dropped. Idle connections hold no read buffer: an empty one goes back to
//! the thread's spares before waiting for the socket, and the per-request state lives in a boxed future that exists
//! only while a request is served.

use std::cell::RefCell;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, HttpBody};
use axum::http::{HeaderValue, Method, Request, header};
use bytes::{Buf, Bytes, BytesMut};
use millennium_http1::{Declared, Framing, Parsed, connection_close};
use rustix::net::SendFlags;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, Interest, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio::time::Instant;

use super::events::PeerAddr;
use super::idle::Presence;
use super::{AppState, HEADER_READ_TIMEOUT, MAX_URI_LEN, RequestLog, updates};

/// How long a connection may wait for its next request (nginx's `keepalive_timeout`).
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(75);

/// How long a client may take no bytes of a response before it is dropped (nginx's `send_timeout`).
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(60);

/// The largest request head, and hyper's read buffer: a larger head is hyper's to refuse (`431`).
pub const MAX_HEAD: usize = 64 * 1024;

/// A written response body is sent in pieces of at least this much.
const SEND_AT: usize = 64 * 1024;

/// The timeouts of a connection (see the module documentation).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HttpTimeouts {
    pub header_read: Duration,
    pub idle: Duration,
    pub write: Duration,
}

impl Default for HttpTimeouts {
    fn default() -> Self {
        Self { header_read: HEADER_READ_TIMEOUT, idle: IDLE_TIMEOUT, write: WRITE_TIMEOUT }
    }
}

/// How connections are served.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HttpOptions {
    /// Whether the front serves what it can (otherwise hyper serves every request).
    pub front: bool,
    pub timeouts: HttpTimeouts,
}

impl Default for HttpOptions {
    fn default() -> Self {
        Self { front: true, timeouts: HttpTimeouts::default() }
    }
}

/// A response body that is a stretch of a local file: the front sends it with `sendfile(2)` instead of the body,
/// adding what it sent to `sent` (the body does the same when hyper sends it).
#[derive(Debug, Clone)]
pub struct SendFile {
    pub file: Arc<std::fs::File>,
    pub start: u64,
    pub len: u64,
    pub sent: Arc<AtomicU64>,
}

/// What requests are served with: the server's [`super::app`], and its state, for the update checks the front answers
/// with their kept answers (`updates::reuse`) without the router.
#[derive(Debug, Clone)]
pub(super) struct Service {
    router: Router,
    state: AppState,
    /// Whether request logs are written: the router's layer writes them, and the front writes the same for the
    /// answers it gives without the router.
    logs: bool,
}

impl Service {
    pub fn new(state: AppState) -> Self {
        Self { router: super::app(state.clone()), state, logs: super::request_logs() }
    }
}

/// What all connections of a runtime share.
#[derive(Debug)]
pub(super) struct Shared {
    pub service: Service,
    pub http: hyper::server::conn::http1::Builder,
    pub options: HttpOptions,
}

/// Serves one connection to its end: the front first (when enabled), then hyper if the front hands it over.
/// When the server stops, the front's idle connections are closed by the sweeper (which also closes them after the
/// idle timeout: `presence`), its busy ones after their response; `shutdown` turns `true` for hyper's.
pub(super) async fn serve(
    stream: TcpStream,
    peer: SocketAddr,
    shared: Arc<Shared>,
    shutdown: watch::Receiver<bool>,
    presence: Presence,
) {
    let mut stream = stream;
    let mut buf = BytesMut::new();
    if shared.options.front {
        // Answers are sent whole or corked: nothing gains from Nagle's delay, and pipelined answers would wait for it.
        let _ = stream.set_nodelay(true);
        match front(&mut stream, peer, &shared, &presence, &mut buf).await {
            Ok(Next::HandOff) => {}
            Ok(Next::Close) => return,
            Err(e) => {
                tracing::debug!(%peer, error = %e, "connection closed with an error");
                return;
            }
        }
    }
    // Boxed: hyper's connection state is large, and idle connections served by the front should not carry its room
    // (nor, from a `let`, the unboxed future's: see `front`).
    let handed_off = Box::pin(hand_off(stream, buf.freeze(), peer, &shared, shutdown));
    handed_off.await;
}

/// How the front leaves a connection.
enum Next {
    /// Hyper serves the rest (the read buffer is replayed to it).
    HandOff,
    /// Closed: the client went away, a timeout, `Connection: close`, or a shutdown.
    Close,
}

async fn front(
    stream: &mut TcpStream,
    peer: SocketAddr,
    shared: &Shared,
    presence: &Presence,
    buf: &mut BytesMut,
) -> io::Result<Next> {
    // Futures are awaited from `let`s, not in the expressions that make them: a temporary lives to the end of its
    // statement, and the connection's state keeps room for every one that is alive across an await (a `match` on
    // `next_request(..).await` kept its future beside each arm's; `Box::pin(respond(..)).await` kept the unboxed
    // future's room too).
    loop {
        let step = next_request(stream, buf, shared, presence).await?;
        let keep_alive = match step {
            Step::Serve(request, head_len) => {
                buf.advance(head_len);
                // Boxed: the router's future is large and must not stay in the idle connection's state.
                let responding = Box::pin(respond(stream, peer, shared, presence, *request));
                responding.await?
            }
            Step::Reuse(answer, log, head_len) => {
                buf.advance(head_len);
                send_reused(stream, &answer, log, shared.options.timeouts.write).await?
            }
            Step::Leave(next) => return Ok(next),
        };
        if !keep_alive {
            let _ = rustix::net::shutdown(&*stream, rustix::net::Shutdown::Write);
            return Ok(Next::Close);
        }
    }
}

/// What reading the next request came to: a request for the router, or one answered with a kept answer (with its
/// request log, when logs are on), and the length of its head; or the end of the front's part.
enum Step {
    Serve(Box<Request<Body>>, usize),
    Reuse(Arc<updates::ReusedAnswer>, Option<RequestLog>, usize),
    Leave(Next),
}

/// What the front makes of a request head.
enum Made {
    Request(Box<Request<Body>>),
    Reused(Arc<updates::ReusedAnswer>, Option<RequestLog>),
}

/// Reads until the buffer starts with a whole request head, within the timeouts: the idle one is kept by the sweeper,
/// which aborts this task when the connection has waited too long with nothing read (`presence`).
async fn next_request(
    stream: &mut TcpStream,
    buf: &mut BytesMut,
    shared: &Shared,
    presence: &Presence,
) -> io::Result<Step> {
    let mut head_deadline = None;
    loop {
        if !buf.is_empty() {
            // Not while stopping: the answer must then say `connection: close`, as the router's path does.
            let stopping = presence.stopping();
            let made = millennium_http1::parse_head(buf, MAX_URI_LEN, MAX_HEAD, |head| {
                let service = &shared.service;
                if *head.method() == Method::POST {
                    if !is_events_path(head.path()) {
                        return None;
                    }
                    let body = Body::from(Bytes::copy_from_slice(head.body()));
                    return head.to_request().map(|request| Made::Request(Box::new(request.map(|()| body))));
                }
                if *head.method() == Method::GET
                    && !stopping
                    && let Some(answer) = updates::reuse(&service.state, head)
                {
                    let log = if service.logs { head.to_request().map(|r| RequestLog::start(&r)) } else { None };
                    return Some(Made::Reused(answer, log));
                }
                head.to_request().map(|request| Made::Request(Box::new(request.map(|()| Body::empty()))))
            });
            match made {
                Parsed::Request(Made::Request(request), len) => return Ok(Step::Serve(request, len)),
                Parsed::Request(Made::Reused(answer, log), len) => return Ok(Step::Reuse(answer, log, len)),
                Parsed::HandOff => return Ok(Step::Leave(Next::HandOff)),
                Parsed::Partial if buf.len() >= MAX_HEAD => return Ok(Step::Leave(Next::HandOff)),
                Parsed::Partial => {}
            }
        }
        let read = if buf.is_empty() {
            if !presence.waiting() {
                return Ok(Step::Leave(Next::Close));
            }
            let read = read_some(stream, buf).await;
            if !presence.busy() {
                return Ok(Step::Leave(Next::Close));
            }
            read
        } else {
            let deadline = *head_deadline.get_or_insert_with(|| Instant::now() + shared.options.timeouts.header_read);
            // Boxed: its timer is only for heads that arrive in pieces (slow or hostile clients), and would take room
            // in every connection's state.
            let reading = Box::pin(tokio::time::timeout_at(deadline, read_some(stream, buf)));
            match reading.await {
                Ok(read) => read,
                Err(_elapsed) => return Ok(Step::Leave(Next::Close)),
            }
        };
        if read? == 0 {
            return Ok(Step::Leave(Next::Close));
        }
    }
}

/// Whether `path` (and query) is the event endpoint's, `/{app}/events`: the one `POST` the front serves.
fn is_events_path(path: &str) -> bool {
    let path = path.split_once('?').map_or(path, |(path, _)| path);
    path.strip_suffix("/events")
        .and_then(|app| app.strip_prefix('/'))
        .is_some_and(|app| !app.is_empty() && !app.contains('/'))
}

/// Reads what the socket has into `buf` (0: the client closed). An empty buffer is given back to the thread's spares
/// before the wait and one is taken once the socket is readable, so that idle connections hold none and a request
/// costs no allocation (allocating and freeing a buffer for each was ~0.6 % of a check's CPU time, mostly the allocator
/// retiring the page the lone buffer lived on). The read goes through tokio's `poll_read`, which takes a short read as
/// "drained" and waits for the next readiness event instead of trying again (a system call that would fail with
/// `EAGAIN`). The wait is `poll_read_ready`, which keeps the task's waker in the socket's one reader slot, where
/// `readable()` would queue a waiter (a lock, a list insert and a waker clone per request).
async fn read_some(stream: &mut TcpStream, buf: &mut BytesMut) -> io::Result<usize> {
    if buf.is_empty() {
        give_back(std::mem::take(buf));
        std::future::poll_fn(|cx| stream.poll_read_ready(cx)).await?;
        *buf = take_spare();
    } else {
        std::future::poll_fn(|cx| stream.poll_read_ready(cx)).await?;
    }
    // Reclaims the whole of a spare (a read buffer advanced past the requests it held).
    buf.reserve(4096);
    stream.read_buf(buf).await
}

/// The most read buffers a thread keeps for its connections, and the largest it keeps (they are at least 4 KiB).
const MAX_SPARE_BUFFERS: usize = 64;
const MAX_SPARE_CAPACITY: usize = 16 << 10;

thread_local! {
    /// Read buffers of the thread's connections that were waiting for a request when they had one.
    static SPARE_BUFFERS: RefCell<Vec<BytesMut>> = const { RefCell::new(Vec::new()) };
}

/// Keeps an empty read buffer among the thread's spares, unless there are enough or it is larger than a read buffer
/// grows for ordinary requests (one grown for a large head is freed).
fn give_back(mut spare: BytesMut) {
    // Its whole allocation, past the requests it held: asking for more room than is left moves the start back.
    let _ = spare.try_reclaim(spare.capacity() + 1);
    // A connection's first wait has no buffer to give.
    if (1..=MAX_SPARE_CAPACITY).contains(&spare.capacity()) {
        SPARE_BUFFERS.with_borrow_mut(|spares| {
            if spares.len() < MAX_SPARE_BUFFERS {
                spares.push(spare);
            }
        });
    }
}

/// One of the thread's spare read buffers, or a new (unallocated) one.
fn take_spare() -> BytesMut {
    SPARE_BUFFERS.with_borrow_mut(Vec::pop).unwrap_or_default()
}

/// Runs `request` through the router and sends the response; returns whether the connection stays open.
async fn respond(
    stream: &TcpStream,
    peer: SocketAddr,
    shared: &Shared,
    presence: &Presence,
    mut request: Request<Body>,
) -> io::Result<bool> {
    let method = request.method().clone();
    let write = shared.options.timeouts.write;
    request.extensions_mut().insert(PeerAddr(peer.ip()));
    let response = match tower::ServiceExt::oneshot(shared.service.router.clone(), request).await {
        Ok(response) => response,
        Err(never) => match never {},
    };
    let (mut parts, mut body) = response.into_parts();
    if presence.stopping() {
        // As hyper does when a shutdown stops keep-alive.
        match parts.headers.get(header::CONNECTION) {
            Some(value) if connection_close(value) => {}
            Some(_) => {
                parts.headers.append(header::CONNECTION, HeaderValue::from_static("close"));
            }
            None => {
                parts.headers.insert(header::CONNECTION, HeaderValue::from_static("close"));
            }
        }
    }
    let declared = if body.is_end_stream() {
        Declared::Nothing
    } else {
        body.size_hint().exact().map_or(Declared::Unknown, Declared::Known)
    };
    let mut out = Vec::with_capacity(512);
    let head = millennium_http1::encode_head(&mut out, &method, parts.status, &parts.headers, declared);
    match head.framing {
        Framing::Length(0) => send_all(stream, &out, write).await?,
        Framing::Length(len) => match parts.extensions.remove::<SendFile>() {
            Some(file) if file.len == len => {
                drop(body);
                // Corked, as nginx's `tcp_nopush`: the head goes out with the file's first bytes, and only full
                // segments leave while the file is sent (the socket has `TCP_NODELAY`, which alone would push out
                // every short tail).
                rustix::net::sockopt::set_tcp_cork(stream, true)?;
                set_notsent_lowat(stream, NOTSENT_LOWAT)?;
                send_all(stream, &out, write).await?;
                send_file(stream, &file, write).await?;
                rustix::net::sockopt::set_tcp_cork(stream, false)?;
            }
            _ => send_body(stream, out, &mut body, Some(len), write).await?,
        },
        Framing::Chunked => send_body(stream, out, &mut body, None, write).await?,
    }
    Ok(head.keep_alive)
}

/// Sends a kept answer to a `GET`; returns whether the connection stays open.
async fn send_reused(
    stream: &TcpStream,
    answer: &updates::ReusedAnswer,
    log: Option<RequestLog>,
    write: Duration,
) -> io::Result<bool> {
    if let Some(log) = log {
        // As the router's layer does: once the answer is made, before it is sent.
        log.finish(answer.status);
    }
    // Made in the thread's buffer and sent at once, as the socket takes it whole but for a client not reading; only
    // then is what is left copied out, to be sent as the client reads.
    let left = ANSWER.with_borrow_mut(|out| {
        out.clear();
        out.extend_from_slice(&answer.head);
        millennium_http1::finish_head(out);
        out.extend_from_slice(&answer.body);
        send_now(stream, out).map(|sent| out[sent..].to_vec())
    })?;
    if !left.is_empty() {
        // Boxed: with its timer it takes ~0.5 KiB, and only a client that does not read needs it.
        let sending = Box::pin(send_rest(stream, &left, write));
        sending.await?;
    }
    Ok(answer.keep_alive)
}

thread_local! {
    /// The thread's buffer for kept answers (allocating one for each cost more than copying into it).
    static ANSWER: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// Sends `head` and then the body's data frames: `Some(len)` bytes exactly (a body that ends short is an error, so
/// the connection closes), or chunked.
async fn send_body(
    stream: &TcpStream,
    mut out: Vec<u8>,
    body: &mut Body,
    length: Option<u64>,
    write: Duration,
) -> io::Result<()> {
    let mut left = length;
    while let Some(frame) = std::future::poll_fn(|cx| Pin::new(&mut *body).poll_frame(cx)).await {
        let Ok(data) = frame.map_err(io::Error::other)?.into_data() else { continue };
        if data.is_empty() {
            continue;
        }
        match &mut left {
            Some(left) => {
                if data.len() as u64 > *left {
                    return Err(io::Error::other("the response body is longer than its content-length"));
                }
                *left -= data.len() as u64;
                out.extend_from_slice(&data);
            }
            None => {
                out.extend_from_slice(format!("{:X}\r\n", data.len()).as_bytes());
                out.extend_from_slice(&data);
                out.extend_from_slice(b"\r\n");
            }
        }
        if out.len() >= SEND_AT {
            send_all(stream, &out, write).await?;
            out.clear();
        }
    }
    match left {
        Some(0) => {}
        Some(_) => return Err(io::Error::other("the response body ended before its content-length")),
        None => out.extend_from_slice(b"0\r\n\r\n"),
    }
    send_all(stream, &out, write).await
}

/// Sends all of `data`, giving up when the client takes nothing for `write`.
async fn send_all(stream: &TcpStream, data: &[u8], write: Duration) -> io::Result<()> {
    // Most answers fit in the socket's buffer: sent at once, with no timer to set up.
    let sent = send_now(stream, data)?;
    send_rest(stream, &data[sent..], write).await
}

/// Sends what the socket takes of `data` now, without waiting; returns how much it took.
fn send_now(stream: &TcpStream, data: &[u8]) -> io::Result<usize> {
    if data.is_empty() {
        return Ok(0);
    }
    match stream.try_io(Interest::WRITABLE, || send(stream, data)) {
        Ok(sent) => Ok(sent),
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(0),
        Err(e) => Err(e),
    }
}

/// Sends the rest of an answer as the client reads it, giving up when it takes nothing for `write`.
async fn send_rest(stream: &TcpStream, mut data: &[u8], write: Duration) -> io::Result<()> {
    while !data.is_empty() {
        let sent = tokio::time::timeout(write, stream.async_io(Interest::WRITABLE, || send(stream, data)))
            .await
            .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "the client stopped reading"))??;
        data = &data[sent..];
    }
    Ok(())
}

/// One `send(2)` of what the socket takes of `data`, without `SIGPIPE`.
fn send(stream: &TcpStream, data: &[u8]) -> io::Result<usize> {
    Ok(rustix::net::send(stream, data, SendFlags::NOSIGNAL)?)
}

/// The most one `sendfile(2)` call is asked to send (nginx's `sendfile_max_chunk` default). A call that sends it all is
/// followed by a yield, so the other connections get their turn.
const SENDFILE_MAX_CHUNK: u64 = 2 << 20;

/// The most bytes of a download kept queued in the socket beyond what TCP may send yet (`TCP_NOTSENT_LOWAT`): the
/// socket counts as writable only below it. Without a bound, `sendfile` queues up to the send buffer (megabytes), and
/// that backlog is sent by the kernel when the client's acknowledgements open the window, in the context that
/// receives them, on the client's side of the machine rather than this process's; with it, the data is mostly sent
/// from this process's `sendfile` calls. On loopback that moved the kernel's transmit work off the client's CPU and
/// took downloads from below nginx's rate to above it (the server README's performance section).
const NOTSENT_LOWAT: libc::c_int = 32 << 10;

/// Sets `TCP_NOTSENT_LOWAT` ([`NOTSENT_LOWAT`]). rustix has no call for this option; socket2 has one behind a feature
/// that would recompile tokio and everything above it.
#[allow(unsafe_code, reason = "setsockopt(2) for an option rustix has no call for")]
fn set_notsent_lowat(stream: &TcpStream, bytes: libc::c_int) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    let len = libc::socklen_t::try_from(size_of::<libc::c_int>()).unwrap_or(4);
    // SAFETY: the descriptor is the stream's open socket, and the value is a c_int that outlives the call, whose
    // length is passed with it.
    let done = unsafe {
        libc::setsockopt(stream.as_raw_fd(), libc::IPPROTO_TCP, libc::TCP_NOTSENT_LOWAT, (&raw const bytes).cast(), len)
    };
    if done == 0 { Ok(()) } else { Err(io::Error::last_os_error()) }
}

/// Sends the file stretch with `sendfile(2)`; a file that ends early is an error (the connection closes).
async fn send_file(stream: &TcpStream, file: &SendFile, write: Duration) -> io::Result<()> {
    let mut offset = file.start;
    let end = file.start + file.len;
    while offset < end {
        let count = usize::try_from((end - offset).min(SENDFILE_MAX_CHUNK)).unwrap_or(0);
        let sent = tokio::time::timeout(
            write,
            stream.async_io(Interest::WRITABLE, || {
                Ok(rustix::fs::sendfile(stream, &*file.file, Some(&mut offset), count)?)
            }),
        )
        .await
        .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "the client stopped reading"))??;
        if sent == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!("the stored file is damaged: it ends {} bytes short", end - offset),
            ));
        }
        file.sent.fetch_add(sent as u64, Ordering::Relaxed);
        if sent == count {
            tokio::task::yield_now().await;
        }
    }
    Ok(())
}

/// Hyper serves the connection from here, reading `prefix` (what the front read) first; when it is done, the
/// connection [lingers](linger).
async fn hand_off(
    stream: TcpStream,
    prefix: Bytes,
    peer: SocketAddr,
    shared: &Shared,
    mut shutdown: watch::Receiver<bool>,
) {
    // The peer address, for the event endpoint's per-IP rate limit ([`PeerAddr`]).
    let router = tower::Layer::layer(&axum::Extension(PeerAddr(peer.ip())), shared.service.router.clone());
    let service = hyper_util::service::TowerToHyperService::new(router);
    let io = hyper_util::rt::TokioIo::new(Replay { prefix, stream });
    let mut connection = shared.http.serve_connection(io, service);
    let mut stopping = false;
    let served = loop {
        tokio::select! {
            served = std::future::poll_fn(|cx| connection.poll_without_shutdown(cx)) => break served,
            // Dropping the guard before anything else awaits (it is not `Send`).
            _ = async { shutdown.wait_for(|stopping| *stopping).await.map(drop) }, if !stopping => {
                stopping = true;
                std::pin::Pin::new(&mut connection).graceful_shutdown();
            }
        }
    };
    // A lingering connection does not hold the server's shutdown back.
    drop(shutdown);
    match served {
        Ok(()) => linger(connection.into_parts().io.into_inner().stream, &shared.options.timeouts).await,
        Err(e) => tracing::debug!(%peer, error = %e, "connection closed with an error"),
    }
}

/// How long a connection hyper is done with may go on taking what the client still sends ([`linger`]): in all, and
/// without data (nginx's `lingering_time` and `lingering_timeout`).
const LINGER_TOTAL: Duration = Duration::from_secs(30);
const LINGER_IDLE: Duration = Duration::from_secs(5);

/// Closes a connection hyper is done with as nginx's `lingering_close` does. Hyper answers a request whose body it did
/// not read (an upload refused before its end: a bad token, a release refused by its first part) and then closes;
/// closing a socket with unread data makes the kernel reset the connection, and the reset makes the client's kernel
/// drop the answer the client has not read yet, so the client, still sending, sees "connection reset" instead of the
/// refusal and its reason. So the write side is shut first (the client sees the answer end), and what the client still
/// sends is read and dropped until it closes, for at most [`LINGER_TOTAL`], or [`LINGER_IDLE`] without data, and
/// never past the write timeout's worth of silence.
async fn linger(mut stream: TcpStream, timeouts: &HttpTimeouts) {
    if rustix::net::shutdown(&stream, rustix::net::Shutdown::Write).is_err() {
        return;
    }
    let deadline = Instant::now() + LINGER_TOTAL;
    let idle = LINGER_IDLE.min(timeouts.write);
    let mut dropped = [0u8; 8192];
    loop {
        let wait = deadline.saturating_duration_since(Instant::now()).min(idle);
        match tokio::time::timeout(wait, stream.read(&mut dropped)).await {
            Ok(Ok(n)) if n > 0 => {}
            _ => return,
        }
    }
}

/// A socket whose reads start with bytes already read from it.
struct Replay {
    prefix: Bytes,
    stream: TcpStream,
}

impl AsyncRead for Replay {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        if self.prefix.is_empty() {
            return Pin::new(&mut self.stream).poll_read(cx, buf);
        }
        let n = self.prefix.len().min(buf.remaining());
        buf.put_slice(&self.prefix[..n]);
        self.prefix.advance(n);
        Poll::Ready(Ok(()))
    }
}

impl AsyncWrite for Replay {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, data: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, data)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use bytes::BufMut;

    use super::*;

    #[test]
    fn a_read_buffer_is_reused_whole_and_one_grown_for_a_large_head_is_freed() {
        // An ordinary one, after a request: given back and taken again, it reads the next without allocating.
        let mut buf = BytesMut::new();
        buf.reserve(4096);
        let allocation = buf.as_ptr();
        buf.put_slice(&[b'x'; 3000]);
        buf.advance(3000);
        give_back(buf);
        let mut buf = take_spare();
        buf.reserve(4096);
        assert_eq!(buf.as_ptr(), allocation, "the spare was not reused in place");
        assert!(buf.capacity() >= 4096);
        // Grown for a large head: freed, however little of it is left after the head.
        let mut buf = BytesMut::with_capacity(40_000);
        buf.put_slice(&[b'x'; 30_000]);
        buf.advance(30_000);
        give_back(buf);
        assert!(take_spare().capacity() == 0, "a large buffer was kept");
        // A connection's first wait: nothing to keep.
        give_back(BytesMut::new());
        assert_eq!(take_spare().capacity(), 0);
    }

    /// The size of the future `make` returns, without making one.
    fn future_size<A, F: Future>(_make: impl FnOnce(A) -> F) -> usize {
        size_of::<F>()
    }

    #[test]
    fn a_connection_s_task_keeps_no_room_for_hyper_or_a_slow_client_s_send() {
        // Every connection's task is this future for as long as the connection is open, idle ones too: its size is
        // paid by each (the bench's KiB per idle connection). Hyper's connection (~9 KiB in a test build) and the
        // send to a client that does not read, with its timer (~0.5 KiB), are boxed while in use; this fails if
        // one of them comes back inline, as through a temporary alive across an await.
        let size =
            future_size(|(stream, peer, shared, shutdown, presence)| serve(stream, peer, shared, shutdown, presence));
        assert!(size <= 1024, "a connection's future is {size} bytes");
    }
}
