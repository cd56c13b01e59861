//! The `framecast` command line: check movies, render them, print the movie schema.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use clap::{Parser, Subcommand};
use framecast::assets::AssetLoader;
use framecast::config::Settings;
use framecast::container::fmp4;
use framecast::encode::{encode_segment, EncodedSegment, H264Settings};
use framecast::movie::{self, Params};
use framecast::project::Project;
use framecast::render::{render_span, Renderer};
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
    /// Renders a movie: one frame to a PNG file, the movie to an MP4 file, or every frame
    /// to a folder of PNGs.
    Render {
        /// The project folder.
        #[arg(default_value = "fixtures/projects/demo")]
        project: PathBuf,
        /// The movie name, without `.json`.
        #[arg(default_value = "welcome-video")]
        movie: String,
        #[arg(long = "param", short = 'p', value_parser = parse_param)]
        params: Vec<(String, String)>,
        /// The frame to render (0-based) when the output is a PNG file.
        #[arg(long)]
        frame: Option<u64>,
        /// A `.png` file (one frame), an `.mp4` file (H.264 in fragmented MP4), or a folder
        /// that receives every frame as `frame-00000.png`.
        #[arg(long, short = 'o', default_value = "out/welcome-video.png")]
        output: PathBuf,
        /// Drawing threads (default: all cores).
        #[arg(long)]
        threads: Option<usize>,
    },
    /// Prints the JSON Schema of movie files.
    Schema,
}

fn parse_param(s: &str) -> std::result::Result<(String, String), String> {
    s.split_once('=')
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .ok_or_else(|| format!("expected NAME=VALUE, found {s:?}"))
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
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
    let assets = settings.asset_settings(&cli.allow_hosts)?;
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
        Command::Render {
            project,
            movie,
            params,
            frame,
            output,
            threads,
        } => {
            let loader = AssetLoader::new(assets)?;
            render(&loader, &project, &movie, &params, frame, &output, threads)
        }
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
    std::io::stdout()
        .write_all(text.as_bytes())
        .map_err(|e| Error::new(framecast::ErrorKind::Io, format!("stdout: {e}")))
}

fn io_error(path: &Path, e: std::io::Error) -> Error {
    Error::new(framecast::ErrorKind::Io, format!("{}: {e}", path.display()))
}

fn render(
    loader: &AssetLoader,
    project_dir: &Path,
    movie_name: &str,
    params: &[(String, String)],
    frame: Option<u64>,
    output: &Path,
    threads: Option<usize>,
) -> Result<()> {
    let project = Project::open(project_dir)?;
    let movie = project.movie(movie_name)?;
    let params =
        Params::from_strings(&movie, params.iter().map(|(k, v)| (k.as_str(), v.as_str())))?;
    let renderer = runtime()?.block_on(project.renderer(&movie, params, loader))?;
    let frame_count = renderer.timeline().frame_count;

    let started = Instant::now();
    let is_png_file = output
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("png"));
    if is_png_file {
        if let Some(parent) = output.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(|e| io_error(parent, e))?;
        }
        let index = frame.unwrap_or(frame_count / 2);
        let png = renderer.render_frame(index)?.to_png()?;
        std::fs::write(output, png).map_err(|e| io_error(output, e))?;
        return write_stdout(&format!(
            "{}: frame {index} of {frame_count} in {:.1} ms\n",
            output.display(),
            started.elapsed().as_secs_f64() * 1000.0
        ));
    }

    let mut builder = rayon::ThreadPoolBuilder::new();
    if let Some(threads) = threads {
        builder = builder.num_threads(threads);
    }
    let pool = builder
        .build()
        .map_err(|e| Error::new(framecast::ErrorKind::Internal, e.to_string()))?;

    let is_mp4 = output
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("mp4"));
    if is_mp4 {
        let bytes = write_fragmented_mp4(&renderer, &pool, output)?;
        let seconds = started.elapsed().as_secs_f64();
        return write_stdout(&format!(
            "{}: {frame_count} frames, {bytes} bytes in {seconds:.2} s ({:.1}x real time)\n",
            output.display(),
            renderer.timeline().duration_seconds() / seconds
        ));
    }

    std::fs::create_dir_all(output).map_err(|e| io_error(output, e))?;
    render_span(&renderer, 0..frame_count, &pool, |index, frame| {
        let path = output.join(format!("frame-{index:05}.png"));
        std::fs::write(&path, frame.to_png()?).map_err(|e| io_error(&path, e))
    })?;
    let seconds = started.elapsed().as_secs_f64();
    let movie_seconds = renderer.timeline().duration_seconds();
    write_stdout(&format!(
        "{}: {frame_count} frames in {seconds:.2} s ({:.1}x real time, PNG writing included)\n",
        output.display(),
        movie_seconds / seconds
    ))
}

/// Encodes every segment (side by side on the pool) and writes a fragmented MP4: the init
/// segment, then one fragment per segment. Returns the file size.
fn write_fragmented_mp4(
    renderer: &Renderer,
    pool: &rayon::ThreadPool,
    output: &Path,
) -> Result<usize> {
    use rayon::prelude::*;

    let timeline = renderer.timeline();
    let plan = SegmentPlan::new(timeline, SegmentSettings::default());
    let settings = H264Settings::for_canvas(timeline.width, timeline.height);
    let segments: Vec<EncodedSegment> = pool.install(|| {
        plan.segments
            .par_iter()
            .map(|segment| encode_segment(renderer, segment, settings))
            .collect::<Result<_>>()
    })?;
    let first = segments.first().ok_or_else(|| {
        Error::new(
            framecast::ErrorKind::InvalidParam,
            "the movie has no frames",
        )
    })?;
    if let Some(odd) = segments
        .iter()
        .find(|s| (&s.sps, &s.pps) != (&first.sps, &first.pps))
    {
        return Err(Error::internal(format!(
            "segment {} was encoded with other parameter sets than segment 0",
            odd.index
        )));
    }

    let mut file = fmp4::init_segment(
        timeline.width,
        timeline.height,
        timeline.fps,
        &first.sps,
        &first.pps,
    );
    for segment in &segments {
        file.extend(fmp4::media_fragment(
            segment.index,
            segment.first_frame,
            timeline.fps,
            &segment.pictures,
        ));
    }
    if let Some(parent) = output.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(|e| io_error(parent, e))?;
    }
    std::fs::write(output, &file).map_err(|e| io_error(output, e))?;
    Ok(file.len())
}
