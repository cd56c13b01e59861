//! `framecast serve` as a child process on port 0, on a data folder of its own.

use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

/// A server on its own data folder, killed when dropped.
pub struct Server {
    pub child: Child,
    pub base: String,
    pub data: PathBuf,
    pub projects: PathBuf,
}

/// A fresh folder for one test.
pub fn test_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("framecast-api-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("test dir");
    dir
}

impl Server {
    /// A server on `data` serving `projects`, with more command-line arguments.
    pub fn start_on(data: PathBuf, projects: PathBuf, extra: &[&str]) -> Self {
        Self::spawn(data, projects, extra, None)
    }

    /// As [`Server::start_on`], logging at debug level into `log`.
    pub fn start_logged(data: PathBuf, projects: PathBuf, extra: &[&str], log: &Path) -> Self {
        Self::spawn(data, projects, extra, Some(log))
    }

    fn spawn(data: PathBuf, projects: PathBuf, extra: &[&str], log: Option<&Path>) -> Self {
        let mut command = Command::new(env!("CARGO_BIN_EXE_framecast"));
        command
            .args(["serve", "--listen", "127.0.0.1:0", "--data"])
            .arg(&data)
            .arg("--projects")
            .arg(&projects)
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        if let Some(log) = log {
            let file = std::fs::File::create(log).expect("log file");
            command.stderr(file).env("RUST_LOG", "debug");
        }
        let mut child = command.spawn().expect("framecast serve starts");
        let stdout = child.stdout.take().expect("stdout");
        let mut line = String::new();
        std::io::BufReader::new(stdout)
            .read_line(&mut line)
            .expect("first line");
        let base = line
            .split_whitespace()
            .find(|w| w.starts_with("http://"))
            .unwrap_or_else(|| panic!("no URL in {line:?}"))
            .trim_end_matches('/')
            .to_owned();
        Self {
            child,
            base,
            data,
            projects,
        }
    }

    /// A server on a fresh folder with one project `test` holding `movies` (name, JSON).
    pub fn with_movies(name: &str, movies: &[(&str, &str)], extra: &[&str]) -> Self {
        let dir = test_dir(name);
        let projects = dir.join("projects");
        std::fs::create_dir_all(projects.join("test")).expect("project");
        for (movie, json) in movies {
            std::fs::write(projects.join(format!("test/{movie}.json")), json).expect("movie");
        }
        Self::start_on(dir.join("data"), projects, extra)
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Stops with SIGTERM, as a service manager would, and waits.
    pub fn stop(mut self) -> (PathBuf, PathBuf) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
        (self.data.clone(), self.projects.clone())
    }

    /// The value of a metric without labels from `/metrics`.
    pub async fn metric(&self, client: &reqwest::Client, name: &str) -> u64 {
        let text = client
            .get(self.url("/metrics"))
            .send()
            .await
            .expect("metrics")
            .text()
            .await
            .expect("metrics text");
        text.lines()
            .find_map(|line| line.strip_prefix(&format!("{name} ")))
            .and_then(|value| value.trim().parse().ok())
            .unwrap_or_else(|| panic!("no metric {name} in {text}"))
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
