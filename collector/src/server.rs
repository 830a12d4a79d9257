//! The collector's HTTPS server: binding, TLS, connection limits, timeouts and graceful shutdown.
//!
//! Each accepted connection: wait (bounded by the handshake timeout) for its first byte; if it is not
//! a TLS handshake (0x16), answer a plain `HTTP/1.1 400` JSON saying the port speaks HTTPS only and
//! close. Otherwise complete TLS, take the client's verified certificate (if any) and serve HTTP/1.1
//! or HTTP/2 (ALPN) with the API router, inserting the certificate into every request's extensions.
//!
//! Limits: at most [`Limits::max_connections`] connections (when all are taken, idle keep-alive
//! connections are closed to make room, as nginx does, and further clients wait in the accept queue
//! until a slot frees), at most [`Limits::max_connections_per_address`] of them from one client
//! address (more are closed at once: [`crate::per_address`]), a TLS handshake timeout, a header read timeout (HTTP/1.1 slowloris), an idle timeout (a
//! connection with no request in flight for the header read timeout is closed gracefully: HTTP/1.1
//! keep-alive and, above all, HTTP/2, where hyper has no header timeout and a client that answers
//! pings could otherwise hold a slot for ever), and the router's per-request timeout. Shutdown stops
//! accepting, lets in-flight requests finish for up to `shutdown_grace`, then drops what remains.

use crate::api::error::ApiError;
use crate::api::{self, ApiState, Limits};
use crate::cmdb::{Cmdb, CmdbConfig, CmdbError};
use crate::disk_space::DiskSpace;
use crate::per_address::PerAddress;
use crate::pki::{CertificateAuthority, PkiError};
use crate::store::Store;
use crate::tls::{self, ClientCertificate, TlsError};
use axum::Router;
use axum::extract::ConnectInfo;
use axum::response::IntoResponse;
use census_shared::protocol::error_code;
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::service::TowerToHyperService;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore, watch};
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_rustls::TlsAcceptor;
use tower::ServiceExt;

/// The first byte of every TLS connection: a handshake record.
const TLS_HANDSHAKE_RECORD: u8 = 0x16;
/// How long in-flight requests may run after shutdown begins, by default.
pub const DEFAULT_SHUTDOWN_GRACE: Duration = Duration::from_secs(10);
/// Streams one HTTP/2 connection may run at once.
const MAX_H2_STREAMS: u32 = 64;

/// Everything the server needs; the command line builds it from the config and the data dir.
pub struct ServeSettings {
    pub listen: SocketAddr,
    /// The collector CA certificate: client certificates must chain to it.
    pub ca_pem: String,
    /// The CA private key, to sign agents' certificates.
    pub ca_key_pem: String,
    pub server_cert_pem: String,
    pub server_key_pem: String,
    pub store: Arc<dyn Store>,
    pub limits: Limits,
    /// New agents start `pending` until an administrator approves them.
    pub require_approval: bool,
    pub agent_cert_validity: Duration,
    pub shutdown_grace: Duration,
    /// `cmdb.stale_after`: the live health report's default staleness.
    pub stale_after: Duration,
    /// `cmdb.commit_delay` (see [`crate::store::group_commit`]).
    pub commit_delay: Duration,
}

#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("listening on {address} failed: {source}")]
    Bind {
        address: SocketAddr,
        source: std::io::Error,
    },
    #[error(transparent)]
    Tls(#[from] TlsError),
    #[error(transparent)]
    Pki(#[from] PkiError),
    #[error("opening the CMDB failed: {0}")]
    Cmdb(#[from] CmdbError),
}

/// A server accepting connections in the background.
pub struct RunningServer {
    local_addr: SocketAddr,
    shutdown: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
    cmdb: Arc<Cmdb>,
    seen_flusher: tokio::task::JoinHandle<()>,
}

/// How often check-ins kept in memory are written to their CIs (see `cmdb::seen`): the most a crash
/// can take back of "last seen".
const SEEN_FLUSH_INTERVAL: Duration = Duration::from_secs(30);

async fn flush_seen(cmdb: Arc<Cmdb>) {
    match tokio::task::spawn_blocking(move || cmdb.flush_seen()).await {
        Ok(Ok(_)) => {}
        Ok(Err(error)) => tracing::warn!(%error, "writing last-seen times failed; retrying later"),
        Err(error) => tracing::error!(%error, "writing last-seen times panicked"),
    }
}

impl RunningServer {
    /// The CMDB the server writes to (the one instance: it keeps in-memory indexes).
    pub fn cmdb(&self) -> Arc<Cmdb> {
        Arc::clone(&self.cmdb)
    }

    /// The address actually bound (useful with port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Stops accepting, lets in-flight requests finish (up to the grace period), and returns.
    pub async fn shutdown(self) {
        self.shutdown.send_replace(true);
        if let Err(error) = self.task.await {
            tracing::error!(%error, "the server task failed");
        }
        self.seen_flusher.abort();
        flush_seen(self.cmdb).await;
    }

    /// Serves until `signal` resolves (e.g. SIGTERM or SIGINT), then shuts down gracefully.
    pub async fn run_until(self, signal: impl Future<Output = ()>) {
        signal.await;
        tracing::info!("shutting down: finishing in-flight requests");
        self.shutdown().await;
    }
}

/// Binds the HTTPS port and starts serving in the background.
pub async fn bind(settings: ServeSettings) -> Result<RunningServer, ServerError> {
    let ca = CertificateAuthority::from_pem(&settings.ca_pem, &settings.ca_key_pem)?;
    let tls_config = tls::server_config(
        &settings.ca_pem,
        &settings.server_cert_pem,
        &settings.server_key_pem,
    )?;
    let listener =
        TcpListener::bind(settings.listen)
            .await
            .map_err(|source| ServerError::Bind {
                address: settings.listen,
                source,
            })?;
    let local_addr = listener.local_addr().map_err(|source| ServerError::Bind {
        address: settings.listen,
        source,
    })?;
    let cmdb = Arc::new(Cmdb::open(
        Arc::clone(&settings.store),
        CmdbConfig::default(),
    )?);
    let disk_space = Arc::new(DiskSpace::new(
        Arc::clone(&settings.store),
        settings.limits.min_free_disk_bytes,
    ));
    let mut state = ApiState::new(
        settings.store,
        Arc::clone(&cmdb),
        Arc::new(ca),
        settings.limits,
        settings.require_approval,
        settings.agent_cert_validity,
    );
    state.stale_after = settings.stale_after;
    state.group_commit.set_delay(settings.commit_delay);
    let router = api::router(state);
    let (shutdown, shutdown_rx) = watch::channel(false);
    let accept = AcceptLoop {
        listener,
        acceptor: TlsAcceptor::from(tls_config),
        router,
        disk_space,
        limits: settings.limits,
        grace: settings.shutdown_grace,
        shutdown: shutdown_rx,
    };
    let task = tokio::spawn(accept.run());
    let seen_flusher = tokio::spawn({
        let cmdb = Arc::clone(&cmdb);
        async move {
            let mut ticker = tokio::time::interval(SEEN_FLUSH_INTERVAL);
            ticker.tick().await;
            loop {
                ticker.tick().await;
                flush_seen(Arc::clone(&cmdb)).await;
            }
        }
    });
    tracing::info!(address = %local_addr, "collector listening (HTTPS)");
    Ok(RunningServer {
        local_addr,
        shutdown,
        task,
        cmdb,
        seen_flusher,
    })
}

struct AcceptLoop {
    listener: TcpListener,
    acceptor: TlsAcceptor,
    router: Router,
    disk_space: Arc<DiskSpace>,
    limits: Limits,
    grace: Duration,
    shutdown: watch::Receiver<bool>,
}

impl AcceptLoop {
    async fn run(mut self) {
        let slots = Arc::new(Semaphore::new(self.limits.max_connections.max(1)));
        let per_address = PerAddress::new(self.limits.max_connections_per_address);
        let pressure = Arc::new(Notify::new());
        let mut connections = JoinSet::new();
        loop {
            while connections.try_join_next().is_some() {}
            let accepted = tokio::select! {
                accepted = self.listener.accept() => accepted,
                _ = stopped(&mut self.shutdown) => break,
            };
            let (stream, peer) = match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    // Usually out of file descriptors: back off instead of spinning.
                    tracing::warn!(%error, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            };
            // Before any wait or handshake: an address at its limit is turned away at once, so that
            // it cannot queue for the slots other clients wait for.
            let address_slot = match per_address.take(peer.ip()) {
                Ok(slot) => slot,
                Err(refused) => {
                    if refused.first {
                        tracing::warn!(
                            address = %refused.address,
                            limit = refused.limit,
                            "closing new connections from an address that holds max_connections_per_address already"
                        );
                    }
                    drop(stream);
                    continue;
                }
            };
            let permit = match Arc::clone(&slots).try_acquire_owned() {
                Ok(permit) => permit,
                Err(_) => {
                    let Some(permit) = self.wait_for_slot(&slots, &pressure).await else {
                        break;
                    };
                    permit
                }
            };
            let connection = Connection {
                acceptor: self.acceptor.clone(),
                router: self.router.clone(),
                limits: self.limits,
                grace: self.grace,
                shutdown: self.shutdown.clone(),
                pressure: Arc::clone(&pressure),
                disk_space: Arc::clone(&self.disk_space),
            };
            connections.spawn(async move {
                let _permit = permit;
                let _address_slot = address_slot;
                connection.serve(stream, peer).await;
            });
        }
        drop(self.listener);
        let drained = tokio::time::timeout(self.grace, async {
            while connections.join_next().await.is_some() {}
        })
        .await;
        if drained.is_err() {
            tracing::warn!(
                remaining = connections.len(),
                "grace period over; closing remaining connections"
            );
            connections.shutdown().await;
        }
    }
}

impl AcceptLoop {
    /// Every slot is taken and a client is waiting: asks idle keep-alive connections to close (as
    /// nginx drains its reusable connections), again every [`PRESSURE_REPEAT`] while none is free,
    /// and returns the first slot freed (`None` on shutdown).
    async fn wait_for_slot(
        &mut self,
        slots: &Arc<Semaphore>,
        pressure: &Notify,
    ) -> Option<OwnedSemaphorePermit> {
        loop {
            pressure.notify_waiters();
            tokio::select! {
                permit = Arc::clone(slots).acquire_owned() => return permit.ok(),
                () = tokio::time::sleep(PRESSURE_REPEAT) => {}
                _ = stopped(&mut self.shutdown) => return None,
            }
        }
    }
}

/// How often a client waiting for a slot asks idle connections again to make room.
const PRESSURE_REPEAT: Duration = Duration::from_millis(100);

struct Connection {
    acceptor: TlsAcceptor,
    router: Router,
    limits: Limits,
    grace: Duration,
    shutdown: watch::Receiver<bool>,
    /// Notified when a new client waits for a slot: idle keep-alive connections close to make room.
    pressure: Arc<Notify>,
    disk_space: Arc<DiskSpace>,
}

impl Connection {
    async fn serve(mut self, stream: TcpStream, peer: SocketAddr) {
        let handshake_timeout = self.limits.tls_handshake_timeout;
        let mut first = [0u8; 1];
        match tokio::time::timeout(handshake_timeout, stream.peek(&mut first)).await {
            Ok(Ok(1)) => {}
            _ => return,
        }
        if first[0] != TLS_HANDSHAKE_RECORD {
            answer_plain_http(stream).await;
            return;
        }
        let tls = match tokio::time::timeout(handshake_timeout, self.acceptor.accept(stream)).await
        {
            Ok(Ok(tls)) => tls,
            Ok(Err(error)) => {
                tracing::debug!(%peer, %error, "TLS handshake failed");
                return;
            }
            Err(_) => {
                tracing::debug!(%peer, "TLS handshake timed out");
                return;
            }
        };
        let certificate = tls
            .get_ref()
            .1
            .peer_certificates()
            .and_then(|chain| chain.first())
            .map(|der| ClientCertificate(Arc::new(der.to_vec())));
        let activity = Arc::new(Activity::new());
        let tracked = Arc::clone(&activity);
        let router = self.router.clone();
        let disk_space = Arc::clone(&self.disk_space);
        let service = tower::service_fn(move |mut request: axum::http::Request<Incoming>| {
            if let Some(certificate) = &certificate {
                request.extensions_mut().insert(certificate.clone());
            }
            request.extensions_mut().insert(ConnectInfo(peer));
            // In flight until the response body is dropped (sent, or abandoned), so a long streamed
            // export is never taken for an idle connection.
            let busy = tracked.begin();
            let router = router.clone();
            let refusal = is_write(request.method())
                .then(|| disk_space.check().err())
                .flatten();
            async move {
                let mut response = match refusal {
                    Some(message) => {
                        ApiError::new(error_code::UNAVAILABLE, message).into_response()
                    }
                    None => router.oneshot(request).await?,
                };
                // Inventory values are data sent by machines (a hostname may hold markup): no
                // browser may guess a JSON answer into HTML.
                response.headers_mut().insert(
                    axum::http::header::X_CONTENT_TYPE_OPTIONS,
                    axum::http::HeaderValue::from_static("nosniff"),
                );
                Ok::<_, std::convert::Infallible>(response.map(move |body| {
                    axum::body::Body::new(body.map_frame(move |frame| {
                        let _in_flight = &busy;
                        frame
                    }))
                }))
            }
        });
        let mut builder = auto::Builder::new(TokioExecutor::new());
        builder
            .http1()
            .timer(TokioTimer::new())
            .header_read_timeout(self.limits.header_read_timeout);
        builder
            .http2()
            .timer(TokioTimer::new())
            .max_concurrent_streams(MAX_H2_STREAMS)
            .keep_alive_interval(Some(Duration::from_secs(30)));
        let connection =
            builder.serve_connection(TokioIo::new(tls), TowerToHyperService::new(service));
        tokio::pin!(connection);
        let idle_timeout = self.limits.header_read_timeout;
        // How long a graceful close may take: the shutdown grace when the server stops (requests in
        // flight finish), the idle timeout for an idle connection (an HTTP/2 client that never
        // acknowledges the closing PING must not keep its slot).
        let close_within = loop {
            tokio::select! {
                result = connection.as_mut() => {
                    if let Err(error) = result {
                        tracing::debug!(%peer, %error, "connection ended with an error");
                    }
                    return;
                }
                _ = stopped(&mut self.shutdown) => break self.grace,
                () = activity.idle_for(idle_timeout) => {
                    tracing::debug!(%peer, "closing an idle connection");
                    break idle_timeout;
                }
                () = self.pressure.notified() => {
                    // Only a connection that has been served and now waits is given up: a new one
                    // is still bounded by the header timeout, and closing it would starve it.
                    if activity.is_reusable() {
                        tracing::debug!(%peer, "closing an idle connection to make room");
                        break idle_timeout;
                    }
                }
            }
        };
        connection.as_mut().graceful_shutdown();
        match tokio::time::timeout(close_within, connection).await {
            Ok(Err(error)) => {
                tracing::debug!(%peer, %error, "connection ended with an error while closing");
            }
            Ok(Ok(())) => {}
            Err(_) => tracing::debug!(%peer, "connection did not close within the grace period"),
        }
    }
}

/// Requests in flight on one connection, requests served, and when the last one ended: what the idle
/// timeout and the slot pressure read.
struct Activity {
    in_flight: AtomicUsize,
    served: AtomicUsize,
    last: Mutex<Instant>,
}

/// Marks one request in flight until dropped.
struct Busy(Arc<Activity>);

impl Activity {
    fn new() -> Self {
        Self {
            in_flight: AtomicUsize::new(0),
            served: AtomicUsize::new(0),
            last: Mutex::new(Instant::now()),
        }
    }

    /// Served at least one request and has none in flight: an idle keep-alive connection.
    fn is_reusable(&self) -> bool {
        self.served.load(Ordering::SeqCst) > 0 && self.in_flight.load(Ordering::SeqCst) == 0
    }

    fn begin(self: &Arc<Self>) -> Busy {
        self.in_flight.fetch_add(1, Ordering::SeqCst);
        Busy(Arc::clone(self))
    }

    fn last(&self) -> Instant {
        *self
            .last
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Resolves once no request has been in flight for `timeout`.
    async fn idle_for(&self, timeout: Duration) {
        loop {
            let deadline = self.last() + timeout;
            tokio::time::sleep_until(deadline).await;
            if self.in_flight.load(Ordering::SeqCst) == 0 && self.last() + timeout <= Instant::now()
            {
                return;
            }
            if self.in_flight.load(Ordering::SeqCst) > 0 {
                // Busy: look again a timeout from now (a request ending updates `last`).
                tokio::time::sleep(timeout).await;
            }
        }
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        *self
            .0
            .last
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = Instant::now();
        self.0.served.fetch_add(1, Ordering::SeqCst);
        self.0.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Requests that may write to the store (everything but reads), refused while the disk is full.
fn is_write(method: &axum::http::Method) -> bool {
    !matches!(
        *method,
        axum::http::Method::GET | axum::http::Method::HEAD | axum::http::Method::OPTIONS
    )
}

/// Tells a plain-HTTP client, in HTTP, that this port speaks HTTPS only.
async fn answer_plain_http(mut stream: TcpStream) {
    let body =
        r#"{"code":"https_required","message":"this port speaks HTTPS only; use an https:// URL"}"#;
    let response = format!(
        "HTTP/1.1 400 Bad Request\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    // Read what the client sent first: closing a socket with unread data makes the kernel send a
    // reset, which can destroy our answer before the client reads it.
    let mut request = [0u8; 8192];
    let _ = tokio::time::timeout(Duration::from_millis(200), stream.read(&mut request)).await;
    if stream.write_all(response.as_bytes()).await.is_ok() {
        let _ = stream.shutdown().await;
        let _ = tokio::time::timeout(Duration::from_secs(1), async {
            while matches!(stream.read(&mut request).await, Ok(n) if n > 0) {}
        })
        .await;
    }
}

/// Resolves once shutdown is requested (or its sender is gone).
async fn stopped(shutdown: &mut watch::Receiver<bool>) {
    // The guard `wait_for` returns is not `Send`; drop it here rather than across an await.
    let _ = shutdown.wait_for(|stop| *stop).await;
}
