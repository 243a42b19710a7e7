//! Saved sessions: the tokens `vsm login` obtained, one per manager URL, in a file only the user
//! can read (`session.json`, mode 0600, in a 0700 directory).
//!
//! The directory is `$VSM_CONFIG_DIR`, else `$XDG_CONFIG_HOME/vsm`, else `~/.config/vsm`. A
//! token in `VSM_TOKEN` wins over the file (for jobs). This module never prints a token.

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};

use anyhow::{Context, Result};
use camino::{Utf8Path, Utf8PathBuf};
use serde::{Deserialize, Serialize};

use crate::exit::{Exit, Failure};

/// One saved session.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Session {
    /// The bearer token.
    pub token: String,
    /// The account it belongs to.
    pub account: String,
    /// The account's role at login.
    #[serde(default)]
    pub role: String,
    /// When the token expires (ms since the epoch), when the manager said.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<i64>,
}

/// The session file: sessions by manager URL.
#[derive(Debug, Default, Serialize, Deserialize)]
struct SessionFile {
    #[serde(default)]
    sessions: BTreeMap<String, Session>,
}

/// The directory holding vsm's per-user configuration.
pub fn config_dir() -> Result<Utf8PathBuf> {
    let from_env = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    if let Some(dir) = from_env("VSM_CONFIG_DIR") {
        return Ok(Utf8PathBuf::from(dir));
    }
    if let Some(dir) = from_env("XDG_CONFIG_HOME") {
        return Ok(Utf8PathBuf::from(dir).join("vsm"));
    }
    if let Some(home) = from_env("HOME") {
        return Ok(Utf8PathBuf::from(home).join(".config").join("vsm"));
    }
    Err(
        Failure::new(Exit::Usage, "cannot find a directory for the saved session")
            .hint("set VSM_CONFIG_DIR (or HOME), or pass the token in VSM_TOKEN")
            .into(),
    )
}

/// A normalized form of a manager URL, the key of its session.
pub fn url_key(url: &str) -> String {
    url.trim().trim_end_matches('/').to_ascii_lowercase()
}

fn session_path(dir: &Utf8Path) -> Utf8PathBuf {
    dir.join("session.json")
}

fn read_file(dir: &Utf8Path) -> Result<SessionFile> {
    let path = session_path(dir);
    match fs::read_to_string(&path) {
        Ok(text) => serde_json::from_str(&text).with_context(|| {
            format!("the session file {path} is damaged; delete it and log in again")
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(SessionFile::default()),
        Err(e) => Err(e).with_context(|| format!("could not read the session file {path}")),
    }
}

fn write_file(dir: &Utf8Path, file: &SessionFile) -> Result<()> {
    fs::create_dir_all(dir).with_context(|| format!("could not create {dir}"))?;
    fs::set_permissions(dir, fs::Permissions::from_mode(0o700))
        .with_context(|| format!("could not restrict the permissions of {dir}"))?;
    let path = session_path(dir);
    let tmp = dir.join(format!(".session.json.{}", std::process::id()));
    let text = serde_json::to_string_pretty(file).context("could not encode the session file")?;
    {
        let mut f = fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)
            .with_context(|| format!("could not write {tmp}"))?;
        f.write_all(text.as_bytes())
            .and_then(|()| f.sync_all())
            .with_context(|| format!("could not write {tmp}"))?;
    }
    fs::rename(&tmp, &path).with_context(|| format!("could not replace {path}"))?;
    Ok(())
}

/// The saved session for `url`, if any.
pub fn load(dir: &Utf8Path, url: &str) -> Result<Option<Session>> {
    Ok(read_file(dir)?.sessions.remove(&url_key(url)))
}

/// Saves `session` for `url`, replacing an earlier one.
pub fn save(dir: &Utf8Path, url: &str, session: Session) -> Result<()> {
    let mut file = read_file(dir)?;
    file.sessions.insert(url_key(url), session);
    write_file(dir, &file)
}

/// Forgets the session for `url`; returns it if there was one.
pub fn remove(dir: &Utf8Path, url: &str) -> Result<Option<Session>> {
    let mut file = read_file(dir)?;
    let old = file.sessions.remove(&url_key(url));
    if old.is_some() {
        write_file(dir, &file)?;
    }
    Ok(old)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tmpdir() -> tempfile::TempDir {
        tempfile::tempdir().expect("temp dir")
    }

    #[test]
    fn sessions_are_saved_per_url_readable_only_by_the_user() {
        let tmp = tmpdir();
        let dir = Utf8PathBuf::from_path_buf(tmp.path().join("cfg")).expect("utf-8 temp path");
        assert_eq!(load(&dir, "http://a").expect("load"), None);
        let s = Session {
            token: "t1".into(),
            account: "alice".into(),
            role: "builder".into(),
            expires_at: Some(5),
        };
        save(&dir, "http://A/", s.clone()).expect("save");
        save(
            &dir,
            "http://b",
            Session {
                token: "t2".into(),
                ..s.clone()
            },
        )
        .expect("save");
        assert_eq!(load(&dir, "http://a").expect("load"), Some(s.clone()));
        let mode = fs::metadata(dir.join("session.json"))
            .expect("meta")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        assert_eq!(remove(&dir, "http://a").expect("remove"), Some(s));
        assert_eq!(load(&dir, "http://a").expect("load"), None);
        assert_eq!(
            load(&dir, "http://b").expect("load").map(|s| s.token),
            Some("t2".into())
        );
    }
}
