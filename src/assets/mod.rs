//! The one asset loader. Every picture and font a movie uses comes through here, from the
//! project folder or from an http(s) URL, under the address policy and the size, time and
//! pixel limits. Loads are cached and shared: concurrent renders that need the same URL at
//! the same moment cause one fetch.

pub mod address;
pub mod audio;
pub mod fetch;
pub mod fonts;
pub mod image;
pub mod video;

use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;

use url::Url;

pub use address::{AddressPolicy, AllowRule};
pub use audio::SoundFile;
pub use fetch::{FetchLimits, Fetcher};
pub use image::ImageLimits;
pub use video::{Clip, ClipInfo, VideoTools};

use crate::error::{Error, ErrorKind, Result};
use crate::movie::timeline::Content;
use crate::movie::Timeline;

/// Settings for the loader.
#[derive(Debug, Clone, Default)]
pub struct AssetSettings {
    pub allow: Vec<AllowRule>,
    pub fetch: FetchLimits,
    pub image: ImageLimits,
    /// Decoded pictures kept in memory, in bytes (default 256 MiB).
    pub cache_bytes: Option<u64>,
    /// Decoded video frames kept in memory, in bytes (default 512 MiB).
    pub clip_frames_bytes: Option<u64>,
    /// The FFmpeg that decodes clips (default: `ffmpeg` on the PATH, with the ffprobe
    /// beside it).
    pub ffmpeg: Option<PathBuf>,
}

/// A decoded picture, shared between renders.
pub type Picture = Arc<tiny_skia::Pixmap>;

/// Everything a timeline's renderer needs besides the timeline: pictures and clips by
/// source, and the bytes of the movie's font files.
#[derive(Debug, Clone, Default)]
pub struct Assets {
    pub pictures: BTreeMap<String, Picture>,
    pub clips: BTreeMap<String, Arc<Clip>>,
    pub sounds: BTreeMap<String, Arc<SoundFile>>,
    pub fonts: Vec<Vec<u8>>,
}

/// Loads and caches assets.
#[derive(Debug, Clone)]
pub struct AssetLoader {
    fetcher: Fetcher,
    limits: ImageLimits,
    pictures: moka::future::Cache<String, Picture>,
    decodes: Arc<tokio::sync::Semaphore>,
    video: VideoTools,
    clips: moka::future::Cache<String, Arc<Clip>>,
    clip_frames: video::FrameCache,
    sounds: moka::future::Cache<String, Arc<SoundFile>>,
}

/// Where a source string points.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    Project(String),
    Remote(Url),
}

/// Checks the syntax of an image reference: an http(s) URL, or a relative path inside the
/// project folder.
pub fn check_source_syntax(source: &str) -> std::result::Result<Source, String> {
    if source.len() > crate::movie::params::SOURCE_LIMIT_BYTES {
        return Err(format!(
            "expected at most {} bytes, found {}",
            crate::movie::params::SOURCE_LIMIT_BYTES,
            source.len()
        ));
    }
    if source.contains("://") || source.starts_with("data:") || source.starts_with("file:") {
        let url = Url::parse(source)
            .map_err(|e| format!("expected an http(s) URL, found {source:?}: {e}"))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(format!(
                "expected an http or https URL, found scheme {:?}",
                url.scheme()
            ));
        }
        if url.host().is_none() {
            return Err(format!("expected a host in {source:?}"));
        }
        return Ok(Source::Remote(url));
    }
    check_project_path(source)?;
    Ok(Source::Project(source.to_owned()))
}

/// Checks that `path` names a file inside a project folder: relative, no `..`.
pub fn check_project_path(path: &str) -> std::result::Result<(), String> {
    let fail = || {
        format!(
            "expected a relative path inside the project folder or an http(s) URL, found {path:?}"
        )
    };
    if path.is_empty() || path.contains('\\') || path.contains('\0') || path.contains(':') {
        return Err(fail());
    }
    let all_normal = Path::new(path)
        .components()
        .all(|c| matches!(c, Component::Normal(_) | Component::CurDir));
    if all_normal {
        Ok(())
    } else {
        Err(fail())
    }
}

/// Resolves a checked project path, refusing symlinks that lead outside the folder.
fn project_file(project_dir: &Path, path: &str) -> Result<PathBuf> {
    check_project_path(path).map_err(Error::refused)?;
    let root = project_dir
        .canonicalize()
        .map_err(|e| Error::not_found(format!("project folder {}: {e}", project_dir.display())))?;
    let file = root.join(path).canonicalize().map_err(|e| {
        Error::not_found(format!(
            "asset {path:?} in project {}: {e}",
            project_dir.display()
        ))
    })?;
    if !file.starts_with(&root) {
        return Err(Error::refused(format!(
            "asset {path:?} leads outside the project folder"
        )));
    }
    Ok(file)
}

/// The cache key of a clip or sound, and for a project file its path: a project file is
/// known by its path, size and modification time, so a replaced file is read again.
fn media_key(project_dir: &Path, source: &Source, what: &str) -> Result<(String, Option<PathBuf>)> {
    match source {
        Source::Remote(url) => Ok((url.to_string(), None)),
        Source::Project(path) => {
            let file = project_file(project_dir, path)?;
            let meta = std::fs::metadata(&file)
                .map_err(|e| Error::not_found(format!("{what} {path:?}: {e}")))?;
            if !meta.is_file() {
                return Err(Error::refused(format!(
                    "{what} {path:?}: expected a regular file"
                )));
            }
            let modified = meta
                .modified()
                .ok()
                .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                .map_or(0, |d| d.as_nanos());
            let key = format!("{}\u{0}{}\u{0}{modified}", file.display(), meta.len());
            Ok((key, Some(file)))
        }
    }
}

/// Pictures decoded at the same time, at most.
const CONCURRENT_DECODES: usize = 2;

/// The largest project file the loader reads.
const PROJECT_FILE_MAX_BYTES: u64 = 64 << 20;
/// Project files must be read within this time (a FIFO or a network mount could stall).
const PROJECT_FILE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// Reads a regular file of at most `max` bytes, within the project file deadline.
async fn read_capped(file: &Path, max: u64) -> Result<Vec<u8>> {
    use tokio::io::AsyncReadExt;

    let io = |e: std::io::Error| Error::new(ErrorKind::Io, e.to_string());
    let read = async {
        let handle = tokio::fs::File::open(file).await.map_err(io)?;
        if !handle.metadata().await.map_err(io)?.is_file() {
            return Err(Error::refused("expected a regular file"));
        }
        let mut bytes = Vec::new();
        handle
            .take(max + 1)
            .read_to_end(&mut bytes)
            .await
            .map_err(io)?;
        if bytes.len() as u64 > max {
            return Err(Error::asset(format!(
                "expected at most {max} bytes, found more"
            )));
        }
        Ok(bytes)
    };
    tokio::time::timeout(PROJECT_FILE_TIMEOUT, read)
        .await
        .map_err(|_| {
            Error::asset(format!(
                "took longer than {} s to read",
                PROJECT_FILE_TIMEOUT.as_secs()
            ))
        })?
}

impl AssetLoader {
    /// The address policy of remote assets, which every other outbound request obeys too.
    pub fn policy(&self) -> &Arc<AddressPolicy> {
        self.fetcher.policy()
    }

    pub fn new(settings: AssetSettings) -> Result<Self> {
        let fetcher = Fetcher::new(AddressPolicy::new(settings.allow), settings.fetch)?;
        let pictures = moka::future::Cache::builder()
            .max_capacity(settings.cache_bytes.unwrap_or(256 << 20))
            .weigher(|_key: &String, picture: &Picture| {
                u32::try_from(picture.data().len()).unwrap_or(u32::MAX)
            })
            .build();
        let clip_frames = moka::sync::Cache::builder()
            .max_capacity(settings.clip_frames_bytes.unwrap_or(512 << 20))
            .weigher(|_, frames: &Arc<Vec<Picture>>| {
                let bytes: usize = frames.iter().map(|f| f.data().len()).sum();
                u32::try_from(bytes).unwrap_or(u32::MAX)
            })
            .build();
        Ok(Self {
            fetcher,
            limits: settings.image,
            pictures,
            decodes: Arc::new(tokio::sync::Semaphore::new(CONCURRENT_DECODES)),
            video: VideoTools::new(settings.ffmpeg.as_deref()),
            clips: moka::future::Cache::builder().max_capacity(256).build(),
            clip_frames,
            sounds: moka::future::Cache::builder()
                .max_capacity(256 << 20)
                .weigher(|_, sound: &Arc<SoundFile>| {
                    u32::try_from(sound.samples.len() * 4).unwrap_or(u32::MAX)
                })
                .build(),
        })
    }

    /// Raw bytes of a source.
    pub async fn bytes(&self, project_dir: &Path, source: &str) -> Result<Vec<u8>> {
        match check_source_syntax(source).map_err(|e| Error::refused(format!("{source:?}: {e}")))? {
            Source::Remote(url) => self.fetcher.fetch(&url).await,
            Source::Project(path) => {
                let file = project_file(project_dir, &path)?;
                read_capped(&file, PROJECT_FILE_MAX_BYTES)
                    .await
                    .map_err(|e| e.context(format!("asset {path:?}")))
            }
        }
    }

    /// A decoded picture. Concurrent calls for one source share one load.
    pub async fn picture(&self, project_dir: &Path, source: &str) -> Result<Picture> {
        let key = match check_source_syntax(source) {
            Ok(Source::Remote(url)) => url.to_string(),
            Ok(Source::Project(path)) => format!("{}\u{0}{path}", project_dir.display()),
            Err(e) => return Err(Error::refused(format!("{source:?}: {e}"))),
        };
        self.pictures
            .try_get_with(key, async {
                let started = std::time::Instant::now();
                let bytes = self.bytes(project_dir, source).await?;
                tracing::debug!(
                    source,
                    bytes = bytes.len(),
                    elapsed_ms = started.elapsed().as_millis() as u64,
                    "picture loaded"
                );
                let limits = self.limits;
                let origin = source.to_owned();
                // Decoding holds up to the decoder's allocation cap; a few at a time bound
                // the memory of many renders starting together.
                let _permit = self
                    .decodes
                    .acquire()
                    .await
                    .map_err(|_| Error::internal("decoder pool closed"))?;
                tokio::task::spawn_blocking(move || image::decode(&bytes, &origin, limits))
                    .await
                    .map_err(|e| Error::internal(format!("picture decoder stopped: {e}")))?
                    .map(Arc::new)
            })
            .await
            .map_err(|e: Arc<Error>| (*e).clone())
    }

    /// A probed clip. Concurrent calls for one source share one load, and a replaced
    /// project file is probed again.
    pub async fn clip(&self, project_dir: &Path, source: &str) -> Result<Arc<Clip>> {
        let checked =
            check_source_syntax(source).map_err(|e| Error::refused(format!("{source:?}: {e}")))?;
        let (key, file) = media_key(project_dir, &checked, "clip")?;
        let (tools, frames) = (self.video.clone(), self.clip_frames.clone());
        self.clips
            .try_get_with(key, async move {
                let origin = source.to_owned();
                let clip = match (file, checked) {
                    (Some(file), _) => {
                        tokio::task::spawn_blocking(move || {
                            Clip::from_project(file, tools, frames, &origin)
                        })
                        .await
                    }
                    (None, Source::Remote(url)) => {
                        let bytes = self.fetcher.fetch(&url).await?;
                        tokio::task::spawn_blocking(move || {
                            Clip::from_bytes(&bytes, tools, frames, &origin)
                        })
                        .await
                    }
                    (None, Source::Project(_)) => {
                        return Err(Error::internal("a project clip without its file"))
                    }
                };
                clip.map_err(|e| Error::internal(format!("clip loader stopped: {e}")))?
                    .map(Arc::new)
            })
            .await
            .map_err(|e: Arc<Error>| (*e).clone())
    }

    /// A decoded sound. Concurrent calls for one source share one load.
    pub async fn sound(&self, project_dir: &Path, source: &str) -> Result<Arc<SoundFile>> {
        let checked =
            check_source_syntax(source).map_err(|e| Error::refused(format!("{source:?}: {e}")))?;
        let (key, file) = media_key(project_dir, &checked, "sound")?;
        let tools = self.video.clone();
        self.sounds
            .try_get_with(key, async move {
                let origin = source.to_owned();
                let decoded = match (file, checked) {
                    (Some(file), _) => {
                        // Read by parts to hash: a clip's sound may be a long video file.
                        tokio::task::spawn_blocking(move || {
                            let digest = video::digest_file(&file)
                                .map_err(|e| e.context(format!("sound {origin:?}")))?;
                            SoundFile::decode(&file, digest, &tools, &origin)
                        })
                        .await
                    }
                    (None, Source::Remote(url)) => {
                        let bytes = self.fetcher.fetch(&url).await?;
                        tokio::task::spawn_blocking(move || {
                            let digest = *blake3::hash(&bytes).as_bytes();
                            let temp = tempfile::Builder::new()
                                .prefix("framecast-sound-")
                                .tempfile()
                                .and_then(|mut temp| {
                                    std::io::Write::write_all(&mut temp, &bytes).map(|()| temp)
                                })
                                .map_err(|e| {
                                    Error::new(ErrorKind::Io, format!("sound {origin:?}: {e}"))
                                })?;
                            SoundFile::decode(temp.path(), digest, &tools, &origin)
                        })
                        .await
                    }
                    (None, Source::Project(_)) => {
                        return Err(Error::internal("a project sound without its file"))
                    }
                };
                decoded
                    .map_err(|e| Error::internal(format!("sound loader stopped: {e}")))?
                    .map(Arc::new)
            })
            .await
            .map_err(|e: Arc<Error>| (*e).clone())
    }

    /// Loads every picture and font file a timeline uses.
    pub async fn load(&self, project_dir: &Path, timeline: &Timeline) -> Result<Assets> {
        let sources: std::collections::BTreeSet<&str> = timeline
            .scenes
            .iter()
            .flat_map(|scene| &scene.layers)
            .filter_map(|layer| match &layer.content {
                Content::Image {
                    source: Some(source),
                    ..
                } => Some(source.as_str()),
                _ => None,
            })
            .collect();
        let loads = sources.into_iter().map(|source| async move {
            let picture = self.picture(project_dir, source).await?;
            Ok::<_, Error>((source.to_owned(), picture))
        });
        let pictures = futures::future::try_join_all(loads)
            .await?
            .into_iter()
            .collect();

        let clip_sources: std::collections::BTreeSet<&str> = timeline
            .scenes
            .iter()
            .flat_map(|scene| &scene.layers)
            .filter_map(|layer| match &layer.content {
                Content::Video(spec) => spec.source.as_deref(),
                _ => None,
            })
            .collect();
        let loads = clip_sources.into_iter().map(|source| async move {
            let clip = self.clip(project_dir, source).await?;
            Ok::<_, Error>((source.to_owned(), clip))
        });
        let clips = futures::future::try_join_all(loads)
            .await?
            .into_iter()
            .collect();

        // A sound is silent only when it is a clip's: a sound file must have sound.
        let mut sound_sources: BTreeMap<&str, bool> = BTreeMap::new();
        for sound in &timeline.audio {
            if let Some(source) = sound.source.as_deref() {
                let silent_ok = sound_sources.entry(source).or_insert(true);
                *silent_ok &= sound.from_clip;
            }
        }
        let loads = sound_sources
            .into_iter()
            .map(|(source, silent_ok)| async move {
                let sound = self.sound(project_dir, source).await?;
                if sound.frames() == 0 && !silent_ok {
                    return Err(Error::asset(format!(
                        "sound {source:?} has no sound stream"
                    )));
                }
                Ok::<_, Error>((source.to_owned(), sound))
            });
        let sounds = futures::future::try_join_all(loads)
            .await?
            .into_iter()
            .collect();

        let mut fonts = Vec::new();
        for font in &timeline.fonts {
            fonts.push(self.bytes(project_dir, font).await?);
        }
        Ok(Assets {
            pictures,
            clips,
            sounds,
            fonts,
        })
    }
}
