//! Accepting connections and answering requests: limits on headers, bodies, URIs and
//! time; one span and one log line per request; CORS on every answer; graceful shutdown
//! that stops accepting, lets requests in flight finish, and leaves the store consistent.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use hyper::body::Incoming;
use hyper::header::{self, HeaderValue};
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tracing::Instrument;

use super::accounts::Accounts;
use super::error::ApiError;
use super::handlers;
use super::metrics::Metrics;
use super::route::Route;
use crate::assets::AssetLoader;
use crate::deliver::file::FileCache;
use crate::deliver::finished::Finished;
use crate::deliver::stream::Streams;
use crate::deliver::{full, Body};
use crate::encode::Encoders;
use crate::error::{Error, ErrorKind, Result};
use crate::publish::{DeliverySettings, Publisher};
use crate::store::{BlobStore, TokenStore};

/// Start-up settings of the server.
#[derive(Debug, Clone)]
pub struct ServerSettings {
    pub listen: SocketAddr,
    pub projects_dir: PathBuf,
    pub data_dir: PathBuf,
    /// The region in every token this server makes (`v2:<region>:<id>`).
    pub region: String,
    /// The base of the URLs in responses; default `http://<listen address>`.
    pub public_url: Option<String>,
    pub token_lifetime: Duration,
    pub max_body_bytes: usize,
    pub max_uri_bytes: usize,
    /// The read buffer for a request head: larger heads are refused with 431.
    pub max_header_bytes: usize,
    pub max_headers: usize,
    /// Time for a client to send a whole request head.
    pub header_read_timeout: Duration,
    /// Time for a client to send a whole request body.
    pub body_read_timeout: Duration,
    /// Memory for hot finished files served without reading the disk.
    pub file_cache_bytes: u64,
    /// Memory for encoded segments shared by streams and tokens.
    pub segment_cache_bytes: u64,
    /// Connections served at once; more wait to be accepted.
    pub max_connections: usize,
    /// How long shutdown waits for requests in flight.
    pub drain_timeout: Duration,
    /// API keys and the tier each belongs to.
    pub keys: HashMap<String, String>,
    /// Tiers and the renders each lets an account run at once (`anonymous` for requests
    /// without a key).
    pub tiers: HashMap<String, u32>,
    /// Base URLs of other regions: their tokens are redirected there.
    pub regions: HashMap<String, String>,
    /// Uploads, callbacks and webhooks.
    pub delivery: DeliverySettings,
    /// Batch tasks rendered at once, across all batches.
    pub batch_concurrency: usize,
    /// The project of batch tasks whose movie names none, unless the key binds one.
    pub default_project: String,
    /// API keys and the project each binds batch tasks to.
    pub key_projects: HashMap<String, String>,
}

impl Default for ServerSettings {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            projects_dir: PathBuf::from("fixtures/projects"),
            data_dir: PathBuf::from("data"),
            region: "local".to_owned(),
            public_url: None,
            token_lifetime: Duration::from_secs(30 * 24 * 3600),
            max_body_bytes: 1 << 20,
            max_uri_bytes: 8 * 1024,
            max_header_bytes: 16 * 1024,
            max_headers: 64,
            header_read_timeout: Duration::from_secs(10),
            body_read_timeout: Duration::from_secs(30),
            file_cache_bytes: 256 << 20,
            segment_cache_bytes: 512 << 20,
            max_connections: 4096,
            drain_timeout: Duration::from_secs(30),
            keys: HashMap::new(),
            tiers: HashMap::new(),
            regions: HashMap::new(),
            delivery: DeliverySettings::default(),
            batch_concurrency: std::thread::available_parallelism()
                .map_or(1, |n| (n.get() / 2).max(1)),
            default_project: "demo".to_owned(),
            key_projects: HashMap::new(),
        }
    }
}

/// Everything a request handler reaches.
#[derive(Debug)]
pub struct App {
    pub settings: ServerSettings,
    /// The base of returned URLs, without a trailing slash.
    pub base_url: String,
    pub tokens: Arc<TokenStore>,
    pub finished: Arc<Finished>,
    pub streams: Streams,
    pub accounts: Accounts,
    pub metrics: Metrics,
    pub files: FileCache,
    pub publisher: Arc<Publisher>,
    /// Batch tasks rendering now, across all batches.
    pub batch_slots: Arc<tokio::sync::Semaphore>,
    /// Set when shutdown begins: batches stop taking tasks, and renders that fail then
    /// are put back to run after the restart.
    pub stopping: std::sync::atomic::AtomicBool,
    next_request_id: AtomicU64,
}

/// How often expired tokens are looked for.
const JANITOR_PERIOD: Duration = Duration::from_secs(60);

impl App {
    /// Opens the store (marking renders a restart interrupted as failed) and binds the
    /// listening socket; returns the app and the socket.
    pub async fn start(
        settings: ServerSettings,
        loader: AssetLoader,
        encoders: Encoders,
    ) -> Result<(Arc<Self>, TcpListener)> {
        let accounts = Accounts::new(settings.keys.clone(), settings.tiers.clone());
        accounts
            .check()
            .map_err(|e| Error::new(ErrorKind::InvalidParam, format!("settings: {e}")))?;
        let tokens = Arc::new(TokenStore::open(&settings.data_dir)?);
        let interrupted = tokens.fail_interrupted()?;
        if interrupted > 0 {
            tracing::warn!(
                interrupted,
                "renders interrupted by the last stop marked failed"
            );
        }
        let blobs = BlobStore::open(&settings.data_dir)?;
        let policy = Arc::clone(loader.policy());
        let finished = Arc::new(Finished::new(
            settings.projects_dir.clone(),
            loader,
            encoders,
            Arc::clone(&tokens),
            blobs,
        )?);
        let listener = TcpListener::bind(settings.listen).await.map_err(|e| {
            Error::new(
                ErrorKind::Io,
                format!("cannot listen on {}: {e}", settings.listen),
            )
        })?;
        let local = listener
            .local_addr()
            .map_err(|e| Error::new(ErrorKind::Io, format!("listening address: {e}")))?;
        let base_url = settings
            .public_url
            .clone()
            .unwrap_or_else(|| format!("http://{local}"))
            .trim_end_matches('/')
            .to_owned();
        let file_cache_bytes = settings.file_cache_bytes;
        let files = FileCache::new(file_cache_bytes, file_cache_bytes / 8);
        let streams = Streams::new(
            Arc::clone(&finished),
            files.clone(),
            settings.segment_cache_bytes,
        );
        let publisher = Publisher::new(
            Arc::clone(&finished),
            Arc::clone(&tokens),
            policy,
            settings.delivery.clone(),
            base_url.clone(),
        )?;
        let batch_slots = Arc::new(tokio::sync::Semaphore::new(
            settings.batch_concurrency.max(1),
        ));
        let app = Arc::new(Self {
            settings,
            base_url,
            tokens,
            finished,
            streams,
            accounts,
            metrics: Metrics::default(),
            files,
            publisher,
            batch_slots,
            stopping: std::sync::atomic::AtomicBool::new(false),
            next_request_id: AtomicU64::new(1),
        });
        // Work the last stop left unfinished goes on.
        let uploads = app.publisher.resume()?;
        let batches = super::batch::resume(&app)?;
        if uploads + batches > 0 {
            tracing::info!(uploads, batches, "resumed work from before the last stop");
        }
        Ok((app, listener))
    }

    /// Serves until `shutdown` resolves, then stops accepting and drains.
    pub async fn serve(
        self: Arc<Self>,
        listener: TcpListener,
        shutdown: impl std::future::Future<Output = ()>,
    ) -> Result<()> {
        let janitor = tokio::spawn(Arc::clone(&self).janitor());
        let graceful = GracefulShutdown::new();
        let mut http = hyper::server::conn::http1::Builder::new();
        http.timer(TokioTimer::new())
            .header_read_timeout(self.settings.header_read_timeout)
            .max_buf_size(self.settings.max_header_bytes.max(8192))
            .max_headers(self.settings.max_headers);
        // Beyond the cap, new connections wait in the kernel's backlog until one ends.
        let slots = Arc::new(tokio::sync::Semaphore::new(
            self.settings.max_connections.max(1),
        ));
        tokio::pin!(shutdown);
        loop {
            let permit = tokio::select! {
                permit = Arc::clone(&slots).acquire_owned() => match permit {
                    Ok(permit) => permit,
                    Err(_) => break,
                },
                () = &mut shutdown => break,
            };
            let (stream, peer) = tokio::select! {
                accepted = listener.accept() => match accepted {
                    Ok(pair) => pair,
                    Err(e) => {
                        // Out of descriptors and the like: wait a moment, keep serving.
                        tracing::warn!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                },
                () = &mut shutdown => break,
            };
            let app = Arc::clone(&self);
            let service = service_fn(move |request| {
                let app = Arc::clone(&app);
                async move { Ok::<_, std::convert::Infallible>(app.handle(request, peer).await) }
            });
            let connection = graceful.watch(http.serve_connection(TokioIo::new(stream), service));
            tokio::spawn(async move {
                let _permit = permit;
                if let Err(e) = connection.await {
                    tracing::debug!(error = %e, %peer, "connection ended with an error");
                }
            });
        }

        tracing::info!("shutting down: no new connections, draining requests in flight");
        self.stopping.store(true, Ordering::SeqCst);
        janitor.abort();
        if tokio::time::timeout(self.settings.drain_timeout, graceful.shutdown())
            .await
            .is_err()
        {
            tracing::warn!("requests still in flight after the drain timeout");
        }
        Ok(())
    }

    async fn handle(
        self: Arc<Self>,
        request: Request<Incoming>,
        peer: SocketAddr,
    ) -> Response<Body> {
        let started = Instant::now();
        let request_id = self.next_request_id.fetch_add(1, Ordering::Relaxed);
        let method = request.method().clone();
        let path = request.uri().path().to_owned();
        let span = tracing::info_span!("request", %method, %path, request_id, %peer);
        let route_name = Route::parse(&method, &path).map_or("unknown", |r| r.name());
        let mut response = async {
            match self.route(request).await {
                Ok(response) => response,
                Err(error) => error_response(&error),
            }
        }
        .instrument(span.clone())
        .await;
        add_cors(response.headers_mut());
        self.metrics.record(route_name, response.status().as_u16());
        span.in_scope(|| {
            tracing::info!(
                status = response.status().as_u16(),
                latency_ms = started.elapsed().as_secs_f64() * 1000.0,
                "request"
            )
        });
        response
    }

    async fn route(
        self: &Arc<Self>,
        request: Request<Incoming>,
    ) -> Result<Response<Body>, ApiError> {
        let uri_bytes = request
            .uri()
            .path_and_query()
            .map_or(0, |p| p.as_str().len());
        if uri_bytes > self.settings.max_uri_bytes {
            return Err(ApiError::new(
                StatusCode::URI_TOO_LONG,
                "uri_too_long",
                format!(
                    "the request target is {uri_bytes} bytes; at most {} are accepted",
                    self.settings.max_uri_bytes
                ),
            ));
        }
        let method = request.method().clone();
        let Some(route) = Route::parse(&method, request.uri().path()) else {
            return Err(ApiError::not_found(format!(
                "no such endpoint: {}",
                request.uri().path()
            )));
        };
        if method == Method::OPTIONS {
            return Ok(preflight(route.methods()));
        }
        if !route.methods().contains(&method) {
            let allowed: Vec<&str> = route.methods().iter().map(Method::as_str).collect();
            let mut error = error_response(&ApiError::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                format!(
                    "{method} is not allowed here; allowed: {}",
                    allowed.join(", ")
                ),
            ));
            if let Ok(value) = HeaderValue::from_str(&allowed.join(", ")) {
                error.headers_mut().insert(header::ALLOW, value);
            }
            return Ok(error);
        }
        handlers::dispatch(self, route, request).await
    }

    /// Removes expired tokens and their files, and batches as old, a few hundred at a time.
    async fn janitor(self: Arc<Self>) {
        let mut ticks = tokio::time::interval(JANITOR_PERIOD);
        loop {
            ticks.tick().await;
            // Removing folders blocks: off the threads that answer requests.
            let app = Arc::clone(&self);
            let swept = tokio::task::spawn_blocking(move || {
                let now = handlers::unix_now();
                for token in app.tokens.expired(now, 500)? {
                    if let Err(e) = handlers::remove_token(&app, &token) {
                        tracing::warn!(%token, error = %e, "expired token not removed");
                    }
                }
                // A batch is kept as long as the tokens it made.
                let lifetime = app.settings.token_lifetime.as_secs() as i64;
                for batch in app.tokens.stale_batches(now - lifetime, 500)? {
                    app.tokens.delete_batch(&batch)?;
                }
                Ok::<_, Error>(())
            })
            .await;
            if let Ok(Err(e)) = swept {
                tracing::warn!(error = %e, "expiry scan failed");
            }
        }
    }
}

/// The JSON answer for an error; never cached.
pub(super) fn error_response(error: &ApiError) -> Response<Body> {
    let mut response = Response::new(full(error.body()));
    *response.status_mut() = error.status;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if let Some(seconds) = error.retry_after_seconds {
        headers.insert(header::RETRY_AFTER, HeaderValue::from(seconds));
    }
    if let Some(location) = error
        .location
        .as_deref()
        .and_then(|l| HeaderValue::from_str(l).ok())
    {
        headers.insert(header::LOCATION, location);
    }
    response
}

fn preflight(methods: &[Method]) -> Response<Body> {
    let mut allowed: Vec<&str> = methods.iter().map(Method::as_str).collect();
    allowed.push("OPTIONS");
    let mut response = Response::new(crate::deliver::empty());
    *response.status_mut() = StatusCode::NO_CONTENT;
    let headers = response.headers_mut();
    if let Ok(value) = HeaderValue::from_str(&allowed.join(", ")) {
        headers.insert(header::ACCESS_CONTROL_ALLOW_METHODS, value.clone());
        headers.insert(header::ALLOW, value);
    }
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_HEADERS,
        HeaderValue::from_static("Authorization, Content-Type, Range, If-Range, If-None-Match"),
    );
    headers.insert(
        header::ACCESS_CONTROL_MAX_AGE,
        HeaderValue::from_static("86400"),
    );
    response
}

fn add_cors(headers: &mut hyper::HeaderMap) {
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    headers.insert(
        header::ACCESS_CONTROL_EXPOSE_HEADERS,
        HeaderValue::from_static("Content-Length, Content-Range, Accept-Ranges, ETag, Retry-After"),
    );
}
