//! HTTP connections served by single-threaded runtimes, one per core.
//!
//! The acceptor, on the main runtime, hands each accepted connection to the next worker in turn, and a worker serves
//! its connections to the end on its own thread. Compared with one work-stealing runtime this spares every request
//! the wake-ups and queue traffic between threads, which shows on update checks (`scripts/bench-server`: about 10 %
//! more checks per second on two cores). Round robin spreads connections evenly, which `SO_REUSEPORT` hashing would
//! not, and works on every platform.
//!
//! A worker's runtime also drives the I/O of the database and object-store connections opened while it served a
//! request (they go to pools all workers share), so workers stay alive until the database is closed: a shutdown is
//! [`Workers::drain`] (stop, finish in-flight requests), then closing the database, then [`Workers::exit`].

use std::net::SocketAddr;
use std::thread::JoinHandle;

use tokio::sync::{mpsc, oneshot};

use super::Connections;
use super::front::{HttpOptions, Service};

/// A connection accepted on the main runtime, on its way to a worker.
type Accepted = (std::net::TcpStream, SocketAddr);

/// The running workers.
#[derive(Debug)]
pub struct Workers {
    senders: Vec<mpsc::UnboundedSender<Accepted>>,
    next: usize,
    drained: Vec<oneshot::Receiver<()>>,
    exits: Vec<oneshot::Sender<()>>,
    threads: Vec<JoinHandle<()>>,
}

/// The worker count when none is configured: one per core the process may use.
pub fn default_count() -> usize {
    std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
}

impl Workers {
    /// Starts `count` workers serving `service`.
    pub(super) fn start(count: usize, service: &Service, options: HttpOptions) -> std::io::Result<Self> {
        let mut workers =
            Self { senders: Vec::new(), next: 0, drained: Vec::new(), exits: Vec::new(), threads: Vec::new() };
        for index in 0..count.max(1) {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
            let (sender, receiver) = mpsc::unbounded_channel();
            let (drained_tx, drained_rx) = oneshot::channel();
            let (exit_tx, exit_rx) = oneshot::channel::<()>();
            let service = service.clone();
            let thread = std::thread::Builder::new().name(format!("http-worker-{index}")).spawn(move || {
                runtime.block_on(async move {
                    serve(receiver, service, options).await;
                    let _ = drained_tx.send(());
                    let _ = exit_rx.await;
                });
            })?;
            workers.senders.push(sender);
            workers.drained.push(drained_rx);
            workers.exits.push(exit_tx);
            workers.threads.push(thread);
        }
        Ok(workers)
    }

    /// Hands a connection to the next worker.
    pub fn dispatch(&mut self, stream: tokio::net::TcpStream, peer: SocketAddr) {
        let stream = match stream.into_std() {
            Ok(stream) => stream,
            Err(e) => {
                tracing::debug!(%peer, error = %e, "could not hand a connection to a worker");
                return;
            }
        };
        let index = self.next % self.senders.len();
        self.next = self.next.wrapping_add(1);
        // A worker only stops when its sender is dropped, so the send cannot fail while `self` lives.
        let _ = self.senders[index].send((stream, peer));
    }

    /// Stops taking connections and waits until every worker has finished its in-flight requests (at most
    /// [`super::SHUTDOWN_GRACE`]). The workers keep driving their I/O until [`Workers::exit`].
    pub async fn drain(&mut self) {
        self.senders.clear();
        for drained in self.drained.drain(..) {
            let _ = drained.await;
        }
    }

    /// Ends the worker threads.
    pub async fn exit(self) {
        for exit in self.exits {
            let _ = exit.send(());
        }
        let threads = self.threads;
        let _ = tokio::task::spawn_blocking(move || {
            for thread in threads {
                let _ = thread.join();
            }
        })
        .await;
    }
}

/// One worker: serves the connections it is handed until the acceptor goes away, then finishes them.
async fn serve(mut accepted: mpsc::UnboundedReceiver<Accepted>, service: Service, options: HttpOptions) {
    let connections = Connections::new(service, options);
    while let Some((stream, peer)) = accepted.recv().await {
        match tokio::net::TcpStream::from_std(stream) {
            Ok(stream) => connections.serve(stream, peer),
            Err(e) => tracing::warn!(%peer, error = %e, "could not register a connection"),
        }
    }
    connections.finish().await;
}
