//! Finished outputs of tokens: looked up in the store, or rendered once and stored.
//!
//! ```text
//! request (token, format, options) ──▶ stored? ──yes──▶ record
//!                                        │no
//!                                        ▼
//!              in flight? ──yes──▶ wait on the same render (single flight)
//!                 │no
//!                 ▼
//!   caller admitted (its tier's render slot) ─▶ start:
//!   bind movie + params ─▶ load assets ─▶ render_output, blobs (temp file + rename),
//!   output records (blocking pool) ─▶ token state
//! ```
//!
//! Renders run as tasks of their own and hold their admission until they end: a client
//! that goes away neither cancels a render that its token will be asked for again nor
//! frees its slot early. Progress of a token's default output is kept live in memory and
//! saved to the store twice a second and when the render ends.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use futures::future::{BoxFuture, FutureExt, Shared};

use super::content_etag;
use crate::assets::AssetLoader;
use crate::encode::Encoders;
use crate::error::{Error, Result};
use crate::movie::{Movie, Params};
use crate::output::{render_output, Format, OutputOptions};
use crate::project::{MovieChoice, Project};
use crate::render::Progress;
use crate::store::{BlobStore, OutputRecord, RenderState, TokenRecord, TokenStore};

/// What a retrieval asks for.
#[derive(Debug, Clone)]
pub struct OutputRequest {
    pub record: TokenRecord,
    /// The token's id, which names its folder of outputs.
    pub token_id: String,
    pub format: Format,
    pub options: OutputOptions,
}

impl OutputRequest {
    /// The store key of this output: its extension and every option that shapes it.
    pub fn key(&self) -> String {
        output_key(self.format, &self.options)
    }

    /// Whether this is the output the token was made for (its `format`, no options), whose
    /// progress `GET /v2/progress` reports.
    fn is_default(&self) -> bool {
        let options = OutputOptions {
            parts_prefix: String::new(),
            ..self.options.clone()
        };
        self.format.extension() == self.record.format && options == OutputOptions::default()
    }
}

/// A token's movie with its params bound, ready to draw.
#[derive(Debug)]
pub struct Bound {
    pub project: Project,
    pub movie_name: String,
    pub movie: Movie,
    pub params: Params,
}

/// The store key of an output in `format`: its extension and every option that shapes it.
pub fn output_key(format: Format, o: &OutputOptions) -> String {
    let mut key = format.extension().to_owned();
    let numbers = [("frame", o.frame), ("from", o.from), ("to", o.to)];
    for (name, value) in numbers {
        if let Some(value) = value {
            key.push_str(&format!(" {name}={value}"));
        }
    }
    if let Some(format) = o.sequence_format {
        key.push_str(&format!(" format={}", format.extension()));
    }
    key.push_str(&format!(
        " q={} compression={}",
        o.still.quality, o.still.compression
    ));
    key
}

/// The file name of a stored output by its key.
pub fn output_file_name(key: &str, format: Format) -> String {
    format!(
        "{}.{}",
        &blake3::hash(key.as_bytes()).to_hex()[..16],
        format.extension()
    )
}

type SharedRender = Shared<BoxFuture<'static, Result<OutputRecord>>>;

/// How a render shares the processor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Priority {
    /// A request waits for it: the pools of its `parallel`.
    Interactive,
    /// Nobody waits (batches): a pool of threads at the lowest scheduling priority, which
    /// take the cores only when interactive renders leave them idle.
    Background,
}

/// Told of renders as they go: what delivers results to other services listens here.
pub trait RenderEvents: Send + Sync {
    /// A render of a token's default output began.
    fn started(&self, record: &TokenRecord);
    /// About twice a second while a token's default output renders.
    fn progress(&self, record: &TokenRecord, done: u64);
    /// A render ended; `default` says whether it was the token's default output.
    fn ended(&self, request: &OutputRequest, default: bool, result: &Result<OutputRecord>);
}

/// Counters of the service, for metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct RenderStats {
    pub frames: u64,
    pub render_seconds: f64,
    pub hits: u64,
    pub misses: u64,
    pub in_flight: u64,
}

#[derive(Debug, Default)]
struct Counters {
    frames: AtomicU64,
    render_micros: AtomicU64,
    hits: AtomicU64,
    misses: AtomicU64,
}

/// The finished-output service.
pub struct Finished {
    projects_dir: PathBuf,
    loader: AssetLoader,
    encoders: Encoders,
    /// Pools of 1, 2, ... threads, up to the machine's cores: a render's `parallel`.
    pools: Vec<Arc<rayon::ThreadPool>>,
    /// One thread per core at the lowest priority, for background renders.
    background: Arc<rayon::ThreadPool>,
    tokens: Arc<TokenStore>,
    blobs: BlobStore,
    in_flight: Mutex<HashMap<(String, String), SharedRender>>,
    progress: Mutex<HashMap<String, Arc<Progress>>>,
    counters: Counters,
    events: std::sync::OnceLock<Arc<dyn RenderEvents>>,
}

impl std::fmt::Debug for dyn RenderEvents {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RenderEvents")
    }
}

impl std::fmt::Debug for Finished {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Finished")
            .field("projects_dir", &self.projects_dir)
            .field("pools", &self.pools.len())
            .finish_non_exhaustive()
    }
}

/// The part of a stored output, such as an HLS segment, as a store key.
pub fn part_key(name: &str) -> String {
    format!("part/{name}")
}

impl Finished {
    pub fn new(
        projects_dir: PathBuf,
        loader: AssetLoader,
        encoders: Encoders,
        tokens: Arc<TokenStore>,
        blobs: BlobStore,
    ) -> Result<Self> {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let pools = (1..=cores)
            .map(|threads| {
                rayon::ThreadPoolBuilder::new()
                    .num_threads(threads)
                    .thread_name(move |i| format!("render-{threads}-{i}"))
                    .build()
                    .map(Arc::new)
                    .map_err(|e| Error::internal(format!("render pool: {e}")))
            })
            .collect::<Result<_>>()?;
        let background = rayon::ThreadPoolBuilder::new()
            .num_threads(cores)
            .thread_name(|i| format!("render-background-{i}"))
            .start_handler(|_| lower_priority())
            .build()
            .map(Arc::new)
            .map_err(|e| Error::internal(format!("background render pool: {e}")))?;
        Ok(Self {
            projects_dir,
            loader,
            encoders,
            pools,
            background,
            tokens,
            blobs,
            in_flight: Mutex::new(HashMap::new()),
            progress: Mutex::new(HashMap::new()),
            counters: Counters::default(),
            events: std::sync::OnceLock::new(),
        })
    }

    /// Sets the one listener to renders; later calls change nothing.
    pub fn set_events(&self, events: Arc<dyn RenderEvents>) {
        let _ = self.events.set(events);
    }

    pub fn encoders(&self) -> &Encoders {
        &self.encoders
    }

    pub fn blobs(&self) -> &BlobStore {
        &self.blobs
    }

    pub fn stats(&self) -> RenderStats {
        let c = &self.counters;
        RenderStats {
            frames: c.frames.load(Ordering::Relaxed),
            render_seconds: c.render_micros.load(Ordering::Relaxed) as f64 / 1e6,
            hits: c.hits.load(Ordering::Relaxed),
            misses: c.misses.load(Ordering::Relaxed),
            in_flight: lock(&self.in_flight).len() as u64,
        }
    }

    /// Live progress of a token's default output, while it renders.
    pub fn progress(&self, token: &str) -> Option<Arc<Progress>> {
        lock(&self.progress).get(token).cloned()
    }

    /// Checks a movie and params the way a render will, and counts the frames of the
    /// token's default output.
    pub fn check(
        &self,
        project: &str,
        movie: &MovieChoice,
        params: &serde_json::Map<String, serde_json::Value>,
        format: Format,
    ) -> Result<u64> {
        let project = Project::find(&self.projects_dir, project)?;
        let movie = project.movie(movie.for_extension(format.extension())?)?;
        let params = Params::from_json(&movie, params)?;
        let frames = crate::movie::Timeline::new(&movie, params).frame_count;
        Ok(if format.still().is_some() { 1 } else { frames })
    }

    /// The movie and params a token's output in `format` draws.
    pub fn bind(&self, record: &TokenRecord, format: Format) -> Result<Bound> {
        let project = Project::find(&self.projects_dir, &record.project)?;
        let choice = MovieChoice::from_json(&record.movie)
            .ok_or_else(|| Error::internal("stored token has an unreadable movie field"))?;
        let movie_name = choice.for_extension(format.extension())?.to_owned();
        let movie = project.movie(&movie_name)?;
        let empty = serde_json::Map::new();
        let params = Params::from_json(&movie, record.params.as_object().unwrap_or(&empty))?;
        Ok(Bound {
            project,
            movie_name,
            movie,
            params,
        })
    }

    /// The render pool for a token's `parallel` (0: every core).
    pub fn pool(&self, parallel: u32) -> Arc<rayon::ThreadPool> {
        let threads = match parallel {
            0 => self.pools.len(),
            n => (n as usize).clamp(1, self.pools.len()),
        };
        Arc::clone(&self.pools[threads - 1])
    }

    pub fn loader(&self) -> &AssetLoader {
        &self.loader
    }

    pub fn tokens(&self) -> &Arc<TokenStore> {
        &self.tokens
    }

    /// Where an output stands: stored, being rendered, or neither. Callers serve the
    /// first, wait on the second, and [`Finished::start`] the third once they admit it.
    pub fn lookup(&self, request: &OutputRequest) -> Result<Lookup> {
        let key = request.key();
        let token = &request.record.token;
        if let Some(stored) = self.stored(token, &request.token_id, &key)? {
            return Ok(Lookup::Stored(stored));
        }
        match lock(&self.in_flight).get(&(token.clone(), key)) {
            Some(render) => Ok(Lookup::Rendering(render.clone())),
            None => Ok(Lookup::Missing),
        }
    }

    /// Renders and stores an output, holding `admission` (a caller's render slot) until
    /// the render ends, even if the caller goes away. A render of the same output already
    /// running, or finished meanwhile, is joined instead.
    pub async fn start<A: Send + 'static>(
        self: &Arc<Self>,
        request: OutputRequest,
        admission: A,
    ) -> Result<OutputRecord> {
        self.start_at(request, admission, Priority::Interactive)
            .await
    }

    /// As [`Finished::start`], at `priority`. A request that joins a render in flight gets
    /// that render's priority.
    pub async fn start_at<A: Send + 'static>(
        self: &Arc<Self>,
        request: OutputRequest,
        admission: A,
        priority: Priority,
    ) -> Result<OutputRecord> {
        let id = (request.record.token.clone(), request.key());
        let render = {
            let mut in_flight = lock(&self.in_flight);
            // Checked again under the lock: a render may have just finished.
            if let Some(stored) = self.stored(&id.0, &request.token_id, &id.1)? {
                return Ok(stored);
            }
            in_flight
                .entry(id.clone())
                .or_insert_with(|| {
                    self.counters.misses.fetch_add(1, Ordering::Relaxed);
                    let entry = InFlightEntry {
                        finished: Arc::clone(self),
                        id,
                    };
                    let task = tokio::spawn(async move {
                        let _admission = admission;
                        let entry = entry;
                        entry.finished.render_and_store(request, priority).await
                    });
                    task.map(|joined| {
                        joined.unwrap_or_else(|e| Err(Error::internal(format!("render task: {e}"))))
                    })
                    .boxed()
                    .shared()
                })
                .clone()
        };
        render.await
    }

    /// Counts an answer served from the store.
    pub fn count_hit(&self) {
        self.counters.hits.fetch_add(1, Ordering::Relaxed);
    }

    /// The stored record of an output whose file is still on disk.
    pub fn stored(&self, token: &str, token_id: &str, key: &str) -> Result<Option<OutputRecord>> {
        let Some(record) = self.tokens.output(token, key)? else {
            return Ok(None);
        };
        let on_disk = self.blobs.path(token_id, &record.file)?.is_file();
        Ok(on_disk.then_some(record))
    }

    /// The path of a stored output's file.
    pub fn path_of(&self, token_id: &str, output: &OutputRecord) -> Result<PathBuf> {
        self.blobs.path(token_id, &output.file)
    }

    async fn render_and_store(
        &self,
        request: OutputRequest,
        priority: Priority,
    ) -> Result<OutputRecord> {
        let token = request.record.token.clone();
        let is_default = request.is_default();
        let progress = Arc::new(Progress::new(request.record.total_frames));
        let mut saver = None;
        if is_default {
            lock(&self.progress).insert(token.clone(), Arc::clone(&progress));
            saver = Some(self.save_progress(&request.record, &progress));
            if let Some(events) = self.events.get() {
                events.started(&request.record);
            }
        }

        let mut result = self.render(&request, &progress, priority).await;
        // Deleted while rendering: what was just written goes too.
        match self.tokens.get(&token, i64::MIN) {
            Ok(Some(_)) => {}
            Ok(None) => {
                let removed = self
                    .tokens
                    .delete(&token)
                    .and_then(|_| self.blobs.remove_token(&request.token_id));
                if let Err(e) = removed {
                    tracing::warn!(token = %token, error = %e, "outputs of a deleted token remain");
                }
                result = Err(Error::not_found(format!("token {token} was deleted")));
            }
            Err(e) => result = Err(e),
        }

        if let Some(saver) = saver {
            // Waited for, so that no progress it was writing lands after the final state.
            saver.abort();
            let _ = saver.await;
            let (state, done, error) = match &result {
                Ok(_) => (RenderState::Done, request.record.total_frames, None),
                Err(e) => (
                    RenderState::Failed,
                    progress.done(),
                    Some(public_message(e)),
                ),
            };
            // The final state is written before the live counter goes, so that a poll in
            // between never sees less than before.
            if let Err(e) = self.tokens.set_state(&token, state, done, error.as_deref()) {
                tracing::warn!(token = %token, error = %e, "render state not saved");
            }
            lock(&self.progress).remove(&token);
        }
        if let Err(e) = &result {
            tracing::warn!(token = %token, format = %request.format, error = %e, "render failed");
        }
        if let Some(events) = self.events.get() {
            events.ended(&request, is_default, &result);
        }
        result
    }

    /// Writes a render's progress to the store every half second, so that after a restart
    /// progress reads where the render stopped.
    fn save_progress(
        &self,
        record: &TokenRecord,
        progress: &Arc<Progress>,
    ) -> tokio::task::JoinHandle<()> {
        let (tokens, record, progress) = (
            Arc::clone(&self.tokens),
            record.clone(),
            Arc::clone(progress),
        );
        let events = self.events.get().cloned();
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval(std::time::Duration::from_millis(500));
            loop {
                ticks.tick().await;
                let done = progress.done();
                let token = &record.token;
                if let Err(e) = tokens.set_state(token, RenderState::Rendering, done, None) {
                    tracing::warn!(token = %token, error = %e, "progress not saved");
                }
                if let Some(events) = &events {
                    events.progress(&record, done);
                }
            }
        })
    }

    async fn render(
        &self,
        request: &OutputRequest,
        progress: &Arc<Progress>,
        priority: Priority,
    ) -> Result<OutputRecord> {
        let record = &request.record;
        let bound = self.bind(record, request.format)?;
        let renderer = bound
            .project
            .renderer(&bound.movie, bound.params, &self.loader)
            .await?;
        let pool = match priority {
            Priority::Interactive => self.pool(record.parallel),
            Priority::Background => Arc::clone(&self.background),
        };
        let encoders = self.encoders.clone();
        let (format, options) = (request.format, request.options.clone());
        let progress = Arc::clone(progress);
        let started = std::time::Instant::now();
        // TODO: outputs are assembled in memory before they are stored, which bounds their
        // size by RAM (ten seconds of 720p ProRes is 30 MB); writing containers straight
        // into the blob store's temporary file removes the bound.
        let (tokens, blobs) = (Arc::clone(&self.tokens), self.blobs.clone());
        let (token, token_id, key) = (
            record.token.clone(),
            request.token_id.clone(),
            request.key(),
        );
        // Drawing, encoding, hashing and writing files all block: none of it runs on the
        // threads that answer requests.
        let (output, frames) = tokio::task::spawn_blocking(move || {
            let draw = || render_output(&renderer, format, &options, &encoders, &pool, &progress);
            // In the background, encoding and the FFmpeg it starts run on the pool's
            // low-priority threads too.
            let rendered = match priority {
                Priority::Interactive => draw(),
                Priority::Background => pool.install(draw),
            }?;
            for part in &rendered.parts {
                let content_type = content_type_of(&part.name);
                let stored = store(&blobs, &token_id, &part.name, &part.bytes, content_type)?;
                let stored = OutputRecord {
                    key: part_key(&part.name),
                    ..stored
                };
                tokens.put_output(&token, &stored)?;
            }
            let file = output_file_name(&key, format);
            let stored = store(
                &blobs,
                &token_id,
                &file,
                &rendered.main,
                format.content_type(),
            )?;
            let output = OutputRecord { key, ..stored };
            tokens.put_output(&token, &output)?;
            Ok::<_, Error>((output, rendered.frames))
        })
        .await
        .map_err(|e| Error::internal(format!("render thread: {e}")))??;

        let elapsed = started.elapsed();
        self.counters.frames.fetch_add(frames, Ordering::Relaxed);
        self.counters
            .render_micros
            .fetch_add(elapsed.as_micros() as u64, Ordering::Relaxed);
        tracing::info!(
            token = %record.token,
            format = %format,
            frames,
            seconds = elapsed.as_secs_f64(),
            "rendered"
        );
        Ok(output)
    }
}

/// Gives the calling thread the lowest scheduling priority (nice 19), which the processes
/// it starts inherit. Where that fails the thread keeps its priority.
fn lower_priority() {
    let thread = rustix::thread::gettid();
    if let Err(e) = rustix::process::setpriority_process(Some(thread), 19) {
        tracing::warn!(error = %e, "a background render thread keeps its priority");
    }
}

/// Writes one file of an output and describes it.
fn store(
    blobs: &BlobStore,
    token_id: &str,
    file: &str,
    bytes: &[u8],
    content_type: &str,
) -> Result<OutputRecord> {
    blobs.put(token_id, file, bytes)?;
    Ok(OutputRecord {
        key: String::new(),
        file: file.to_owned(),
        etag: content_etag(bytes),
        size_bytes: bytes.len() as u64,
        content_type: content_type.to_owned(),
    })
}

/// What an error may tell a client: faults inside the server are logged, not shown, so
/// that no path or program output leaves the server.
pub fn public_message(error: &Error) -> String {
    match error.kind() {
        crate::ErrorKind::Io | crate::ErrorKind::Internal => {
            "the render failed inside the server; its log has the details".to_owned()
        }
        _ => error.message().to_owned(),
    }
}

/// Removes a render from the in-flight map when its task ends, however it ends.
struct InFlightEntry {
    finished: Arc<Finished>,
    id: (String, String),
}

impl Drop for InFlightEntry {
    fn drop(&mut self) {
        lock(&self.finished.in_flight).remove(&self.id);
    }
}

/// Where an output stands.
#[derive(Debug)]
pub enum Lookup {
    Stored(OutputRecord),
    Rendering(SharedRender),
    Missing,
}

/// The media type of a part by its name.
pub fn content_type_of(name: &str) -> &'static str {
    match name.rsplit_once('.').map(|(_, ext)| ext) {
        Some("m3u8") => Format::M3u8.content_type(),
        Some("m4s") => "video/iso.segment",
        Some("mp4") => "video/mp4",
        _ => "application/octet-stream",
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // The maps stay consistent under a panic: each change is one insert or remove.
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}
