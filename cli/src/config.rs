//! Where the API is and who is asking: the base URL and the bearer token.
//!
//! Three sources, each overriding the one before: the file `ai-video login` writes
//! (`$XDG_CONFIG_HOME/ai-video/config.json`, else `~/.config/ai-video/config.json`,
//! readable by its owner only), the environment (`AI_VIDEO_URL`, `AI_VIDEO_TOKEN`;
//! empty counts as unset), and the `--url` / `--token` flags. Without any, the URL
//! is [`DEFAULT_URL`] and no token is sent.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;
use serde::{Deserialize, Serialize};

/// The API of a service running on this machine with its defaults.
pub const DEFAULT_URL: &str = "http://127.0.0.1:8000/api/ai-video";

/// The settings in force for one command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// The API base, without a trailing slash.
    pub url: String,
    pub token: Option<String>,
}

/// The configuration file's contents.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileConfig {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
}

/// The configuration file's path, from an environment lookup.
pub fn file_path(env: impl Fn(&str) -> Option<String>) -> Option<PathBuf> {
    let set = |name: &str| env(name).filter(|v| !v.is_empty());
    set("XDG_CONFIG_HOME")
        .map(PathBuf::from)
        .or_else(|| set("HOME").map(|home| Path::new(&home).join(".config")))
        .map(|dir| dir.join("ai-video").join("config.json"))
}

/// The file's settings; a missing file is an empty one.
pub fn read_file(path: &Path) -> anyhow::Result<FileConfig> {
    match std::fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .with_context(|| format!("{} is not a valid configuration file", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(FileConfig::default()),
        Err(e) => Err(e).with_context(|| format!("cannot read {}", path.display())),
    }
}

/// Writes the file with mode 0600 (its directory 0700), replacing any earlier one.
pub fn write_file(path: &Path, config: &FileConfig) -> anyhow::Result<()> {
    use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
    if let Some(dir) = path.parent() {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .with_context(|| format!("cannot create {}", dir.display()))?;
    }
    let mut body = serde_json::to_vec_pretty(config).context("encode the configuration")?;
    body.push(b'\n');
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("cannot write {}", path.display()))?;
    // A file that existed keeps its mode through `open`: narrow it too.
    file.set_permissions(std::fs::Permissions::from_mode(0o600))
        .and_then(|()| file.write_all(&body))
        .with_context(|| format!("cannot write {}", path.display()))
}

/// The settings in force: the file, then the environment, then the flags.
pub fn resolve(
    file: FileConfig,
    env: impl Fn(&str) -> Option<String>,
    url_flag: Option<String>,
    token_flag: Option<String>,
) -> Config {
    let set = |v: Option<String>| v.filter(|v| !v.trim().is_empty());
    let url = set(url_flag)
        .or_else(|| set(env("AI_VIDEO_URL")))
        .or_else(|| set(file.url))
        .unwrap_or_else(|| DEFAULT_URL.to_string());
    let token = set(token_flag)
        .or_else(|| set(env("AI_VIDEO_TOKEN")))
        .or_else(|| set(file.token));
    Config {
        url: url.trim().trim_end_matches('/').to_string(),
        token: token.map(|t| t.trim().to_string()),
    }
}

/// The process environment, as [`resolve`] and [`file_path`] read it.
pub fn process_env(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env<'a>(pairs: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |name| {
            pairs
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.to_string())
        }
    }

    fn file(url: &str, token: &str) -> FileConfig {
        FileConfig {
            url: Some(url.into()),
            token: Some(token.into()),
        }
    }

    #[test]
    fn nothing_set_means_the_local_default_and_no_token() {
        let c = resolve(FileConfig::default(), env(&[]), None, None);
        assert_eq!(c.url, DEFAULT_URL);
        assert_eq!(c.token, None);
    }

    #[test]
    fn the_environment_overrides_the_file_and_flags_override_both() {
        let f = file("http://file/api/ai-video/", "file-token");
        let c = resolve(f.clone(), env(&[]), None, None);
        assert_eq!(c.url, "http://file/api/ai-video");
        assert_eq!(c.token.as_deref(), Some("file-token"));

        let vars = [
            ("AI_VIDEO_URL", "http://env"),
            ("AI_VIDEO_TOKEN", "env-token"),
        ];
        let c = resolve(f.clone(), env(&vars), None, None);
        assert_eq!(c.url, "http://env");
        assert_eq!(c.token.as_deref(), Some("env-token"));

        let c = resolve(
            f,
            env(&vars),
            Some("http://flag".into()),
            Some("flag".into()),
        );
        assert_eq!(c.url, "http://flag");
        assert_eq!(c.token.as_deref(), Some("flag"));
    }

    #[test]
    fn an_empty_variable_counts_as_unset() {
        let vars = [("AI_VIDEO_URL", ""), ("AI_VIDEO_TOKEN", " ")];
        let c = resolve(file("http://file", "t"), env(&vars), None, None);
        assert_eq!(c.url, "http://file");
        assert_eq!(c.token.as_deref(), Some("t"));
    }

    #[test]
    fn the_file_lives_under_xdg_config_home_else_home() {
        let xdg = [("XDG_CONFIG_HOME", "/x"), ("HOME", "/h")];
        assert_eq!(
            file_path(env(&xdg)),
            Some(PathBuf::from("/x/ai-video/config.json"))
        );
        assert_eq!(
            file_path(env(&[("HOME", "/h")])),
            Some(PathBuf::from("/h/.config/ai-video/config.json"))
        );
        assert_eq!(file_path(env(&[])), None);
    }

    #[test]
    fn the_file_is_written_for_its_owner_only_and_read_back() {
        use std::os::unix::fs::PermissionsExt;
        let dir = std::env::temp_dir().join(format!("ai-video-cli-{}", uuid::Uuid::new_v4()));
        let path = dir.join("ai-video").join("config.json");
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, "{}").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let written = file("http://saved", "secret");
        write_file(&path, &written).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        assert_eq!(read_file(&path).unwrap(), written);
        assert_eq!(
            read_file(&dir.join("missing.json")).unwrap(),
            FileConfig::default()
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
