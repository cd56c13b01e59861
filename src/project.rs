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

/// A request's `movie`: one name for every extension, or a name per extension.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(untagged)]
pub enum MovieChoice {
    Name(String),
    ByExtension(std::collections::BTreeMap<String, String>),
}

impl MovieChoice {
    /// The movie for `extension`; a map without it is an error that lists what it has.
    pub fn for_extension(&self, extension: &str) -> Result<&str> {
        match self {
            Self::Name(name) => Ok(name),
            Self::ByExtension(map) => map.get(extension).map(String::as_str).ok_or_else(|| {
                let mapped: Vec<&str> = map.keys().map(String::as_str).collect();
                Error::invalid_param(format!(
                    "movie: no movie is mapped to the extension {extension:?}; mapped: {}",
                    mapped.join(", ")
                ))
            }),
        }
    }

    pub fn to_json(&self) -> serde_json::Value {
        match self {
            Self::Name(name) => serde_json::Value::String(name.clone()),
            Self::ByExtension(map) => serde_json::json!(map),
        }
    }

    pub fn from_json(value: &serde_json::Value) -> Option<Self> {
        serde_json::from_value(value.clone()).ok()
    }
}

/// A project folder.
#[derive(Debug, Clone)]
pub struct Project {
    dir: PathBuf,
}

impl Project {
    /// The project `id` under `projects_dir`.
    pub fn find(projects_dir: &Path, id: &str) -> Result<Self> {
        // The message names the project, never the server's folders.
        let dir = projects_dir.join(id);
        if !is_plain_name(id) || !dir.is_dir() {
            return Err(Error::not_found(format!("project {id:?} not found")));
        }
        Ok(Self { dir })
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
            let project = self.dir.file_name().map(|n| n.to_string_lossy());
            return Err(Error::not_found(format!(
                "movie {name:?} not found in project {:?}",
                project.unwrap_or_default()
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
