//! A scriptable HTTP/1.1 server on 127.0.0.1 that can misbehave: a test answers each request with a closure, and the
//! answer can break HTTP in every way a real network or a hostile server does (reset the connection mid-body, send
//! fewer bytes than `Content-Length`, drip, never stop). Every connection serves one request and closes. It stands in
//! for update servers and file hosts, and, forwarding to a real server and rewriting its answers, for a malicious
//! mirror.
//!
//! Raw Tokio rather than a framework, because a framework would not let a test break the protocol.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
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
    requests: Arc<Mutex<Vec<Request>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for MockServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl MockServer {
    /// Serves on an ephemeral loopback port, answering each request with `handler`.
    pub async fn start(handler: impl Fn(&Request) -> Reply + Send + Sync + 'static) -> MockServer {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let handler: Arc<Handler> = Arc::new(handler);
        let log = requests.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else { return };
                let handler = handler.clone();
                let log = log.clone();
                tokio::spawn(async move {
                    let _ = serve(stream, handler, log).await;
                });
            }
        });
        MockServer { addr, requests, task }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
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

async fn serve(mut stream: TcpStream, handler: Arc<Handler>, log: Arc<Mutex<Vec<Request>>>) -> std::io::Result<()> {
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
            let std = stream.into_std()?;
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
