//! Streaming delivery: `get` sends an output while it renders, `play` answers a stream's
//! playlists from its segment plan at once and renders each segment when a player asks.
//!
//! ```text
//! get  mp4, flv        segments in order from the cache ──▶ fMP4 / FLV pieces ──┐
//! get  webm, mpeg, wmv frames ──▶ FFmpeg ──▶ its output as it comes             ├─▶ bounded
//! get  zip, gif        frames ──▶ entries / pictures as they finish             │   channel
//! play mp4, flv, webm  the same, paced to playback speed with a small lead  ────┘   ──▶ body
//!
//! play m3u8, mpd       playlists from the plan; each segment from the cache on request,
//!                      the next few prefetched
//! get  m3u8            the same segments, listed as they finish by a render in order
//! ```
//!
//! A body is fed through a channel of a few chunks, so a slow reader slows the producer
//! and a paused one holds a few segments at most; a reader that goes away closes the
//! channel and the producer stops. A producer that fails sends the error as the body's
//! last item, which cuts the connection without a clean end: no cache or player can take
//! a truncated file for a whole one. A `get` stream that ends is kept in the blob store,
//! and the same token's later requests are served from there with ranges and tags.

use std::collections::HashSet;
use std::io::Write;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::StreamExt;
use http_body_util::{BodyExt, StreamBody};
use hyper::body::Frame;
use hyper::header::{self, HeaderMap};
use hyper::{Response, StatusCode};
use tokio::sync::mpsc;

use super::file::{respond, respond_memory, FileCache, MemoryFile, StoredFile};
use super::finished::{
    content_type_of, output_file_name, output_key, public_message, Bound, Finished,
};
use super::segments::{CachedSegment, SegmentCache, SegmentSource, SegmentStats};
use super::{content_etag, digest_etag, Body};
use crate::assets::{check_source_syntax, Assets, Source};
use crate::container::{dash, flv, fmp4, hls, AudioInfo, StreamInfo};
use crate::encode::{rgba_to_i420, FfmpegJob, FfmpegOutput, H264Encoder, H264Settings, RawVideo};
use crate::error::{Error, ErrorKind, Result};
use crate::movie::{Params, Timeline};
use crate::output::{
    audio_fragment, audio_segment_name, av_fragment, encode_sound, media_segment_name, write_gif,
    write_zip, Format, OutputOptions, AUDIO_INIT_SEGMENT, AUDIO_PLAYLIST, DASH_AUDIO_TEMPLATE,
    DASH_MEDIA_TEMPLATE, INIT_SEGMENT, MEDIA_PLAYLIST,
};
use crate::render::{render_span, Progress, Renderer};
use crate::segment::{SegmentKey, SegmentPlan, SegmentSettings};
use crate::store::{BlobWriter, OutputRecord, TokenRecord, TokenStore};

/// Chunks a body's channel holds: with the segment being rendered and the ones fetched
/// ahead, what a paused reader can make the server hold.
const CHANNEL_CHUNKS: usize = 2;
/// Segments rendered ahead of the one being sent.
const SEGMENTS_AHEAD: usize = 2;
/// Segments a player's request for one segment renders in the background.
const PREFETCH: u32 = 2;
/// How far ahead of playback a paced stream may run.
const PACE_LEAD: Duration = Duration::from_secs(2);
/// Bytes a blocking producer gathers before it sends a chunk.
const CHUNK_BYTES: usize = 64 * 1024;
/// Streams kept ready (bound movie, loaded assets, plan, keys), and for how long unused.
const SOURCES_KEPT: u64 = 64;
const SOURCE_IDLE: Duration = Duration::from_secs(600);
/// Growing playlists whose progress is kept.
const IN_ORDER_KEPT: u64 = 10_000;
/// A render behind a growing playlist stops when nobody has asked for the stream for
/// this long (players poll a growing playlist every target duration); the next poll
/// resumes it where it stopped.
const UNFOLLOWED_STOP: Duration = Duration::from_secs(15);
/// How long polls of a growing playlist whose render failed get the failure before the
/// render is tried again.
const IN_ORDER_RETRY: Duration = Duration::from_secs(5);

/// Counters of the streaming service, for metrics and tests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StreamStats {
    pub segments: SegmentStats,
    /// Frames drawn by streams that render whole outputs.
    pub frames_drawn: u64,
}

/// What a streaming request asks for.
#[derive(Debug)]
pub struct StreamRequest<'a> {
    pub record: &'a TokenRecord,
    /// The token's id, which names its stored files and its streams' parts.
    pub token_id: &'a str,
    pub format: Format,
    pub options: &'a OutputOptions,
    pub headers: &'a HeaderMap,
    pub head: bool,
}

/// Which retrieval mode a stream serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamMode {
    Get,
    Play,
}

/// How far the render in order behind a growing playlist has come, and whether anyone
/// still follows it.
#[derive(Debug)]
struct InOrder {
    /// Segments rendered from the start; it only grows, so the playlist only grows.
    done: AtomicUsize,
    state: Mutex<InOrderState>,
}

#[derive(Debug)]
struct InOrderState {
    /// When a playlist or part of the stream was last asked for.
    followed_at: Instant,
    running: bool,
    /// The last run's failure and when it came; polls answer it until a retry is due.
    failed: Option<(Error, Instant)>,
}

/// What producers send a body: bytes, then an end or an error. A channel that closes
/// without either (a producer that panicked) cuts the body too.
#[derive(Debug)]
enum Chunk {
    Data(Bytes),
    Failed(Error),
    End,
}

/// The streaming service.
pub struct Streams {
    finished: Arc<Finished>,
    files: FileCache,
    cache: Arc<SegmentCache>,
    sources: moka::future::Cache<(String, String), Arc<SegmentSource>>,
    /// Tokens whose growing `get` playlist has a render in order behind it.
    progressive: moka::sync::Cache<(String, String), Arc<InOrder>>,
    /// Frames drawn by streams that render whole outputs (WebM, ZIP, ...).
    drawn: Arc<Progress>,
}

impl std::fmt::Debug for Streams {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Streams")
            .field("cache", &self.cache)
            .field("sources", &self.sources.entry_count())
            .finish_non_exhaustive()
    }
}

/// The URI prefix of a stream's parts, relative to its playlist: `<id>.<ext>/`. It never
/// begins with the token, whose `v2:` a player would read as a URL scheme.
pub fn parts_prefix(token_id: &str, format: Format) -> String {
    format!("{token_id}.{}/", format.extension())
}

impl Streams {
    /// A service over `finished`'s movies and encoders, with a segment cache of
    /// `cache_bytes`; kept streams are served through `files`.
    pub fn new(finished: Arc<Finished>, files: FileCache, cache_bytes: u64) -> Self {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let cache = SegmentCache::new(
            cache_bytes,
            finished.encoders().clone(),
            finished.pool(0),
            cores,
        );
        let sources = moka::future::Cache::builder()
            .max_capacity(SOURCES_KEPT)
            .time_to_idle(SOURCE_IDLE)
            .build();
        Self {
            finished,
            files,
            cache: Arc::new(cache),
            sources,
            progressive: moka::sync::Cache::builder()
                .max_capacity(IN_ORDER_KEPT)
                .time_to_idle(SOURCE_IDLE)
                .build(),
            drawn: Arc::new(Progress::new(0)),
        }
    }

    pub fn stats(&self) -> StreamStats {
        StreamStats {
            segments: self.cache.stats(),
            frames_drawn: self.drawn.done(),
        }
    }

    /// Answers `get`. `None` for outputs that cannot be sent before they are whole
    /// (stills, ProRes in MOV): those are served as finished files. `admit` is called
    /// before a producer that renders a whole output starts, and what it gives is held
    /// until the producer ends.
    pub async fn get<A: Send + 'static, E: From<Error>>(
        &self,
        request: StreamRequest<'_>,
        admit: impl FnOnce() -> std::result::Result<A, E>,
    ) -> std::result::Result<Option<Response<Body>>, E> {
        if let Some(kept) = self.kept(&request).await? {
            return Ok(Some(kept));
        }
        let answer = match request.format {
            Format::M3u8 | Format::Mpd => {
                let source = self.source(request.record, request.format).await?;
                let in_order = self.followed(request.record, request.format, &source);
                if !request.head {
                    self.resume(&in_order, &source, &request.record.token, admit)?;
                }
                match request.format {
                    Format::M3u8 => self.master_playlist(&request, &source).await.map(Some),
                    _ => self.mpd(&request, &source).await.map(Some),
                }
            }
            Format::Flv if self.has_sound(&request).await? => Ok(None),
            Format::Mp4 | Format::Flv => self.segment_stream(&request, None).await.map(Some),
            Format::Webm | Format::Mpeg | Format::Wmv | Format::Zip | Format::Gif => {
                let admission = admit()?;
                self.blocking_stream(&request, None, admission)
                    .await
                    .map(Some)
            }
            Format::Mov | Format::Jpg | Format::Png | Format::Tif => Ok(None),
        };
        Ok(answer?)
    }

    /// Answers `play`. `None` for stills, which are served as finished files; formats
    /// that cannot start before their end are refused.
    pub async fn play<A: Send + 'static, E: From<Error>>(
        &self,
        request: StreamRequest<'_>,
        admit: impl FnOnce() -> std::result::Result<A, E>,
    ) -> std::result::Result<Option<Response<Body>>, E> {
        if let Some(refusal) = play_refusal(request.format) {
            return Err(refusal.into());
        }
        if let Some(kept) = self.kept(&request).await? {
            return Ok(Some(kept));
        }
        let answer = match request.format {
            Format::M3u8 => {
                let source = self.source(request.record, request.format).await?;
                self.master_playlist(&request, &source).await.map(Some)
            }
            Format::Mpd => {
                let source = self.source(request.record, request.format).await?;
                self.mpd(&request, &source).await.map(Some)
            }
            Format::Flv if self.has_sound(&request).await? => Ok(None),
            Format::Mp4 | Format::Flv => self
                .segment_stream(&request, Some(PACE_LEAD))
                .await
                .map(Some),
            Format::Webm => {
                let admission = admit()?;
                self.blocking_stream(&request, Some(PACE_LEAD), admission)
                    .await
                    .map(Some)
            }
            Format::Jpg | Format::Png | Format::Tif => Ok(None),
            other @ (Format::Mpeg | Format::Wmv | Format::Mov | Format::Gif | Format::Zip) => {
                Err(play_refusal(other).unwrap_or_else(|| Error::internal("play refusal")))
            }
        };
        Ok(answer?)
    }

    /// A part of a `get` or `play` stream of `format` (m3u8 or mpd): the media playlist,
    /// the init segment or a media segment.
    /// A poll of a growing `get` playlist resumes its render, admitted by `admit`, if it
    /// stopped for want of followers.
    pub async fn part<A: Send + 'static, E: From<Error>>(
        &self,
        mode: StreamMode,
        request: StreamRequest<'_>,
        name: &str,
        admit: impl FnOnce() -> std::result::Result<A, E>,
    ) -> std::result::Result<Response<Body>, E> {
        if !matches!(request.format, Format::M3u8 | Format::Mpd) {
            return Err(
                Error::not_found(format!(".{} streams have no parts", request.format)).into(),
            );
        }
        let source = self.source(request.record, request.format).await?;
        // Any request for a part of a growing stream shows that someone follows it.
        let in_order = (mode == StreamMode::Get)
            .then(|| self.followed(request.record, request.format, &source));
        let is_playlist =
            (name == MEDIA_PLAYLIST || name == AUDIO_PLAYLIST) && request.format == Format::M3u8;
        if let (Some(in_order), true, false) = (&in_order, is_playlist, request.head) {
            self.resume(in_order, &source, &request.record.token, admit)?;
        }
        Ok(self
            .part_of(in_order.as_deref(), &request, &source, name)
            .await?)
    }

    async fn part_of(
        &self,
        in_order: Option<&InOrder>,
        request: &StreamRequest<'_>,
        source: &Arc<SegmentSource>,
        name: &str,
    ) -> Result<Response<Body>> {
        let mode = if in_order.is_some() {
            StreamMode::Get
        } else {
            StreamMode::Play
        };
        let immutable = immutable(request.record);
        let memory = |bytes: Bytes, etag: String, cache_control: String| MemoryFile {
            bytes,
            etag,
            content_type: content_type_of(name).to_owned(),
            cache_control,
        };
        let file = if name == AUDIO_PLAYLIST && request.format == Format::M3u8 {
            let stream = stream_info(source, &[]);
            if stream.audio.is_none() {
                return Err(Error::not_found("the movie has no sound"));
            }
            let listing = match mode {
                StreamMode::Play => hls::Listing::Complete,
                StreamMode::Get => hls::Listing::Growing {
                    available: in_order.map_or(0, |o| o.done.load(Ordering::Relaxed)),
                },
            };
            let growing = matches!(listing, hls::Listing::Growing { available } if available < source.keys.len());
            let text =
                hls::audio_playlist(&stream, AUDIO_INIT_SEGMENT, listing, audio_segment_name);
            let cache_control = if growing {
                "public, max-age=1".to_owned()
            } else {
                immutable
            };
            memory(
                text.clone().into(),
                content_etag(text.as_bytes()),
                cache_control,
            )
        } else if name == AUDIO_INIT_SEGMENT || audio_segment_index(name).is_some() {
            let (Some(sound), Some(info)) =
                (self.sound(source).await?, stream_info(source, &[]).audio)
            else {
                return Err(Error::not_found("the movie has no sound"));
            };
            let bytes = match audio_segment_index(name) {
                None => fmp4::audio_init_segment(sound.config, info.bitrate_bps),
                Some(index) => audio_fragment(&info, &sound, index as usize).ok_or_else(|| {
                    Error::not_found(format!(
                        "the stream has {} segments; there is no {name}",
                        info.segments.len()
                    ))
                })?,
            };
            memory(bytes.clone().into(), content_etag(&bytes), immutable)
        } else if name == MEDIA_PLAYLIST && request.format == Format::M3u8 {
            let listing = match mode {
                StreamMode::Play => hls::Listing::Complete,
                StreamMode::Get => hls::Listing::Growing {
                    available: in_order.map_or(0, |o| o.done.load(Ordering::Relaxed)),
                },
            };
            let growing = matches!(listing, hls::Listing::Growing { available } if available < source.keys.len());
            // The codec string is not in a media playlist: no segment is needed.
            let stream = stream_info(source, &[]);
            let text = hls::media_playlist(&stream, INIT_SEGMENT, listing, media_segment_name);
            let cache_control = if growing {
                // Short-lived: the playlist grows as segments finish.
                "public, max-age=1".to_owned()
            } else {
                immutable
            };
            memory(
                text.clone().into(),
                content_etag(text.as_bytes()),
                cache_control,
            )
        } else if name == INIT_SEGMENT {
            let first = self.cache.get(source, 0).await?;
            let stream = stream_info(source, &first.encoded.sps);
            let init = fmp4::init_segment(
                stream.width,
                stream.height,
                stream.fps,
                &first.encoded.sps,
                &first.encoded.pps,
            );
            memory(init.clone().into(), content_etag(&init), immutable)
        } else if let Some(index) = segment_index(name) {
            if index as usize >= source.keys.len() {
                return Err(Error::not_found(format!(
                    "the stream has {} segments; there is no {name}",
                    source.keys.len()
                )));
            }
            let segment = self.cache.get(source, index).await?;
            if mode == StreamMode::Play {
                self.cache.prefetch(source, index + 1..index + 1 + PREFETCH);
            }
            memory(segment.fragment.clone(), segment.etag.clone(), immutable)
        } else {
            return Err(Error::not_found(format!("the stream has no part {name:?}")));
        };
        Ok(respond_memory(&file, request.headers, request.head))
    }

    /// The stream of a token's movie for `format`, kept ready between requests: a warm
    /// request reads no file and parses nothing.
    async fn source(&self, record: &TokenRecord, format: Format) -> Result<Arc<SegmentSource>> {
        let key = (record.token.clone(), format.extension().to_owned());
        if let Some(source) = self.sources.get(&key).await {
            return Ok(source);
        }
        let bound = self.finished.bind(record, format)?;
        let (finished, cache) = (Arc::clone(&self.finished), Arc::clone(&self.cache));
        self.sources
            .try_get_with(key, async move {
                prepare(&finished, &cache, bound).await.map(Arc::new)
            })
            .await
            .map_err(|shared: Arc<Error>| (*shared).clone())
    }

    /// What a master playlist or MPD says of the stream. The codec string comes from the
    /// first segment's parameter sets, so that segment is rendered first (it is short)
    /// and the next ones prefetched.
    async fn described(&self, source: &Arc<SegmentSource>) -> Result<StreamInfo> {
        let first = self.cache.get(source, 0).await?;
        self.cache.prefetch(source, 1..1 + PREFETCH);
        Ok(stream_info(source, &first.encoded.sps))
    }

    /// The HLS master playlist.
    async fn master_playlist(
        &self,
        request: &StreamRequest<'_>,
        source: &Arc<SegmentSource>,
    ) -> Result<Response<Body>> {
        let stream = self.described(source).await?;
        let prefix = parts_prefix(request.token_id, request.format);
        let text = hls::master_playlist(
            &stream,
            &format!("{prefix}{MEDIA_PLAYLIST}"),
            &format!("{prefix}{AUDIO_PLAYLIST}"),
        );
        Ok(playlist_answer(request, Format::M3u8, text))
    }

    /// The static DASH manifest, whose segments are rendered when asked for.
    async fn mpd(
        &self,
        request: &StreamRequest<'_>,
        source: &Arc<SegmentSource>,
    ) -> Result<Response<Body>> {
        let stream = self.described(source).await?;
        let prefix = parts_prefix(request.token_id, request.format);
        let text = dash::static_mpd(
            &stream,
            &format!("{prefix}{INIT_SEGMENT}"),
            &format!("{prefix}{DASH_MEDIA_TEMPLATE}"),
            &format!("{prefix}{AUDIO_INIT_SEGMENT}"),
            &format!("{prefix}{DASH_AUDIO_TEMPLATE}"),
        );
        Ok(playlist_answer(request, Format::Mpd, text))
    }

    /// Whether the request's movie has sound. FLV streams are pictures only: an FLV with
    /// sound is served finished, muxed by FFmpeg.
    async fn has_sound(&self, request: &StreamRequest<'_>) -> Result<bool> {
        let source = self.source(request.record, request.format).await?;
        Ok(source.renderer.has_audio())
    }

    /// The movie's whole sound as AAC, encoded once per stream on first use.
    async fn sound(
        &self,
        source: &Arc<SegmentSource>,
    ) -> Result<Option<Arc<crate::encode::EncodedAudio>>> {
        if !source.renderer.has_audio() {
            return Ok(None);
        }
        let encoders = self.finished.encoders().clone();
        let source_for_init = Arc::clone(source);
        source
            .sound
            .get_or_try_init(|| async move {
                tokio::task::spawn_blocking(move || {
                    encode_sound(&source_for_init.renderer, &encoders).map(|s| s.map(Arc::new))
                })
                .await
                .map_err(|e| Error::internal(format!("encoding the sound: {e}")))?
            })
            .await
            .cloned()
    }

    /// The progress of the render in order behind a growing `get` playlist of a token's
    /// `format`, marked as followed now. A new one starts from the segments the cache
    /// already holds, so a playlist that was whole stays whole.
    fn followed(
        &self,
        record: &TokenRecord,
        format: Format,
        source: &Arc<SegmentSource>,
    ) -> Arc<InOrder> {
        let key = (record.token.clone(), format.extension().to_owned());
        let in_order = self.progressive.get_with(key, || {
            let cached = source.keys.iter().take_while(|k| self.cache.contains(k));
            Arc::new(InOrder {
                done: AtomicUsize::new(cached.count()),
                state: Mutex::new(InOrderState {
                    followed_at: Instant::now(),
                    running: false,
                    failed: None,
                }),
            })
        });
        lock(&in_order.state).followed_at = Instant::now();
        in_order
    }

    /// Starts the render in order where it stopped, unless it runs or is whole. A recent
    /// failure is answered instead; `admit` is called only when a render starts.
    fn resume<A: Send + 'static, E: From<Error>>(
        &self,
        in_order: &Arc<InOrder>,
        source: &Arc<SegmentSource>,
        token: &str,
        admit: impl FnOnce() -> std::result::Result<A, E>,
    ) -> std::result::Result<(), E> {
        let total = source.keys.len();
        {
            let mut state = lock(&in_order.state);
            if state.running || in_order.done.load(Ordering::Relaxed) >= total {
                return Ok(());
            }
            if let Some((error, at)) = &state.failed {
                if at.elapsed() < IN_ORDER_RETRY {
                    return Err(error.clone().into());
                }
            }
            state.running = true;
        }
        let admission = match admit() {
            Ok(admission) => admission,
            Err(refused) => {
                lock(&in_order.state).running = false;
                return Err(refused);
            }
        };

        let (cache, source, in_order) = (
            Arc::clone(&self.cache),
            Arc::clone(source),
            Arc::clone(in_order),
        );
        let token = token.to_owned();
        tokio::spawn(async move {
            let _admission = admission;
            let mut failure = None;
            for index in in_order.done.load(Ordering::Relaxed)..total {
                if lock(&in_order.state).followed_at.elapsed() > UNFOLLOWED_STOP {
                    tracing::debug!(token = %token, segment = index, "growing stream unfollowed");
                    break;
                }
                if let Err(e) = cache.get(&source, index as u32).await {
                    tracing::warn!(token = %token, segment = index, error = %e, "stream render failed");
                    failure = Some((e, Instant::now()));
                    break;
                }
                in_order.done.store(index + 1, Ordering::Relaxed);
            }
            let mut state = lock(&in_order.state);
            state.running = false;
            state.failed = failure;
        });
        Ok(())
    }

    /// The answer from a kept stream, or to HEAD of one not kept yet (which starts
    /// nothing); `None` when the stream must be produced. Playlists and stills are not
    /// kept here.
    async fn kept(&self, request: &StreamRequest<'_>) -> Result<Option<Response<Body>>> {
        let streamed = !matches!(
            request.format,
            Format::M3u8 | Format::Mpd | Format::Mov | Format::Jpg | Format::Png | Format::Tif
        );
        if !streamed {
            return Ok(None);
        }
        let key = stream_key(request.format, request.options);
        let stored = self
            .finished
            .stored(&request.record.token, request.token_id, &key)?;
        match stored {
            Some(stored) => self.serve_stored(request, &stored).await.map(Some),
            None if request.head => {
                // What a GET would refuse at once, HEAD refuses too.
                self.finished.bind(request.record, request.format)?;
                if request.format.ffmpeg_profile().is_some()
                    && self.finished.encoders().ffmpeg.is_none()
                {
                    return Err(crate::encode::Ffmpeg::missing(request.format.extension()));
                }
                Ok(Some(streaming_head(request)))
            }
            None => Ok(None),
        }
    }

    /// A kept stream as a file, with ranges and tags.
    async fn serve_stored(
        &self,
        request: &StreamRequest<'_>,
        output: &OutputRecord,
    ) -> Result<Response<Body>> {
        self.finished.count_hit();
        let file = StoredFile {
            path: self.finished.path_of(request.token_id, output)?,
            size_bytes: output.size_bytes,
            etag: output.etag.clone(),
            content_type: output.content_type.clone(),
            cache_control: immutable(request.record),
        };
        Ok(respond(&file, request.headers, request.head, &self.files).await)
    }

    /// Fragmented MP4 or FLV built from cached segments as they come, optionally paced.
    async fn segment_stream(
        &self,
        request: &StreamRequest<'_>,
        pace: Option<Duration>,
    ) -> Result<Response<Body>> {
        let source = self.source(request.record, request.format).await?;
        let container = match request.format {
            Format::Flv => Container::Flv,
            _ => match self.sound(&source).await? {
                Some(sound) => Container::FragmentedMp4 { sound: Some(sound) },
                None => Container::FragmentedMp4 { sound: None },
            },
        };
        let tee = Some(self.tee(request)?);
        let (tx, rx) = mpsc::channel(CHANNEL_CHUNKS);
        let cache = Arc::clone(&self.cache);
        tokio::spawn(async move {
            let last = match send_segments(&cache, &source, &container, pace, &tx, tee).await {
                Ok(()) => Chunk::End,
                Err(e) => Chunk::Failed(e),
            };
            let _ = tx.send(last).await;
        });
        streaming_answer(request, rx).await
    }

    /// An output drawn frame by frame on a render pool and written as it is encoded:
    /// FFmpeg's output for WebM, MPEG-2 and WMV, entries for ZIP, pictures for GIF.
    async fn blocking_stream<A: Send + 'static>(
        &self,
        request: &StreamRequest<'_>,
        pace: Option<Duration>,
        admission: A,
    ) -> Result<Response<Body>> {
        let format = request.format;
        let bound = self.finished.bind(request.record, format)?;
        let renderer = bound
            .project
            .renderer(&bound.movie, bound.params, self.finished.loader())
            .await?;
        // `from` and `to` come from the query string.
        request
            .options
            .check_frames(renderer.timeline().frame_count)?;
        let pool = self.finished.pool(request.record.parallel);
        let encoders = self.finished.encoders().clone();
        let options = request.options.clone();
        let (tx, rx) = mpsc::channel(CHANNEL_CHUNKS);
        let sink = Arc::new(Mutex::new(Sink {
            tx: Some(tx.clone()),
            tee: Some(self.tee(request)?),
            buffer: Vec::new(),
            lost: false,
        }));
        let progress = Arc::clone(&self.drawn);
        tokio::task::spawn_blocking(move || {
            let _admission = admission;
            let produced = (|| {
                let pace = pace.map(|lead| Pace {
                    lead,
                    started: Instant::now(),
                });
                match format {
                    Format::Zip => {
                        write_zip(&renderer, &options, &pool, &progress, SinkWriter(&sink))?;
                    }
                    Format::Gif => write_gif(&renderer, &pool, &progress, SinkWriter(&sink))?,
                    _ => {
                        let profile = format.ffmpeg_profile().ok_or_else(|| {
                            Error::internal(format!("{format} has no FFmpeg profile"))
                        })?;
                        let ffmpeg = encoders
                            .ffmpeg
                            .as_ref()
                            .ok_or_else(|| crate::encode::Ffmpeg::missing(format.extension()))?;
                        let job = FfmpegStream {
                            ffmpeg,
                            profile,
                            sink: &sink,
                            tx: &tx,
                        };
                        encode_streamed(&renderer, &job, &pool, pace, &progress)?;
                    }
                }
                let mut sink = lock(&sink);
                sink.flush_chunk()?;
                // Kept only if every byte reached both the reader and the file.
                if let Some(tee) = sink.tee.take().filter(|_| !sink.lost) {
                    tee.finish_logged();
                }
                Ok::<_, Error>(())
            })();
            let last = match produced {
                Ok(()) => Chunk::End,
                Err(e) => {
                    // A reader that went away needs no error.
                    if !tx.is_closed() {
                        tracing::warn!(format = %format, error = %e, "stream failed");
                    }
                    Chunk::Failed(e)
                }
            };
            let _ = tx.blocking_send(last);
            lock(&sink).tx = None;
        });
        streaming_answer(request, rx).await
    }

    /// A writer that keeps the stream's bytes as they are sent.
    fn tee(&self, request: &StreamRequest<'_>) -> Result<Tee> {
        let key = stream_key(request.format, request.options);
        let file = output_file_name(&key, request.format);
        let writer = self.finished.blobs().writer(request.token_id, &file)?;
        Ok(Tee {
            writer,
            hasher: blake3::Hasher::new(),
            size_bytes: 0,
            record: OutputRecord {
                key,
                file,
                etag: String::new(),
                size_bytes: 0,
                content_type: stream_content_type(request.format).to_owned(),
            },
            token: request.record.token.clone(),
            tokens: Arc::clone(self.finished.tokens()),
        })
    }
}

/// Why `play` refuses `format`: these containers cannot start before their end, or are
/// not for players.
fn play_refusal(format: Format) -> Option<Error> {
    matches!(
        format,
        Format::Mpeg | Format::Wmv | Format::Mov | Format::Gif | Format::Zip
    )
    .then(|| {
        Error::invalid_param(format!(
            "play streams mp4, webm, flv, m3u8 and mpd; .{format} is served by the render \
             and get modes"
        ))
    })
}

/// The store key of a kept stream: `get` and `play` send the same bytes.
fn stream_key(format: Format, options: &OutputOptions) -> String {
    format!("stream {}", output_key(format, options))
}

/// The media type of a streamed output: fragmented MP4 is still MP4.
fn stream_content_type(format: Format) -> &'static str {
    format.content_type()
}

/// `Cache-Control` of what never changes within the token's life.
fn immutable(record: &TokenRecord) -> String {
    let seconds_left = (record.expires_at - crate::store::unix_now()).max(0);
    format!("public, max-age={seconds_left}, immutable")
}

/// A complete playlist or manifest: it names every segment and never changes.
fn playlist_answer(request: &StreamRequest<'_>, format: Format, text: String) -> Response<Body> {
    let file = MemoryFile {
        etag: content_etag(text.as_bytes()),
        bytes: text.into(),
        content_type: format.content_type().to_owned(),
        cache_control: immutable(request.record),
    };
    respond_memory(&file, request.headers, request.head)
}

/// The headers of a stream that has not been kept yet, without starting it.
fn streaming_head(request: &StreamRequest<'_>) -> Response<Body> {
    Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, stream_content_type(request.format))
        .header(header::CACHE_CONTROL, immutable(request.record))
        .body(super::empty())
        .unwrap_or_else(|_| super::internal_error())
}

/// A response whose body is the channel's chunks. It waits for the first chunk, so that
/// a render that cannot start is an error with its status rather than a cut body.
async fn streaming_answer(
    request: &StreamRequest<'_>,
    mut rx: mpsc::Receiver<Chunk>,
) -> Result<Response<Body>> {
    let first = match rx.recv().await {
        Some(Chunk::Data(bytes)) => Some(bytes),
        Some(Chunk::End) => None,
        Some(Chunk::Failed(e)) => return Err(e),
        None => return Err(Error::internal("the stream stopped before its first bytes")),
    };
    let cut = |message: &str| Err(std::io::Error::other(message.to_owned()));
    // Yields the data, then ends cleanly only on `End`; an error or a silent close cuts
    // the body instead.
    let rest = futures::stream::unfold(Some(rx), move |rx| async move {
        let mut rx = rx?;
        match rx.recv().await {
            Some(Chunk::Data(bytes)) => Some((Ok(bytes), Some(rx))),
            Some(Chunk::End) => None,
            Some(Chunk::Failed(e)) => Some((cut(&public_message(&e)), None)),
            None => Some((cut("the stream's producer stopped"), None)),
        }
    });
    let frames = futures::stream::iter(first.map(Ok))
        .chain(rest)
        .map(|item| item.map(Frame::data));
    // No length: the body is chunked, and only a clean last chunk says it is whole.
    Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, stream_content_type(request.format))
        .header(header::CACHE_CONTROL, immutable(request.record))
        .body(BodyExt::boxed(StreamBody::new(frames)))
        .map_err(|e| Error::internal(format!("stream response: {e}")))
}

/// The containers built from cached segments; fragmented MP4 carries the sound too.
#[derive(Debug, Clone)]
enum Container {
    FragmentedMp4 {
        sound: Option<Arc<crate::encode::EncodedAudio>>,
    },
    Flv,
}

/// Sends the segments of `source` in order as `container` pieces; the segments after the
/// one being sent render meanwhile. Returns when the reader goes away.
async fn send_segments(
    cache: &Arc<SegmentCache>,
    source: &Arc<SegmentSource>,
    container: &Container,
    pace: Option<Duration>,
    tx: &mpsc::Sender<Chunk>,
    mut tee: Option<Tee>,
) -> Result<()> {
    let count = source.keys.len() as u32;
    let started = tokio::time::Instant::now();
    let mut segments = futures::stream::iter(0..count)
        .map(|index| {
            let (cache, source) = (Arc::clone(cache), Arc::clone(source));
            async move { cache.get(&source, index).await }
        })
        .buffered(SEGMENTS_AHEAD);
    let stream = stream_info(source, &[]);
    while let Some(segment) = segments.next().await {
        let segment = segment?;
        let mut piece = Vec::new();
        if segment.encoded.index == 0 {
            piece.extend(container_header(container, &stream, &segment));
        }
        container_piece(container, &stream, &segment, &mut piece);
        if segment.encoded.index + 1 == count {
            if let Container::Flv = *container {
                piece.extend(flv::end(stream.frame_count(), stream.fps));
            }
        }
        if let Some(lead) = pace {
            let at = Duration::from_secs_f64(stream.seconds(segment.encoded.first_frame));
            tokio::time::sleep_until(started + at.saturating_sub(lead)).await;
        }
        if let Some(kept) = tee.as_mut() {
            if let Err(e) = kept.write(&piece) {
                tracing::warn!(error = %e, "a stream will not be kept");
                tee = None;
            }
        }
        if tx.send(Chunk::Data(piece.into())).await.is_err() {
            // The reader went away: what it left unsent is not rendered.
            return Ok(());
        }
    }
    if let Some(tee) = tee {
        // Keeping the stream is best effort: the reader has every byte already.
        let _ = tokio::task::spawn_blocking(move || tee.finish_logged()).await;
    }
    Ok(())
}

fn container_header(container: &Container, stream: &StreamInfo, first: &CachedSegment) -> Vec<u8> {
    let (sps, pps) = (&first.encoded.sps, &first.encoded.pps);
    match container {
        Container::FragmentedMp4 { sound: Some(sound) } => fmp4::av_init_segment(
            stream.width,
            stream.height,
            stream.fps,
            sps,
            pps,
            sound.config,
            crate::encode::audio::AAC_BITRATE_BPS,
        ),
        Container::FragmentedMp4 { sound: None } => {
            fmp4::init_segment(stream.width, stream.height, stream.fps, sps, pps)
        }
        Container::Flv => {
            let video = flv::FlvVideo {
                width: stream.width,
                height: stream.height,
                fps: stream.fps,
                frame_count: stream.frame_count(),
                bitrate_bps: stream.bitrate_bps,
            };
            flv::header(&video, sps, pps)
        }
    }
}

fn container_piece(
    container: &Container,
    stream: &StreamInfo,
    segment: &CachedSegment,
    out: &mut Vec<u8>,
) {
    match container {
        Container::FragmentedMp4 { sound: None } => out.extend_from_slice(&segment.fragment),
        Container::FragmentedMp4 { sound: Some(sound) } => match &stream.audio {
            Some(info) => out.extend(av_fragment(&segment.encoded, stream.fps, info, sound)),
            None => out.extend_from_slice(&segment.fragment),
        },
        Container::Flv => out.extend(flv::picture_tags(
            segment.encoded.first_frame,
            stream.fps,
            &segment.encoded.pictures,
        )),
    }
}

/// Playback pacing: frame *n* is sent no sooner than its time after `started`, less
/// `lead`.
#[derive(Debug, Clone, Copy)]
struct Pace {
    lead: Duration,
    started: Instant,
}

/// One FFmpeg process of a stream: its program and profile, the sink its output goes to,
/// and the body's channel, watched so that a reader who leaves stops the frames.
struct FfmpegStream<'a> {
    ffmpeg: &'a crate::encode::Ffmpeg,
    profile: crate::encode::FfmpegProfile,
    sink: &'a Arc<Mutex<Sink>>,
    tx: &'a mpsc::Sender<Chunk>,
}

/// Draws every frame into one FFmpeg process whose output goes to the sink as it comes.
fn encode_streamed(
    renderer: &Renderer,
    job: &FfmpegStream<'_>,
    pool: &rayon::ThreadPool,
    pace: Option<Pace>,
    progress: &Progress,
) -> Result<()> {
    let timeline = renderer.timeline();
    let plan = SegmentPlan::new(timeline, SegmentSettings::default());
    let key_frames: Vec<u64> = plan.segments.iter().map(|s| s.frames.start).collect();
    let video = RawVideo {
        width: timeline.width,
        height: timeline.height,
        fps: timeline.fps,
    };
    // The bitrate a finished output of this format gets.
    let bitrate_bps =
        H264Settings::for_canvas(H264Encoder::OpenH264, video.width, video.height).bitrate_bps;
    let to = Arc::clone(job.sink);
    let output = FfmpegOutput::Streamed(Box::new(move |chunk| lock(&to).send(chunk)));
    let sound = crate::output::sound_file(renderer)?;
    let mut ffmpeg = FfmpegJob::spawn(
        job.ffmpeg,
        job.profile,
        video,
        &key_frames,
        bitrate_bps,
        sound.as_ref().map(|f| f.path()),
        output,
    )?;
    let fps = timeline.fps;
    render_span(renderer, 0..timeline.frame_count, pool, |index, frame| {
        if job.tx.is_closed() {
            return Err(reader_gone());
        }
        if let Some(pace) = pace {
            let at =
                Duration::from_secs_f64(index as f64 * f64::from(fps.den) / f64::from(fps.num));
            let due = pace.started + at.saturating_sub(pace.lead);
            std::thread::sleep(due.saturating_duration_since(Instant::now()));
        }
        let yuv = rgba_to_i420(frame.rgba(), frame.width(), frame.height());
        ffmpeg.write_frame(&yuv)?;
        progress.add(1);
        Ok(())
    })?;
    ffmpeg.finish()?;
    Ok(())
}

/// Where a blocking producer's bytes go: gathered into chunks, kept by the tee, sent on
/// the channel (blocking while it is full).
struct Sink {
    tx: Option<mpsc::Sender<Chunk>>,
    tee: Option<Tee>,
    buffer: Vec<u8>,
    /// Set once a chunk could not be sent: the stream is no longer whole anywhere.
    lost: bool,
}

impl Sink {
    /// Sends one chunk now; `false` once the reader has gone.
    fn send(&mut self, chunk: Vec<u8>) -> bool {
        if let Some(tee) = self.tee.as_mut() {
            if let Err(e) = tee.write(&chunk) {
                tracing::warn!(error = %e, "a stream will not be kept");
                self.tee = None;
            }
        }
        let sent = match &self.tx {
            Some(tx) => tx.blocking_send(Chunk::Data(chunk.into())).is_ok(),
            None => false,
        };
        self.lost |= !sent;
        sent
    }

    fn flush_chunk(&mut self) -> Result<()> {
        if self.buffer.is_empty() {
            return Ok(());
        }
        let chunk = std::mem::take(&mut self.buffer);
        if self.send(chunk) {
            Ok(())
        } else {
            Err(reader_gone())
        }
    }
}

fn reader_gone() -> Error {
    Error::new(ErrorKind::Io, "the reader of the stream went away")
}

/// [`Sink`] as a writer, for the ZIP and GIF writers.
struct SinkWriter<'a>(&'a Arc<Mutex<Sink>>);

impl Write for SinkWriter<'_> {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        let mut sink = lock(self.0);
        sink.buffer.extend_from_slice(bytes);
        if sink.buffer.len() >= CHUNK_BYTES {
            sink.flush_chunk()
                .map_err(|e| std::io::Error::new(std::io::ErrorKind::BrokenPipe, e.to_string()))?;
        }
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Keeps a stream's bytes as they are sent, and stores them as a finished output when the
/// stream ends; dropped before that, it keeps nothing.
struct Tee {
    writer: BlobWriter,
    hasher: blake3::Hasher,
    size_bytes: u64,
    record: OutputRecord,
    token: String,
    tokens: Arc<TokenStore>,
}

impl Tee {
    fn write(&mut self, bytes: &[u8]) -> Result<()> {
        self.hasher.update(bytes);
        self.size_bytes += bytes.len() as u64;
        self.writer.write(bytes)
    }

    /// Puts the file in place and records it (blocks: it syncs the file to disk). The
    /// file is named by its content, so a record always names its own bytes, whatever
    /// order concurrent streams of one output end in.
    fn finish(self) -> Result<()> {
        // A token deleted while its stream ran keeps nothing.
        if self.tokens.get(&self.token, i64::MIN)?.is_none() {
            return Ok(());
        }
        let digest = self.hasher.finalize();
        let extension = self.record.file.rsplit('.').next().unwrap_or("bin");
        let file = format!("{}.{extension}", &digest.to_hex()[..16]);
        self.writer.finish_as(&file)?;
        let record = OutputRecord {
            file,
            etag: digest_etag(&digest),
            size_bytes: self.size_bytes,
            ..self.record
        };
        self.tokens.put_output(&self.token, &record)
    }

    /// [`Tee::finish`], where a failure only costs the copy: the reader has every byte.
    fn finish_logged(self) {
        let token = self.token.clone();
        if let Err(e) = self.finish() {
            tracing::warn!(token = %token, error = %e, "a finished stream was not kept");
        }
    }
}

/// Binds the movie, loads its assets, plans its segments and keys them.
async fn prepare(finished: &Finished, cache: &SegmentCache, bound: Bound) -> Result<SegmentSource> {
    let Bound {
        project,
        movie_name,
        movie,
        params,
    } = bound;
    let timeline = Timeline::new(&movie, params.clone());
    let assets = finished.loader().load(project.dir(), &timeline).await?;
    let settings = finished
        .encoders()
        .h264_settings(timeline.width, timeline.height);
    let encoder = cache.encoder_name(&settings);
    let movie_path = project.dir().join(format!("{movie_name}.json"));
    tokio::task::spawn_blocking(move || {
        let digest = movie_digest(&movie_path, &assets, &params)?;
        let renderer = Renderer::new(timeline, assets)?;
        let plan = SegmentPlan::new(renderer.timeline(), SegmentSettings::default());
        if plan.segments.is_empty() {
            return Err(Error::invalid_param("the movie has no frames"));
        }
        let keys = plan
            .segments
            .iter()
            .map(|segment| SegmentKey::new(&digest, &encoder, segment, &params))
            .collect();
        Ok(SegmentSource {
            renderer,
            plan,
            settings,
            keys,
            sound: tokio::sync::OnceCell::new(),
        })
    })
    .await
    .map_err(|e| Error::internal(format!("preparing a stream: {e}")))?
}

/// The content digest of a movie: its file, its fonts and the pictures and clips of its
/// project that no param names. Pictures a param names are covered by that param's value in the
/// keys of the segments that show them, so tokens that differ in them still share the
/// rest.
// TODO: a param naming a URL or a project file is keyed by its value, not by what it
// names: a picture or clip replaced under the same name is not seen until the cached
// segments go. Keying by the named content would need it loaded before the keys.
fn movie_digest(movie_path: &Path, assets: &Assets, params: &Params) -> Result<[u8; 32]> {
    let movie = std::fs::read(movie_path)
        .map_err(|e| Error::new(ErrorKind::Io, format!("reading the movie again: {e}")))?;
    let named: HashSet<String> = params
        .iter()
        .filter_map(|(_, value)| value.to_json().as_str().map(str::to_owned))
        .collect();
    let mut hasher = blake3::Hasher::new();
    hasher.update(&(movie.len() as u64).to_le_bytes());
    hasher.update(&movie);
    for font in &assets.fonts {
        hasher.update(&(font.len() as u64).to_le_bytes());
        hasher.update(font);
    }
    for (source, clip) in &assets.clips {
        let from_project = matches!(check_source_syntax(source), Ok(Source::Project(_)));
        if from_project && !named.contains(source) {
            hasher.update(&(source.len() as u64).to_le_bytes());
            hasher.update(source.as_bytes());
            hasher.update(&clip.digest);
        }
    }
    for (source, picture) in &assets.pictures {
        let from_project = matches!(check_source_syntax(source), Ok(Source::Project(_)));
        if from_project && !named.contains(source) {
            hasher.update(&(source.len() as u64).to_le_bytes());
            hasher.update(source.as_bytes());
            hasher.update(&picture.width().to_le_bytes());
            hasher.update(picture.data());
        }
    }
    Ok(*hasher.finalize().as_bytes())
}

/// What playlists say of a source's stream; `sps` gives the codec string (empty where
/// none is written).
fn stream_info(source: &SegmentSource, sps: &[u8]) -> StreamInfo {
    let timeline = source.renderer.timeline();
    StreamInfo::new(timeline, &source.plan, sps, source.settings.bitrate_bps).with_audio(
        source
            .renderer
            .has_audio()
            .then(|| AudioInfo::for_plan(timeline, &source.plan)),
    )
}

/// The index in `segment-<n>.m4s`.
fn segment_index(name: &str) -> Option<u32> {
    numbered(name, "segment-")
}

/// The index in `audio-<n>.m4s`.
fn audio_segment_index(name: &str) -> Option<u32> {
    numbered(name, "audio-")
}

fn numbered(name: &str, prefix: &str) -> Option<u32> {
    let number = name.strip_prefix(prefix)?.strip_suffix(".m4s")?;
    if number.starts_with('+') || (number.len() > 1 && number.starts_with('0')) {
        return None;
    }
    number.parse().ok()
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // Each change under these locks is one insert, remove or buffer append.
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segment_names_parse_one_way() {
        assert_eq!(segment_index("segment-0.m4s"), Some(0));
        assert_eq!(segment_index("segment-12.m4s"), Some(12));
        for bad in [
            "segment-01.m4s",
            "segment-+1.m4s",
            "segment-.m4s",
            "segment-1.mp4",
            "init.mp4",
        ] {
            assert_eq!(segment_index(bad), None, "{bad}");
        }
    }

    #[test]
    fn parts_never_begin_with_the_token() {
        let prefix = parts_prefix("0123abcd", Format::M3u8);
        assert_eq!(prefix, "0123abcd.m3u8/");
        assert!(!prefix.contains(':'));
    }
}
