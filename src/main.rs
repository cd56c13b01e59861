//! The `framecast` command line: serve the Render API, check movies, render them, print
//! the movie schema.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use clap::{Parser, Subcommand};
use framecast::api::App;
use framecast::assets::AssetLoader;
use framecast::config::Settings;
use framecast::container::{fmp4, AudioInfo};
use framecast::encode::Encoders;
use framecast::movie::{self, Params};
use framecast::output::{
    av_fragment, encode_segments, encode_sound, render_output, Format, OutputOptions,
};
use framecast::project::Project;
use framecast::render::{render_span, Progress, Renderer};
use framecast::segment::{SegmentPlan, SegmentSettings};
use framecast::{Error, Result};

#[derive(Debug, Parser)]
#[command(
    name = "framecast",
    version,
    about = "Render personalised dynamic movies"
)]
struct Cli {
    /// A TOML settings file.
    #[arg(long, global = true, env = "FRAMECAST_CONFIG")]
    config: Option<PathBuf>,
    /// Lets the asset loader reach a host it would refuse (a name, an address or a CIDR
    /// network); repeatable.
    #[arg(
        long = "allow-host",
        global = true,
        env = "FRAMECAST_ALLOW_HOST",
        value_delimiter = ','
    )]
    allow_hosts: Vec<String>,
    /// The FFmpeg program for WebM, MPEG-2, Windows Media and ProRes outputs (default:
    /// `ffmpeg` on the PATH, or `ffmpeg_path` in the settings file).
    #[arg(long, global = true, env = "FRAMECAST_FFMPEG")]
    ffmpeg: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Validates a movie file the way the server does, optionally with params.
    Check {
        movie: PathBuf,
        /// A param as NAME=VALUE; repeatable.
        #[arg(long = "param", short = 'p', value_parser = parse_param)]
        params: Vec<(String, String)>,
    },
    /// Renders a movie to a file of any output format, or every frame to a folder of PNGs,
    /// and prints a summary (frames, bytes, seconds, realtime factor).
    Render {
        /// The project folder.
        #[arg(default_value = "fixtures/projects/demo")]
        project: PathBuf,
        /// The movie name, without `.json`.
        #[arg(default_value = "welcome-video")]
        movie: String,
        #[command(flatten)]
        args: RenderArgs,
    },
    /// Prints the JSON Schema of movie files.
    Schema,
    /// Serves the Render API over HTTP (flags override `FRAMECAST_*` variables, which
    /// override the settings file).
    Serve(ServeArgs),
}

#[derive(Debug, clap::Args)]
struct ServeArgs {
    /// The address to listen on [default: 127.0.0.1:8080].
    #[arg(long, env = "FRAMECAST_LISTEN")]
    listen: Option<std::net::SocketAddr>,
    /// The folder of projects [default: fixtures/projects].
    #[arg(long, env = "FRAMECAST_PROJECTS")]
    projects: Option<PathBuf>,
    /// The folder of tokens and finished outputs [default: ./data].
    #[arg(long, env = "FRAMECAST_DATA")]
    data: Option<PathBuf>,
    /// The region named in tokens [default: local].
    #[arg(long, env = "FRAMECAST_REGION")]
    region: Option<String>,
    /// The base of URLs in responses, such as https://render.example.com [default: the
    /// listening address].
    #[arg(long, env = "FRAMECAST_PUBLIC_URL")]
    public_url: Option<String>,
}

#[derive(Debug, clap::Args)]
struct RenderArgs {
    #[arg(long = "param", short = 'p', value_parser = parse_param)]
    params: Vec<(String, String)>,
    /// The frame of a still output (0-based; default: the middle).
    #[arg(long)]
    frame: Option<u64>,
    /// An output option as KEY=VALUE (`q`, `compression`, `from`, `to`, `format`, as in
    /// request query strings); repeatable.
    #[arg(long = "option", short = 'O', value_parser = parse_param)]
    options: Vec<(String, String)>,
    /// The output file; its extension picks the format (mp4, m3u8, mpd, jpg, png, tif, zip,
    /// ...). HLS and DASH write their segments beside it. A path without an extension is
    /// a folder that receives every frame as `frame-00000.png`.
    #[arg(long, short = 'o', default_value = "out/welcome-video.mp4")]
    output: PathBuf,
    /// Write MP4 fragmented (an init segment and a fragment per segment, as progressive
    /// download streams it) instead of with the index first.
    #[arg(long)]
    fragmented: bool,
    /// Drawing threads (default: all cores).
    #[arg(long)]
    threads: Option<usize>,
}

fn parse_param(s: &str) -> std::result::Result<(String, String), String> {
    s.split_once('=')
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .ok_or_else(|| format!("expected NAME=VALUE, found {s:?}"))
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // The server logs a line per request by default; commands only warnings.
    let default_filter = match cli.command {
        Command::Serve(_) => "framecast=info",
        _ => "warn",
    };
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| default_filter.into()),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> Result<()> {
    let settings = match &cli.config {
        Some(path) => Settings::from_file(path)?,
        None => Settings::default(),
    };
    let mut assets = settings.asset_settings(&cli.allow_hosts)?;
    // Video layers decode through the same FFmpeg as the encoders.
    assets.ffmpeg = cli.ffmpeg.clone().or_else(|| settings.ffmpeg_path.clone());
    match cli.command {
        Command::Schema => {
            let schema = serde_json::to_string_pretty(&movie::json_schema())
                .map_err(|e| Error::new(framecast::ErrorKind::Internal, e.to_string()))?;
            write_stdout(&format!("{schema}\n"))
        }
        Command::Check { movie, params } => {
            let parsed = movie::load_file(&movie)?;
            let params = Params::from_strings(
                &parsed,
                params.iter().map(|(k, v)| (k.as_str(), v.as_str())),
            )?;
            // Binding and loading assets as a render would finds missing files and fonts.
            let folder = movie.parent().filter(|p| !p.as_os_str().is_empty());
            let project = Project::open(folder.unwrap_or(Path::new(".")))?;
            let loader = AssetLoader::new(assets)?;
            let renderer = runtime()?.block_on(project.renderer(&parsed, params, &loader))?;
            let timeline = renderer.timeline();
            write_stdout(&format!(
                "{}: ok, {}x{} at {} fps, {} frames ({:.2} s)\n",
                movie.display(),
                timeline.width,
                timeline.height,
                timeline.fps,
                timeline.frame_count,
                timeline.duration_seconds()
            ))
        }
        Command::Serve(args) => {
            let ffmpeg = cli.ffmpeg.as_deref().or(settings.ffmpeg_path.as_deref());
            let encoders = Encoders::locate(ffmpeg).with_h264(settings.h264_encoder)?;
            serve(&settings, args, assets, encoders)
        }
        Command::Render {
            project,
            movie,
            args,
        } => {
            let loader = AssetLoader::new(assets)?;
            let ffmpeg = cli.ffmpeg.as_deref().or(settings.ffmpeg_path.as_deref());
            let encoders = Encoders::locate(ffmpeg).with_h264(settings.h264_encoder)?;
            render(&loader, &encoders, &project, &movie, &args)
        }
    }
}

fn serve(
    settings: &Settings,
    args: ServeArgs,
    assets: framecast::assets::AssetSettings,
    encoders: Encoders,
) -> Result<()> {
    let mut server = settings.server_settings()?;
    if let Some(listen) = args.listen {
        server.listen = listen;
    }
    if let Some(projects) = args.projects {
        server.projects_dir = projects;
    }
    if let Some(data) = args.data {
        server.data_dir = data;
    }
    if let Some(region) = args.region {
        server.region = region;
    }
    if args.public_url.is_some() {
        server.public_url = args.public_url;
    }
    if encoders.ffmpeg.is_none() {
        tracing::warn!(
            "ffmpeg not found: webm, mpeg, wmv and mov answer 503 until it is installed"
        );
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::new(framecast::ErrorKind::Internal, format!("runtime: {e}")))?;
    runtime.block_on(async {
        let loader = AssetLoader::new(assets)?;
        let (app, listener) = App::start(server, loader, encoders).await?;
        let base = app.base_url.clone();
        write_stdout(&format!(
            "framecast: serving the Render API on {base}/\n  \
             the demo, personalised: {base}/v1/render/demo/welcome-video.mp4?name=Alex\n"
        ))?;
        app.serve(listener, shutdown_signal()).await
    })
}

/// Resolves on SIGTERM or Ctrl-C.
async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut terminate =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(signal) => signal,
                Err(_) => {
                    let _ = interrupt.await;
                    return;
                }
            };
        tokio::select! {
            _ = interrupt => {}
            _ = terminate.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = interrupt.await;
    }
}

/// A runtime for the asset loader's network and file work.
fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| {
            Error::new(
                framecast::ErrorKind::Internal,
                format!("cannot start the runtime: {e}"),
            )
        })
}

fn write_stdout(text: &str) -> Result<()> {
    let mut stdout = std::io::stdout();
    stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
        .map_err(|e| Error::new(framecast::ErrorKind::Io, format!("stdout: {e}")))
}

fn io_error(path: &Path, e: std::io::Error) -> Error {
    Error::new(framecast::ErrorKind::Io, format!("{}: {e}", path.display()))
}

fn render(
    loader: &AssetLoader,
    encoders: &Encoders,
    project_dir: &Path,
    movie_name: &str,
    args: &RenderArgs,
) -> Result<()> {
    let project = Project::open(project_dir)?;
    let movie = project.movie(movie_name)?;
    let params = Params::from_strings(
        &movie,
        args.params.iter().map(|(k, v)| (k.as_str(), v.as_str())),
    )?;
    let mut options =
        OutputOptions::from_pairs(args.options.iter().map(|(k, v)| (k.as_str(), v.as_str())))?;
    if args.frame.is_some() {
        options.frame = args.frame;
    }
    let renderer = runtime()?.block_on(project.renderer(&movie, params, loader))?;
    let timeline = renderer.timeline();
    let frame_count = timeline.frame_count;
    let movie_seconds = timeline.duration_seconds();

    let mut builder = rayon::ThreadPoolBuilder::new();
    if let Some(threads) = args.threads {
        builder = builder.num_threads(threads);
    }
    let pool = builder
        .build()
        .map_err(|e| Error::new(framecast::ErrorKind::Internal, e.to_string()))?;
    let output = args.output.as_path();
    let format = output
        .extension()
        .and_then(|e| e.to_str())
        .map(Format::from_extension)
        .transpose()?;
    let progress = Progress::new(frame_count);
    let started = Instant::now();
    let (frames, bytes) = with_progress_bar(&progress, || match format {
        None => write_frame_folder(&renderer, &pool, output, &progress),
        Some(Format::Mp4) if args.fragmented => {
            write_fragmented_mp4(&renderer, encoders, &pool, output, &progress)
        }
        Some(format) => {
            let rendered = render_output(&renderer, format, &options, encoders, &pool, &progress)?;
            let mut bytes = write_file(output, &rendered.main)?;
            let folder = output.parent().unwrap_or(Path::new("."));
            for part in &rendered.parts {
                bytes += write_file(&folder.join(&part.name), &part.bytes)?;
            }
            Ok((rendered.frames, bytes))
        }
    })?;
    let seconds = started.elapsed().as_secs_f64();
    let speed = if frames == frame_count {
        format!(", {:.1}x real time", movie_seconds / seconds)
    } else {
        String::new()
    };
    write_stdout(&format!(
        "{}: {frames} frames, {bytes} bytes in {seconds:.2} s{speed}\n",
        output.display(),
    ))
}

/// Runs `work` while a progress line on standard error shows the frames done, when
/// standard error is a terminal.
fn with_progress_bar<T>(progress: &Progress, work: impl FnOnce() -> Result<T>) -> Result<T> {
    use std::io::IsTerminal;
    use std::sync::atomic::{AtomicBool, Ordering};

    if !std::io::stderr().is_terminal() {
        return work();
    }
    let finished = AtomicBool::new(false);
    std::thread::scope(|scope| {
        scope.spawn(|| {
            let draw = || {
                let (done, total) = (progress.done(), progress.total().max(1));
                let filled = (done * 30 / total) as usize;
                eprint!(
                    "\r[{}{}] {done}/{total} frames",
                    "#".repeat(filled),
                    " ".repeat(30 - filled.min(30))
                );
            };
            while !finished.load(Ordering::Relaxed) {
                draw();
                std::thread::sleep(std::time::Duration::from_millis(100));
            }
            draw();
            eprintln!();
        });
        let result = work();
        finished.store(true, Ordering::Relaxed);
        result
    })
}

fn write_file(path: &Path, bytes: &[u8]) -> Result<u64> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(|e| io_error(parent, e))?;
    }
    std::fs::write(path, bytes).map_err(|e| io_error(path, e))?;
    Ok(bytes.len() as u64)
}

/// Every frame as `frame-00000.png` in `folder`.
fn write_frame_folder(
    renderer: &Renderer,
    pool: &rayon::ThreadPool,
    folder: &Path,
    progress: &Progress,
) -> Result<(u64, u64)> {
    std::fs::create_dir_all(folder).map_err(|e| io_error(folder, e))?;
    let mut bytes = 0;
    let frames = renderer.timeline().frame_count;
    render_span(renderer, 0..frames, pool, |index, frame| {
        bytes += write_file(
            &folder.join(format!("frame-{index:05}.png")),
            &frame.to_png()?,
        )?;
        progress.add(1);
        Ok(())
    })?;
    Ok((frames, bytes))
}

/// A fragmented MP4: the init segment, then one fragment per segment with its pictures
/// and the sound that starts in it, as `get` streams it.
fn write_fragmented_mp4(
    renderer: &Renderer,
    encoders: &Encoders,
    pool: &rayon::ThreadPool,
    output: &Path,
    progress: &Progress,
) -> Result<(u64, u64)> {
    let timeline = renderer.timeline();
    let plan = SegmentPlan::new(timeline, SegmentSettings::default());
    let settings = encoders.h264_settings(timeline.width, timeline.height);
    let segments = encode_segments(renderer, &plan, settings, encoders, pool, progress)?;
    let (sps, pps) = (&segments[0].sps, &segments[0].pps);
    let Some(sound) = encode_sound(renderer, encoders)? else {
        let mut file = fmp4::init_segment(timeline.width, timeline.height, timeline.fps, sps, pps);
        for segment in &segments {
            file.extend(fmp4::media_fragment(
                segment.index,
                segment.first_frame,
                timeline.fps,
                &segment.pictures,
            ));
        }
        return Ok((timeline.frame_count, write_file(output, &file)?));
    };

    let (width, height, fps) = (timeline.width, timeline.height, timeline.fps);
    let bitrate_bps = framecast::encode::audio::AAC_BITRATE_BPS;
    let mut file = fmp4::av_init_segment(width, height, fps, sps, pps, sound.config, bitrate_bps);
    let cuts = AudioInfo::for_plan(timeline, &plan);
    for segment in &segments {
        file.extend(av_fragment(segment, fps, &cuts, &sound));
    }
    Ok((timeline.frame_count, write_file(output, &file)?))
}
