//! A connection held to time limits (OWASP's slow-request and resource-exhaustion
//! guidance; found probing the listeners from outside, issue #11): a client that
//! connects and sends nothing, or keeps a connection open doing nothing, must not hold
//! one of the server's connections (a file descriptor, buffers, a task) for ever.
//!
//! hyper's own header-read timeout covers a trickled HTTP/1 request head and an idle
//! HTTP/1 keep-alive connection. It does not cover the bytes hyper-util reads first to
//! tell HTTP/1 from HTTP/2 (no limit of its own), nor an HTTP/2 connection, which hyper
//! keeps open as long as the peer does. [`Watched`] wraps the connection's stream and
//! ends it, as its reader sees it, when either limit passes.

use std::collections::HashMap;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Instant, Sleep};

/// The limits a connection is held to.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// How long a client has to send its first bytes after the accept (after the TLS
    /// handshake on the TLS listeners), and on HTTP/1 each request's head, and between
    /// requests on a kept-alive connection. nginx allows 60 s for headers, Apache 20–40.
    pub header_read: Duration,
    /// How long a connection may go without a byte read or written while no request on
    /// it is being answered, on either protocol (nginx: 75 s).
    pub idle: Duration,
    /// A request body must arrive at this many bytes a second at least, after a first
    /// `header_read` of grace (Apache's `RequestReadTimeout body=20,MinRate=500`): a
    /// client that drips its body cannot hold a request open for days.
    pub body_min_rate: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            header_read: Duration::from_secs(20),
            idle: Duration::from_secs(60),
            body_min_rate: 500,
        }
    }
}

/// The requests a connection is answering: each holds a [`Running`] while its handler
/// runs, and a connection is never idle while one does (a long staff action, a slow
/// store).
#[derive(Debug, Clone, Default)]
pub struct Busy(Arc<AtomicUsize>);

impl Busy {
    /// A request starts; it counts until the returned guard is dropped.
    pub fn start(&self) -> Running {
        self.0.fetch_add(1, Ordering::Relaxed);
        Running(self.0.clone())
    }

    fn any(&self) -> bool {
        self.0.load(Ordering::Relaxed) > 0
    }
}

/// A request being answered (see [`Busy`]).
#[derive(Debug)]
pub struct Running(Arc<AtomicUsize>);

impl Drop for Running {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// A connection's stream held to [`Limits`]. Before the first byte, a read that is still
/// waiting at `header_read` fails (`TimedOut`); after it, a read that is still waiting
/// once the connection has been idle for `idle` (no byte either way, no request being
/// answered) sees the end of the stream, and hyper closes the connection as if the peer
/// had. Bytes sent while a response streams count as activity, so a slow download is
/// not idle.
#[derive(Debug)]
pub struct Watched<Io> {
    io: Io,
    limits: Limits,
    /// No byte has arrived yet.
    first: bool,
    /// The last byte read or written.
    last: Instant,
    /// When to look again (re-armed lazily: activity only moves `last`).
    check: Pin<Box<Sleep>>,
    busy: Busy,
}

impl<Io> Watched<Io> {
    /// Wraps `io`; the [`Busy`] is for the connection's requests to hold.
    pub fn new(io: Io, limits: Limits) -> (Watched<Io>, Busy) {
        let busy = Busy::default();
        let now = Instant::now();
        let watched = Watched {
            io,
            limits,
            first: true,
            last: now,
            check: Box::pin(tokio::time::sleep_until(now + limits.header_read)),
            busy: busy.clone(),
        };
        (watched, busy)
    }

    /// Called when a read is waiting: whether a limit has passed (then the read ends
    /// with the returned result); otherwise the check is re-armed and registered.
    fn expired(&mut self, cx: &mut Context<'_>) -> Option<std::io::Result<()>> {
        loop {
            if self.check.as_mut().poll(cx).is_pending() {
                return None;
            }
            let now = Instant::now();
            if self.first {
                return Some(Err(std::io::ErrorKind::TimedOut.into()));
            }
            let due = self.last + self.limits.idle;
            if !self.busy.any() && now >= due {
                return Some(Ok(()));
            }
            let next = if self.busy.any() {
                now + self.limits.idle
            } else {
                due
            };
            self.check.as_mut().reset(next);
        }
    }
}

impl<Io: AsyncRead + Unpin> AsyncRead for Watched<Io> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let this = &mut *self;
        let before = buf.filled().len();
        match Pin::new(&mut this.io).poll_read(cx, buf) {
            Poll::Ready(r) => {
                if buf.filled().len() > before {
                    if this.first {
                        this.first = false;
                        // From now on the check is for idleness.
                        let due = Instant::now() + this.limits.idle;
                        this.check.as_mut().reset(due);
                    }
                    this.last = Instant::now();
                }
                Poll::Ready(r)
            }
            Poll::Pending => match this.expired(cx) {
                Some(end) => Poll::Ready(end),
                None => Poll::Pending,
            },
        }
    }
}

impl<Io: AsyncWrite + Unpin> AsyncWrite for Watched<Io> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let written = Pin::new(&mut self.io).poll_write(cx, buf);
        if matches!(written, Poll::Ready(Ok(n)) if n > 0) {
            self.last = Instant::now();
        }
        written
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        let written = Pin::new(&mut self.io).poll_write_vectored(cx, bufs);
        if matches!(written, Poll::Ready(Ok(n)) if n > 0) {
            self.last = Instant::now();
        }
        written
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

/// The most connections a listener keeps open at once. A listener at its cap accepts no
/// more until one closes (new clients wait in the kernel's queue), instead of accepting
/// until the process runs out of file descriptors — which stops every listener, and
/// the database's files, not only the flooded one (probed: 300 stalled connections on
/// the public listener of a process allowed 200 files left the portal unanswered, and
/// the accept loop logged twenty errors a second).
///
/// Within the cap, one client address (an IPv6 /64, the block one host is given) keeps
/// at most `per_address` of them ([`Cap::per_address`]): past it, its new connections
/// are closed as soon as they are accepted, so one host cannot take the whole cap and
/// leave every other client waiting (probed: one address holding every connection of
/// the public listener kept every relying party's OCSP request in the kernel's queue).
#[derive(Debug, Clone)]
pub struct Cap {
    slots: Arc<tokio::sync::Semaphore>,
    most: usize,
    per_address: usize,
    open: OpenByAddress,
    listener: &'static str,
    warned: Arc<std::sync::Mutex<Option<std::time::Instant>>>,
    warned_address: Arc<std::sync::Mutex<Option<std::time::Instant>>>,
}

/// How many connections each address ([`address_key`]) has open under a [`Cap`].
type OpenByAddress = Arc<std::sync::Mutex<HashMap<IpAddr, usize>>>;

/// A connection's place under its listener's [`Cap`] (and its address's share, once
/// [`Cap::from_address`] counted it), given back when dropped.
#[derive(Debug)]
pub struct Slot {
    _place: tokio::sync::OwnedSemaphorePermit,
    address: Option<(IpAddr, OpenByAddress)>,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let Some((key, open)) = self.address.take() else {
            return;
        };
        let mut open = match open.lock() {
            Ok(o) => o,
            Err(poisoned) => poisoned.into_inner(),
        };
        if let Some(n) = open.get_mut(&key) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                open.remove(&key);
            }
        }
    }
}

/// The key an address's connections are counted under: an IPv4 address (also when it
/// comes mapped into IPv6), or an IPv6 address's /64.
pub fn address_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(v4) => IpAddr::V4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(std::net::Ipv6Addr::from(
                v6.to_bits() & !((1u128 << 64) - 1),
            )),
        },
    }
}

impl Cap {
    /// A cap of `most` connections (at least one) for the listener named `listener`, with
    /// no share per address below it until [`Cap::per_address`] sets one.
    pub fn new(listener: &'static str, most: usize) -> Cap {
        let most = most.clamp(1, tokio::sync::Semaphore::MAX_PERMITS);
        Cap {
            slots: Arc::new(tokio::sync::Semaphore::new(most)),
            most,
            per_address: most,
            open: Arc::default(),
            listener,
            warned: Arc::default(),
            warned_address: Arc::default(),
        }
    }

    /// At most `n` (at least one) of the cap's connections from one address.
    #[must_use]
    pub fn per_address(mut self, n: usize) -> Cap {
        self.per_address = n.max(1);
        self
    }

    /// A place for the next connection: at once, or when an open one closes (then a
    /// warning, at most one a minute). `None` never happens: the cap is never closed.
    pub async fn admit(&self) -> Option<Slot> {
        let place = match self.slots.clone().try_acquire_owned() {
            Ok(place) => place,
            Err(_) => {
                self.warn(&self.warned, "connections at the listener's cap (listen.max_connections): new ones wait until one closes", None);
                self.slots.clone().acquire_owned().await.ok()?
            }
        };
        Some(Slot {
            _place: place,
            address: None,
        })
    }

    /// Counts the connection accepted into `slot` against its peer's address: `None`
    /// (the connection is to be closed, its place given back) when that address has its
    /// share open already (then a warning, at most one a minute).
    pub fn from_address(&self, mut slot: Slot, peer: IpAddr) -> Option<Slot> {
        if self.per_address >= self.most {
            return Some(slot);
        }
        let key = address_key(peer);
        let mut open = match self.open.lock() {
            Ok(o) => o,
            Err(poisoned) => poisoned.into_inner(),
        };
        let n = open.entry(key).or_insert(0);
        if *n >= self.per_address {
            drop(open);
            self.warn(
                &self.warned_address,
                "connections from one address at its share (listen.max_connections_per_address): its new ones are closed",
                Some(key),
            );
            return None;
        }
        *n += 1;
        slot.address = Some((key, self.open.clone()));
        Some(slot)
    }

    fn warn(
        &self,
        warned: &std::sync::Mutex<Option<std::time::Instant>>,
        what: &'static str,
        address: Option<IpAddr>,
    ) {
        let Ok(mut last) = warned.lock() else {
            return;
        };
        let now = std::time::Instant::now();
        if last.is_none_or(|t| now.duration_since(t) >= Duration::from_secs(60)) {
            *last = Some(now);
            match address {
                Some(address) => tracing::warn!(
                    listener = self.listener,
                    %address,
                    most = self.per_address,
                    "{what}"
                ),
                None => tracing::warn!(listener = self.listener, most = self.most, "{what}"),
            }
        }
    }
}

/// A request's body held to [`Limits::body_min_rate`]: its deadline starts
/// `header_read` after the request arrived and moves one second later for every
/// `body_min_rate` bytes received; a body still waiting at its deadline ends with an
/// error, which the handler reading it turns into a 400 (the connection then closes).
/// The timer is made only when a read of the body has to wait: a request without a
/// body, or whose body came with its head (an OCSP POST), costs none.
#[derive(Debug)]
pub struct MinRate<B> {
    inner: B,
    until: Instant,
    per_byte: Duration,
    timer: Option<Pin<Box<Sleep>>>,
}

impl<B> MinRate<B> {
    /// Wraps a request's `body`, which arrives from now.
    pub fn new(body: B, limits: Limits) -> MinRate<B> {
        MinRate {
            inner: body,
            until: Instant::now() + limits.header_read,
            per_byte: Duration::from_secs(1) / limits.body_min_rate.max(1),
            timer: None,
        }
    }

    /// A read of the body has to wait: whether its deadline has passed; if not, the
    /// timer is set for it.
    fn late(&mut self, cx: &mut Context<'_>) -> bool {
        if Instant::now() >= self.until {
            return true;
        }
        let until = self.until;
        let timer = self
            .timer
            .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(until)));
        if timer.deadline() != until {
            timer.as_mut().reset(until);
        }
        timer.as_mut().poll(cx).is_ready()
    }
}

/// Why a request body ended early.
#[derive(Debug, thiserror::Error)]
#[error("the request body arrived too slowly")]
pub struct TooSlow;

impl<B> hyper::body::Body for MinRate<B>
where
    B: hyper::body::Body<Data = bytes::Bytes> + Unpin,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    type Data = bytes::Bytes;
    type Error = Box<dyn std::error::Error + Send + Sync>;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<hyper::body::Frame<bytes::Bytes>, Self::Error>>> {
        let this = self.get_mut();
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    this.until += this
                        .per_byte
                        .saturating_mul(u32::try_from(data.len()).unwrap_or(u32::MAX));
                }
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(Some(Err(e))) => Poll::Ready(Some(Err(e.into()))),
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Pending if this.late(cx) => Poll::Ready(Some(Err(Box::new(TooSlow)))),
            Poll::Pending => Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        self.inner.size_hint()
    }
}
