//! Projects on disk: `<projects>/<project-id>/<movie>.json`, with assets beside the movie.
//! Project and movie names come from URLs and command lines, so they are checked to be
//! plain names before they touch the file system.

use std::path::{Path, PathBuf};

use crate::assets::AssetLoader;
use crate::error::{Error, Result};
use crate::movie::{self, Movie, Params, Timeline};
use crate::render::Renderer;

/// True for project and movie names: ASCII letters, digits, `-`, `_` and `.`, not
/// starting with a dot, at most 128 bytes.
pub fn is_plain_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 128
        && !name.starts_with('.')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

/// A project folder.
#[derive(Debug, Clone)]
pub struct Project {
    dir: PathBuf,
}

impl Project {
    /// The project `id` under `projects_dir`.
    pub fn find(projects_dir: &Path, id: &str) -> Result<Self> {
        if !is_plain_name(id) {
            return Err(Error::not_found(format!("project {id:?} not found")));
        }
        Self::open(&projects_dir.join(id))
    }

    /// A project at a path given directly (the CLI).
    pub fn open(dir: &Path) -> Result<Self> {
        if !dir.is_dir() {
            return Err(Error::not_found(format!(
                "project folder {} not found",
                dir.display()
            )));
        }
        Ok(Self {
            dir: dir.to_path_buf(),
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Loads and validates the movie `name` (without `.json`).
    pub fn movie(&self, name: &str) -> Result<Movie> {
        let name = name.strip_suffix(".json").unwrap_or(name);
        if !is_plain_name(name) {
            return Err(Error::not_found(format!("movie {name:?} not found")));
        }
        let path = self.dir.join(format!("{name}.json"));
        if !path.is_file() {
            return Err(Error::not_found(format!(
                "movie {name:?} not found in project {}",
                self.dir.display()
            )));
        }
        movie::load_file(&path)
    }

    /// Binds params, loads assets and prepares a renderer.
    pub async fn renderer(
        &self,
        movie: &Movie,
        params: Params,
        loader: &AssetLoader,
    ) -> Result<Renderer> {
        let timeline = Timeline::new(movie, params);
        let assets = loader.load(&self.dir, &timeline).await?;
        Renderer::new(timeline, assets)
    }
}
