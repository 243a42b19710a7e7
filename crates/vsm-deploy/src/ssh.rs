//! The `ssh` transport: a target directory on a remote machine, reached with the system's
//! OpenSSH client through `vsm_hypervisor::ssh`.
//!
//! A push is two ssh sessions: one streams a tar archive (written here, GNU format) of the
//! staged files, the intent log and the new record into `BASE/.vsm/staging/TXN`; the second
//! runs [`REMOTE_SCRIPT`] (POSIX `sh`, `mv`, `mkdir`, `rm`, `sed`, `grep`) which performs the
//! same switch / rollback / commit protocol as the local transport (see `transport`).

use std::time::Duration;

use async_trait::async_trait;
use camino::{Utf8Path, Utf8PathBuf};
use tokio::io::{AsyncReadExt, AsyncWrite, AsyncWriteExt};
use vsm_hypervisor::ssh::{self, SshTarget, shell_quote};

use crate::transport::{
    AppliedRecord, ChangeSet, CommandOutput, Content, Transport, TransportError,
};

/// The remote side of the protocol. Arguments: `MODE BASE [TXN]`; MODE `read` recovers
/// interrupted transactions and prints the record (nothing if none); `commit` switches in and
/// commits the staged transaction TXN, or rolls it back and exits 3 with `vsm: STEP` on stderr.
pub const REMOTE_SCRIPT: &str = r#"
set -u
mode=$1; base=$2; txn=${3:-}
vsm="$base/.vsm"
rollback() {
  s=$1
  [ -f "$s/log" ] || return 0
  sed -n '1!G;h;$p' "$s/log" > "$s/log.rev" || return 1
  while IFS= read -r line; do
    op=${line%% *}; p=${line#* }
    t="$base/$p"; b="$s/backup/$p"
    if [ -e "$b" ] || [ -L "$b" ]; then
      rm -rf -- "$t" && mv -f -- "$b" "$t" || return 1
    elif [ "$op" = W ] && [ ! -e "$s/files/$p" ] && { [ -e "$t" ] || [ -L "$t" ]; }; then
      rm -f -- "$t" || return 1
    fi
  done < "$s/log.rev"
}
recover() {
  for s in "$vsm/staging"/*; do
    [ -d "$s" ] || continue
    name=${s##*/}
    if [ -f "$vsm/applied.json" ] && grep -q "\"txn\": *\"$name\"" "$vsm/applied.json"; then :; else
      rollback "$s" || { echo "vsm: undoing interrupted transaction $name failed" >&2; exit 4; }
    fi
    rm -rf -- "$s"
  done
}
fail() {
  echo "vsm: $1" >&2
  rollback "$st" || echo "vsm: rollback failed" >&2
  rm -rf -- "$st"
  exit 3
}
case $mode in
read)
  recover
  if [ -f "$vsm/applied.json" ]; then cat -- "$vsm/applied.json"; fi
  ;;
commit)
  st="$vsm/staging/$txn"
  while IFS= read -r line; do
    op=${line%% *}; p=${line#* }
    t="$base/$p"; b="$st/backup/$p"
    if [ "$op" = W ]; then mkdir -p -- "${t%/*}" || fail "creating the directory of $p"; fi
    if [ -e "$t" ] || [ -L "$t" ]; then
      mkdir -p -- "${b%/*}" && mv -f -- "$t" "$b" || fail "moving $p aside"
    fi
    if [ "$op" = W ]; then mv -f -- "$st/files/$p" "$t" || fail "writing $p"; fi
  done < "$st/log"
  mv -f -- "$st/applied.json" "$vsm/applied.json" || fail "committing .vsm/applied.json"
  rm -rf -- "$st"
  ;;
*) echo "vsm: unknown mode $mode" >&2; exit 2 ;;
esac
"#;

/// Pushes to a directory on a remote machine over ssh.
#[derive(Debug, Clone)]
pub struct SshTransport {
    target: SshTarget,
    base: Utf8PathBuf,
}

impl SshTransport {
    /// A transport writing under `base` on `target` (relative paths are relative to the remote
    /// user's home directory).
    pub fn new(target: SshTarget, base: impl Into<Utf8PathBuf>) -> Self {
        SshTransport {
            target,
            base: base.into(),
        }
    }

    fn script(&self, mode: &str, txn: Option<&str>) -> String {
        let mut cmd = format!(
            "sh -c {} vsm {mode} {}",
            shell_quote(REMOTE_SCRIPT),
            shell_quote(self.base.as_str())
        );
        if let Some(t) = txn {
            cmd.push(' ');
            cmd.push_str(&shell_quote(t));
        }
        cmd
    }

    fn staging(&self, txn: &str) -> Utf8PathBuf {
        self.base.join(".vsm/staging").join(txn)
    }
}

/// Writes one tar header (GNU format; long names through a `././@LongLink` entry).
async fn tar_header<W: AsyncWrite + Unpin>(
    w: &mut W,
    name: &str,
    mode: u32,
    size: u64,
    kind: u8,
) -> std::io::Result<()> {
    if name.len() > 99 {
        let mut long = name.as_bytes().to_vec();
        long.push(0);
        Box::pin(tar_header(
            w,
            "././@LongLink",
            0o644,
            long.len() as u64,
            b'L',
        ))
        .await?;
        w.write_all(&long).await?;
        pad(w, long.len() as u64).await?;
    }
    if size >= 0o77777777777 {
        return Err(std::io::Error::other(
            "file too large for a tar header (8 GiB)",
        ));
    }
    let mut h = [0u8; 512];
    let n = name.as_bytes();
    let n = &n[..n.len().min(99)];
    h[..n.len()].copy_from_slice(n);
    let put = |h: &mut [u8; 512], at: usize, len: usize, v: u64| {
        let s = format!("{v:0width$o}", width = len - 1);
        h[at..at + len - 1].copy_from_slice(s.as_bytes());
    };
    put(&mut h, 100, 8, u64::from(mode));
    put(&mut h, 108, 8, 0);
    put(&mut h, 116, 8, 0);
    put(&mut h, 124, 12, size);
    put(&mut h, 136, 12, 0);
    h[156] = kind;
    h[257..265].copy_from_slice(b"ustar  \0");
    h[148..156].copy_from_slice(b"        ");
    let sum: u64 = h.iter().map(|b| u64::from(*b)).sum();
    let s = format!("{sum:06o}\0 ");
    h[148..156].copy_from_slice(s.as_bytes());
    w.write_all(&h).await
}

async fn pad<W: AsyncWrite + Unpin>(w: &mut W, size: u64) -> std::io::Result<()> {
    let rem = (512 - size % 512) % 512;
    w.write_all(&vec![0u8; rem as usize]).await
}

async fn tar_file<W: AsyncWrite + Unpin>(
    w: &mut W,
    name: &str,
    mode: u32,
    bytes: &[u8],
) -> std::io::Result<()> {
    tar_header(w, name, mode, bytes.len() as u64, b'0').await?;
    w.write_all(bytes).await?;
    pad(w, bytes.len() as u64).await
}

/// Streams the staging archive of `change` into `w`.
async fn write_archive<W: AsyncWrite + Unpin>(mut w: W, change: ChangeSet) -> std::io::Result<()> {
    let mut log = String::new();
    for f in &change.writes {
        log.push_str(&format!("W {}\n", f.target));
        let name = format!("files/{}", f.target);
        match &f.content {
            Content::Inline(bytes) => tar_file(&mut w, &name, f.mode, bytes).await?,
            Content::File(path) => {
                let mut file = tokio::fs::File::open(path).await?;
                let size = file.metadata().await?.len();
                tar_header(&mut w, &name, f.mode, size, b'0').await?;
                let mut buf = vec![0u8; 256 * 1024];
                let mut left = size;
                while left > 0 {
                    let n = file.read(&mut buf).await?;
                    if n == 0 {
                        return Err(std::io::Error::other(format!(
                            "{path} shrank while it was sent"
                        )));
                    }
                    let n = (n as u64).min(left);
                    w.write_all(&buf[..n as usize]).await?;
                    left -= n;
                }
                pad(&mut w, size).await?;
            }
        }
    }
    for r in &change.removes {
        log.push_str(&format!("R {r}\n"));
    }
    tar_file(&mut w, "log", 0o600, log.as_bytes()).await?;
    let record = serde_json::to_vec_pretty(&change.record).map_err(std::io::Error::other)?;
    tar_file(&mut w, "applied.json", 0o644, &record).await?;
    w.write_all(&[0u8; 1024]).await?;
    w.shutdown().await
}

fn remote_failure(out: &ssh::Output) -> String {
    let s = out.stderr_tail();
    s.lines()
        .filter_map(|l| l.strip_prefix("vsm: "))
        .next()
        .map_or(s.clone(), str::to_owned)
}

#[async_trait]
impl Transport for SshTransport {
    fn describe(&self) -> String {
        format!("ssh:{}:{}", self.target.destination(), self.base)
    }

    async fn read_applied(&self) -> Result<Option<AppliedRecord>, TransportError> {
        let out = ssh::run(&self.target, &self.script("read", None)).await?;
        if !out.success() {
            return Err(TransportError::Failed(format!(
                "reading the record on {} failed: {}",
                self.target.destination(),
                remote_failure(&out)
            )));
        }
        if out.stdout.iter().all(u8::is_ascii_whitespace) {
            return Ok(None);
        }
        serde_json::from_slice(&out.stdout)
            .map(Some)
            .map_err(|e| TransportError::BadRecord {
                path: format!(
                    "{}:{}/.vsm/applied.json",
                    self.target.destination(),
                    self.base
                ),
                reason: e.to_string(),
            })
    }

    async fn push(&self, change: &ChangeSet) -> Result<(), TransportError> {
        // Undo anything interrupted first, like the local transport.
        self.read_applied().await?;
        let st = self.staging(&change.txn);
        let (reader, writer) = tokio::io::duplex(1 << 20);
        let producer = tokio::spawn(write_archive(writer, change.clone()));
        let upload = ssh::upload_tar(&self.target, &st, reader).await;
        let produced = producer.await;
        let staged = match (upload, produced) {
            (Ok(()), Ok(Ok(()))) => Ok(()),
            (Err(e), _) => Err(TransportError::Ssh(e)),
            (_, Ok(Err(e))) => Err(TransportError::Io {
                action: "send",
                path: Utf8PathBuf::from(change.txn.clone()),
                source: e,
            }),
            (_, Err(e)) => Err(TransportError::Failed(format!(
                "the archive task failed: {e}"
            ))),
        };
        if let Err(e) = staged {
            let _ = ssh::remove_all(&self.target, &st).await;
            return Err(e);
        }
        let out = ssh::run(&self.target, &self.script("commit", Some(&change.txn))).await?;
        if out.success() {
            return Ok(());
        }
        let why = remote_failure(&out);
        if out.code == Some(3) {
            return Err(TransportError::RolledBack {
                step: why.clone(),
                source: Box::new(TransportError::Failed(out.stderr_tail())),
            });
        }
        Err(TransportError::Failed(format!(
            "committing on {} failed: {why}",
            self.target.destination()
        )))
    }

    async fn write_applied(&self, record: &AppliedRecord) -> Result<(), TransportError> {
        let bytes =
            serde_json::to_vec_pretty(record).map_err(|e| TransportError::Failed(e.to_string()))?;
        let path: Utf8PathBuf = self.base.join(".vsm/applied.json");
        ssh::write_file(&self.target, Utf8Path::new(path.as_str()), &bytes, 0o644).await?;
        Ok(())
    }

    async fn run(&self, command: &str, timeout: Duration) -> Result<CommandOutput, TransportError> {
        let line = format!(
            "cd {} && VSM_BASE=\"$PWD\" sh -c {}",
            shell_quote(self.base.as_str()),
            shell_quote(command)
        );
        let out = tokio::time::timeout(timeout, ssh::run(&self.target, &line))
            .await
            .map_err(|_| TransportError::Timeout(timeout))??;
        Ok(CommandOutput {
            code: out.code,
            stdout: out.stdout_text(),
            stderr: out.stderr_tail(),
        })
    }
}
