//! The public listener's connections spread over threads that each run their own
//! single-threaded runtime (issue #11, OCSP from memory at the static-file ceiling).
//!
//! On the shared multi-threaded runtime every request woke tasks across threads (the
//! connection's task, the work-stealing scheduler's idle workers): more than half of an
//! OCSP answer's time went to the kernel switching threads. Here one task accepts and
//! hands each connection to one thread, round robin; that thread serves it to its end,
//! as an nginx worker does, so a request's wake-ups stay on the thread that reads it.

use crate::watched::{Cap, Slot};
use axum::Router;
use hyper_util::server::graceful::{GracefulShutdown, Watcher};
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

/// One accepted connection on its way to its thread, the watch that lets a stopping
/// server wait for it, and its place under the listener's cap.
type Handed = (std::net::TcpStream, Watcher, Slot);

/// The public listener's threads, started before the server announces itself so that a
/// failure to start them stops start-up with a clear error.
pub struct Spread {
    lanes: Vec<mpsc::UnboundedSender<Handed>>,
}

impl Spread {
    /// Starts `workers` threads (at least one), each with its own runtime, serving `app`.
    pub fn start(app: Router, workers: usize) -> std::io::Result<Spread> {
        let mut lanes = Vec::new();
        for i in 0..workers.max(1) {
            let (tx, rx) = mpsc::unbounded_channel::<Handed>();
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            let app = app.clone();
            std::thread::Builder::new()
                .name(format!("public-{i}"))
                .spawn(move || rt.block_on(worker(rx, app)))?;
            lanes.push(tx);
        }
        Ok(Spread { lanes })
    }

    /// Serves plain HTTP on `listener` until `stop` completes; then accepts no more,
    /// closes idle keep-alive connections, lets requests in flight finish (up to
    /// [`crate::tls::DRAIN`]) and returns. The threads stay parked afterwards until the
    /// process exits, so that a database connection a request opened on one of them
    /// keeps its I/O driver.
    /// At most `cap` connections are open at once.
    pub async fn serve(
        self,
        listener: TcpListener,
        cap: Cap,
        stop: impl std::future::Future<Output = ()>,
    ) {
        let lanes = self.lanes;
        let graceful = GracefulShutdown::new();
        tokio::pin!(stop);
        let mut next = 0usize;
        loop {
            let slot = tokio::select! {
                slot = cap.admit() => match slot {
                    Some(s) => s,
                    None => break,
                },
                () = &mut stop => break,
            };
            let (tcp, slot) = tokio::select! {
                accepted = listener.accept() => match accepted {
                    Ok((c, peer)) => match cap.from_address(slot, peer.ip()) {
                        Some(slot) => (c, slot),
                        // Its address has its share open: closed at once.
                        None => continue,
                    },
                    Err(e) => {
                        tracing::warn!("accept: {e}");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                },
                () = &mut stop => break,
            };
            // Leaves this runtime's reactor; the worker registers it with its own.
            let std = match tcp.into_std() {
                Ok(s) => s,
                Err(e) => {
                    tracing::debug!("connection: {e}");
                    continue;
                }
            };
            let lane = &lanes[next % lanes.len()];
            next = next.wrapping_add(1);
            // A worker's receiver lives as long as its thread: a send fails only if the
            // thread died, and then the connection is closed (dropped) here.
            if lane.send((std, graceful.watcher(), slot)).is_err() {
                tracing::error!("public listener: a worker thread has stopped");
            }
        }
        drop(listener);
        drop(lanes);
        crate::tls::drain(graceful).await;
    }
}

/// One thread's loop: serves each connection it is handed on this thread's runtime.
async fn worker(mut rx: mpsc::UnboundedReceiver<Handed>, app: Router) {
    while let Some((std, watcher, slot)) = rx.recv().await {
        let tcp = match std
            .set_nonblocking(true)
            .and_then(|()| TcpStream::from_std(std))
        {
            Ok(t) => t,
            Err(e) => {
                tracing::debug!("connection: {e}");
                continue;
            }
        };
        let _ = tcp.set_nodelay(true);
        let app = app.clone();
        tokio::spawn(async move {
            let _slot = slot;
            crate::tls::serve_connection(
                tcp,
                app,
                watcher,
                crate::watched::Limits::default(),
                |_| {},
            )
            .await;
        });
    }
    // The listener has stopped: connections still open finish on their own tasks.
    std::future::pending::<()>().await;
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use axum::routing::get;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    async fn who() -> String {
        std::thread::current().name().unwrap_or("").to_owned()
    }

    async fn slow() -> &'static str {
        tokio::time::sleep(Duration::from_millis(300)).await;
        "done"
    }

    /// One request on an open connection; the answer's body.
    async fn ask(c: &mut TcpStream, path: &str) -> String {
        let req = format!("GET {path} HTTP/1.1\r\nHost: t\r\n\r\n");
        if let Err(e) = c.write_all(req.as_bytes()).await {
            panic!("write: {e}");
        }
        let mut got = Vec::new();
        loop {
            let mut buf = [0u8; 1024];
            let n = c
                .read(&mut buf)
                .await
                .unwrap_or_else(|e| panic!("read: {e}"));
            assert!(n > 0, "closed after {:?}", String::from_utf8_lossy(&got));
            got.extend_from_slice(&buf[..n]);
            let text = String::from_utf8_lossy(&got).into_owned();
            let Some((head, body)) = text.split_once("\r\n\r\n") else {
                continue;
            };
            assert!(head.starts_with("HTTP/1.1 200"), "{head}");
            let len = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length: "))
                .and_then(|v| v.trim().parse::<usize>().ok())
                .unwrap_or_else(|| panic!("no length: {head}"));
            if body.len() >= len {
                return body.to_owned();
            }
        }
    }

    /// A plain TCP connection to a test server (the TLS module's tests use it too).
    pub(crate) async fn connect(addr: std::net::SocketAddr) -> TcpStream {
        TcpStream::connect(addr)
            .await
            .unwrap_or_else(|e| panic!("connect: {e}"))
    }

    #[tokio::test]
    async fn issue11_connections_are_spread_over_the_threads_and_drained_at_stop() {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .unwrap_or_else(|e| panic!("bind: {e}"));
        let addr = listener.local_addr().unwrap_or_else(|e| panic!("{e}"));
        let app = Router::new()
            .route("/who", get(who))
            .route("/slow", get(slow));
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let spread = Spread::start(app, 2).unwrap_or_else(|e| panic!("threads: {e}"));
        let server = tokio::spawn(spread.serve(listener, Cap::new("public", 100), async {
            let _ = stop_rx.await;
        }));
        // Round robin: consecutive connections go to the two threads in turn, and a
        // connection stays on its thread for every request it carries.
        let mut a = connect(addr).await;
        let first = ask(&mut a, "/who").await;
        let mut b = connect(addr).await;
        let second = ask(&mut b, "/who").await;
        assert!(first.starts_with("public-"), "{first}");
        assert!(second.starts_with("public-"), "{second}");
        assert_ne!(first, second);
        assert_eq!(ask(&mut a, "/who").await, first);
        assert_eq!(ask(&mut b, "/who").await, second);
        // A request in flight when the server stops still gets its answer; then the
        // listener is gone and serve_spread returns.
        let mut c = connect(addr).await;
        let in_flight = tokio::spawn(async move { ask(&mut c, "/slow").await });
        tokio::time::sleep(Duration::from_millis(100)).await;
        let _ = stop_tx.send(());
        assert_eq!(in_flight.await.unwrap_or_else(|e| panic!("{e}")), "done");
        let ended = tokio::time::timeout(Duration::from_secs(10), server).await;
        assert!(matches!(ended, Ok(Ok(()))), "{ended:?}");
        assert!(TcpStream::connect(addr).await.is_err());
    }

    /// A listener on one thread answering `/who`, held to `cap`, until the test ends.
    async fn serving_who(cap: Cap) -> std::net::SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .unwrap_or_else(|e| panic!("bind: {e}"));
        let addr = listener.local_addr().unwrap_or_else(|e| panic!("{e}"));
        let app = Router::new().route("/who", get(who));
        let spread = Spread::start(app, 1).unwrap_or_else(|e| panic!("threads: {e}"));
        tokio::spawn(spread.serve(listener, cap, std::future::pending()));
        addr
    }

    /// A listener at its cap accepts no more until a connection closes: with a cap of
    /// two and two kept-alive connections open, a third waits unanswered, and is
    /// answered once one of the two closes.
    #[tokio::test]
    async fn a_listener_at_its_connection_cap_waits_for_one_to_close() {
        let addr = serving_who(Cap::new("public", 2)).await;
        let mut a = connect(addr).await;
        ask(&mut a, "/who").await;
        let mut b = connect(addr).await;
        ask(&mut b, "/who").await;
        // The third connects (the kernel's queue) but is not served while both stay.
        let mut c = connect(addr).await;
        let waiting = tokio::spawn(async move { ask(&mut c, "/who").await });
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert!(
            !waiting.is_finished(),
            "a third connection was served at a cap of 2"
        );
        drop(a);
        let answered = tokio::time::timeout(Duration::from_secs(10), waiting).await;
        assert!(
            matches!(&answered, Ok(Ok(who)) if who.starts_with("public-")),
            "{answered:?}"
        );
        drop(b);
    }

    /// One address keeps at most its share of a listener's connections: with a share of
    /// two and two kept-alive connections open from 127.0.0.1, a third is closed as soon
    /// as it is accepted (no answer, end of stream) while the cap still has room; once
    /// one of the two closes, a new connection from the address is served.
    #[tokio::test]
    async fn an_address_past_its_share_of_the_cap_has_its_new_connections_closed() {
        let addr = serving_who(Cap::new("public", 100).per_address(2)).await;
        let mut a = connect(addr).await;
        ask(&mut a, "/who").await;
        let mut b = connect(addr).await;
        ask(&mut b, "/who").await;
        let mut c = connect(addr).await;
        let _ = c.write_all(b"GET /who HTTP/1.1\r\nHost: t\r\n\r\n").await;
        let mut buf = [0u8; 64];
        let read = tokio::time::timeout(Duration::from_secs(10), c.read(&mut buf)).await;
        assert!(
            matches!(read, Ok(Ok(0) | Err(_))),
            "a third connection from the address was not closed: {read:?}"
        );
        drop(a);
        // The place is given back when the connection's task ends.
        tokio::time::sleep(Duration::from_millis(200)).await;
        let mut d = connect(addr).await;
        assert!(ask(&mut d, "/who").await.starts_with("public-"));
        drop(b);
    }

    /// Addresses are counted as hosts are given them: an IPv4 address (also mapped into
    /// IPv6) alone, an IPv6 address by its /64.
    #[test]
    fn connections_are_counted_per_ipv4_address_and_per_ipv6_64() {
        use crate::watched::address_key;
        let key = |s: &str| address_key(s.parse().unwrap_or_else(|e| panic!("{s}: {e}")));
        assert_eq!(key("192.0.2.7"), key("::ffff:192.0.2.7"));
        assert_ne!(key("192.0.2.7"), key("192.0.2.8"));
        assert_eq!(key("2001:db8:1:2:aaaa::1"), key("2001:db8:1:2:ffff::9"));
        assert_eq!(key("2001:db8:1:2::1"), key("2001:db8:1:2::"));
        assert_ne!(key("2001:db8:1:2::1"), key("2001:db8:1:3::1"));
    }
}
