//! A scriptable HTTP/1.1 server on 127.0.0.1 that can misbehave: a test answers each request with a closure, and the
//! answer can break HTTP in every way a real network or a hostile server does (reset the connection mid-body, send
//! fewer bytes than `Content-Length`, drip, never stop). Every connection serves one request and closes. It stands in
//! for update servers and file hosts, and, forwarding to a real server and rewriting its answers, for a malicious
//! mirror. With the feature `https` it also speaks TLS, with a certificate of a `TestCa`, for the attacks that only
//! exist once a check is over https (a downgrade to plain http, headers following a download to another origin).
//!
//! Raw Tokio rather than a framework, because a framework would not let a test break the protocol.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// A request as the server saw it.
#[derive(Debug, Clone)]
pub struct Request {
    pub method: String,
    pub path: String,
    pub headers: Vec<(String, String)>,
}

impl Request {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

/// What to answer.
#[derive(Debug, Clone)]
pub enum Reply {
    /// A normal response; `Content-Length` is added unless `headers` has one.
    Full { status: u16, headers: Vec<(String, String)>, body: Vec<u8> },
    /// Status line and headers, then `body`, then a TCP reset.
    ResetAfter { status: u16, headers: Vec<(String, String)>, body: Vec<u8> },
    /// Status line and headers, then `body`, then a clean close (fewer bytes than announced = truncation).
    CloseAfter { status: u16, headers: Vec<(String, String)>, body: Vec<u8> },
    /// Status line and headers, then `body` one `chunk` every `every`.
    Drip { status: u16, headers: Vec<(String, String)>, body: Vec<u8>, chunk: usize, every: Duration },
    /// Status line and headers, then bytes forever (until the client hangs up).
    Endless { status: u16, headers: Vec<(String, String)> },
}

impl Reply {
    pub fn status(status: u16) -> Self {
        Reply::Full { status, headers: vec![], body: vec![] }
    }

    pub fn json(body: impl Into<Vec<u8>>) -> Self {
        Reply::Full {
            status: 200,
            headers: vec![("Content-Type".into(), "application/json".into())],
            body: body.into(),
        }
    }

    pub fn bytes(body: impl Into<Vec<u8>>) -> Self {
        Reply::Full {
            status: 200,
            headers: vec![("Content-Type".into(), "application/octet-stream".into())],
            body: body.into(),
        }
    }
}

type Handler = dyn Fn(&Request) -> Reply + Send + Sync;

/// A running server answering with a test's closure, recording every request; stops when dropped.
#[derive(Debug)]
pub struct MockServer {
    pub addr: SocketAddr,
    scheme: &'static str,
    requests: Arc<Mutex<Vec<Request>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for MockServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl MockServer {
    /// Serves plain http on an ephemeral loopback port, answering each request with `handler`.
    pub async fn start(handler: impl Fn(&Request) -> Reply + Send + Sync + 'static) -> MockServer {
        Self::start_with(None, handler).await
    }

    /// Serves https on an ephemeral loopback port with a certificate of `ca` for `127.0.0.1` and `localhost`
    /// (clients must trust `ca`), answering each request with `handler`.
    #[cfg(feature = "https")]
    pub async fn start_tls(ca: &TestCa, handler: impl Fn(&Request) -> Reply + Send + Sync + 'static) -> MockServer {
        Self::start_with(Some(ca.acceptor.clone()), handler).await
    }

    async fn start_with(
        tls: Option<Acceptor>,
        handler: impl Fn(&Request) -> Reply + Send + Sync + 'static,
    ) -> MockServer {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let handler: Arc<Handler> = Arc::new(handler);
        let log = requests.clone();
        let scheme = if tls.is_some() { "https" } else { "http" };
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else { return };
                let (handler, log, tls) = (handler.clone(), log.clone(), tls.clone());
                tokio::spawn(async move {
                    let _ = match tls {
                        None => serve(stream, handler, log).await,
                        Some(tls) => serve_tls(tls, stream, handler, log).await,
                    };
                });
            }
        });
        MockServer { addr, scheme, requests, task }
    }

    /// `path` on this server, with its scheme (`http` or `https`).
    pub fn url(&self, path: &str) -> String {
        format!("{}://{}{path}", self.scheme, self.addr)
    }

    /// Every request so far, in order.
    pub fn requests(&self) -> Vec<Request> {
        self.requests.lock().unwrap().clone()
    }

    /// The requests whose path starts with `prefix`.
    pub fn requests_to(&self, prefix: &str) -> Vec<Request> {
        self.requests().into_iter().filter(|r| r.path.starts_with(prefix)).collect()
    }
}

/// A connection the server answers on: plain TCP, or TLS over it.
trait Connection: AsyncRead + AsyncWrite + Unpin {
    /// The TCP socket underneath, to reset it.
    fn into_tcp(self) -> TcpStream;
}

impl Connection for TcpStream {
    fn into_tcp(self) -> TcpStream {
        self
    }
}

async fn serve(
    mut stream: impl Connection,
    handler: Arc<Handler>,
    log: Arc<Mutex<Vec<Request>>>,
) -> std::io::Result<()> {
    let mut buf = Vec::new();
    let mut byte = [0u8; 1024];
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = stream.read(&mut byte).await?;
        if n == 0 {
            return Ok(());
        }
        buf.extend_from_slice(&byte[..n]);
    }
    let text = String::from_utf8_lossy(&buf).into_owned();
    let mut lines = text.split("\r\n");
    let first = lines.next().unwrap_or_default();
    let mut parts = first.split(' ');
    let method = parts.next().unwrap_or_default().to_owned();
    let path = parts.next().unwrap_or_default().to_owned();
    let headers = lines
        .take_while(|l| !l.is_empty())
        .filter_map(|l| l.split_once(':').map(|(n, v)| (n.trim().to_owned(), v.trim().to_owned())))
        .collect();
    let request = Request { method, path, headers };
    log.lock().unwrap().push(request.clone());
    let reply = handler(&request);

    fn head(status: u16, headers: &[(String, String)], length: Option<usize>) -> Vec<u8> {
        let mut out = format!("HTTP/1.1 {status} X\r\nConnection: close\r\n");
        for (n, v) in headers {
            out.push_str(&format!("{n}: {v}\r\n"));
        }
        if let Some(len) = length
            && !headers.iter().any(|(n, _)| n.eq_ignore_ascii_case("content-length"))
        {
            out.push_str(&format!("Content-Length: {len}\r\n"));
        }
        out.push_str("\r\n");
        out.into_bytes()
    }

    match reply {
        Reply::Full { status, headers, body } => {
            stream.write_all(&head(status, &headers, Some(body.len()))).await?;
            stream.write_all(&body).await?;
            stream.shutdown().await?;
        }
        Reply::ResetAfter { status, headers, body } => {
            stream.write_all(&head(status, &headers, None)).await?;
            stream.write_all(&body).await?;
            stream.flush().await?;
            tokio::time::sleep(Duration::from_millis(20)).await;
            let std = stream.into_tcp().into_std()?;
            socket_reset(std);
        }
        Reply::CloseAfter { status, headers, body } => {
            stream.write_all(&head(status, &headers, None)).await?;
            stream.write_all(&body).await?;
            stream.shutdown().await?;
        }
        Reply::Drip { status, headers, body, chunk, every } => {
            stream.write_all(&head(status, &headers, Some(body.len()))).await?;
            for piece in body.chunks(chunk.max(1)) {
                stream.write_all(piece).await?;
                stream.flush().await?;
                tokio::time::sleep(every).await;
            }
        }
        Reply::Endless { status, headers } => {
            stream.write_all(&head(status, &headers, None)).await?;
            let block = vec![0x42u8; 64 * 1024];
            for _ in 0..100_000 {
                stream.write_all(&block).await?;
            }
        }
    }
    Ok(())
}

/// Closes with RST (SO_LINGER 0) instead of FIN.
fn socket_reset(stream: std::net::TcpStream) {
    let stream = TcpStream::from_std(stream).unwrap();
    #[allow(deprecated)]
    let _ = stream.set_linger(Some(Duration::ZERO));
    drop(stream);
}

/// Without the feature `https` there is no TLS acceptor: a server is plain http.
#[cfg(not(feature = "https"))]
#[derive(Clone)]
enum Acceptor {}

#[cfg(not(feature = "https"))]
async fn serve_tls(tls: Acceptor, _: TcpStream, _: Arc<Handler>, _: Arc<Mutex<Vec<Request>>>) -> std::io::Result<()> {
    match tls {}
}

#[cfg(feature = "https")]
pub use tls::TestCa;
#[cfg(feature = "https")]
use tls::{Acceptor, serve_tls};

#[cfg(feature = "https")]
mod tls {
    use std::sync::{Arc, Mutex};

    use tokio::net::TcpStream;
    use tokio_rustls::rustls;

    use super::{Connection, Handler, Request, serve};

    pub(super) type Acceptor = tokio_rustls::TlsAcceptor;

    impl Connection for tokio_rustls::server::TlsStream<TcpStream> {
        fn into_tcp(self) -> TcpStream {
            self.into_inner().0
        }
    }

    /// Serves one request over TLS; a client that does not trust the CA hangs up during the handshake.
    pub(super) async fn serve_tls(
        tls: Acceptor,
        stream: TcpStream,
        handler: Arc<Handler>,
        log: Arc<Mutex<Vec<Request>>>,
    ) -> std::io::Result<()> {
        match tls.accept(stream).await {
            Ok(stream) => serve(stream, handler, log).await,
            Err(_) => Ok(()),
        }
    }

    /// A certificate authority for the tests, and an https server certificate it issued for `127.0.0.1` and
    /// `localhost`, both made by the `openssl` command-line tool (a real CA's tool, so the client's verification is
    /// the one it does in production). Clients trust it with `UpdaterBuilder::add_root_certificate(ca.ca_pem.clone())`.
    pub struct TestCa {
        pub ca_pem: Vec<u8>,
        pub(super) acceptor: Acceptor,
    }

    impl std::fmt::Debug for TestCa {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.debug_struct("TestCa").finish_non_exhaustive()
        }
    }

    impl Default for TestCa {
        fn default() -> Self {
            Self::new()
        }
    }

    impl TestCa {
        /// A new CA and server certificate, valid for two days.
        pub fn new() -> TestCa {
            use rustls::pki_types::pem::PemObject;
            use rustls::pki_types::{CertificateDer, PrivateKeyDer};

            crate::require_tool("openssl", "openssl");
            let dir = tempfile::tempdir().unwrap();
            let path = |name: &str| dir.path().join(name).to_str().unwrap().to_owned();
            let openssl = |args: &[&str]| {
                let out = std::process::Command::new("openssl").args(args).output().unwrap();
                assert!(out.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
            };
            let ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"];
            let (ca_key, ca_pem) = (path("ca.key"), path("ca.pem"));
            openssl(
                &[
                    &["req", "-x509"][..],
                    &ec,
                    &["-keyout", &ca_key, "-out", &ca_pem, "-days", "2", "-subj", "/CN=Millennium test CA"],
                    &["-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign"],
                ]
                .concat(),
            );
            let (key, csr, cert, ext) = (path("server.key"), path("server.csr"), path("server.pem"), path("ext.cnf"));
            openssl(&[&["req"][..], &ec, &["-keyout", &key, "-out", &csr, "-subj", "/CN=127.0.0.1"]].concat());
            std::fs::write(
                &ext,
                "subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=critical,CA:FALSE\n\
                 keyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n",
            )
            .unwrap();
            #[rustfmt::skip]
            openssl(&[
                "x509", "-req", "-in", &csr, "-CA", &ca_pem, "-CAkey", &ca_key, "-CAcreateserial", "-out", &cert,
                "-days", "2", "-extfile", &ext,
            ]);

            let chain = vec![CertificateDer::from_pem_file(&cert).unwrap()];
            let key = PrivateKeyDer::from_pem_file(&key).unwrap();
            let provider = Arc::new(rustls::crypto::ring::default_provider());
            let config = rustls::ServerConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()
                .unwrap()
                .with_no_client_auth()
                .with_single_cert(chain, key)
                .unwrap();
            TestCa { ca_pem: std::fs::read(&ca_pem).unwrap(), acceptor: Acceptor::from(Arc::new(config)) }
        }
    }
}

/// Serves `body` the way a good file server does: `ETag`, `Range` + `If-Range`.
pub fn serve_file(req: &Request, body: &[u8], etag: &str) -> Reply {
    let mut headers =
        vec![("Content-Type".to_owned(), "application/octet-stream".to_owned()), ("ETag".to_owned(), etag.to_owned())];
    let if_range_ok = req.header("If-Range").is_none_or(|v| v == etag);
    if let Some(range) = req.header("Range").and_then(|r| r.strip_prefix("bytes="))
        && if_range_ok
        && let Some(start) = range.strip_suffix('-').and_then(|s| s.parse::<usize>().ok())
        && start < body.len()
    {
        headers.push(("Content-Range".into(), format!("bytes {start}-{}/{}", body.len() - 1, body.len())));
        return Reply::Full { status: 206, headers, body: body[start..].to_vec() };
    }
    Reply::Full { status: 200, headers, body: body.to_vec() }
}
