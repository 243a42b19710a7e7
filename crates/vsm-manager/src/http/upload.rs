//! Bodies streamed to and from blocking code through small bounded channels, so that memory
//! stays bounded (a few chunks) whatever the size:
//! - an upload as a blocking [`Read`]er ([`stream`], for the snapshot store's tar import): a
//!   task pumps the body's chunks; the reader fails once more than the limit arrived or the
//!   connection broke;
//! - a response body written by a blocking [`Write`]r ([`writer_body`], for exports).

use std::io::{self, Read, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::body::{Body, Bytes};
use futures::StreamExt;
use tokio::sync::mpsc;

use super::error::ApiError;

/// Chunks in flight between the connection and the reader.
const CHUNKS: usize = 8;

/// How long the rest of an upload is read (and dropped) after the answer is known.
const DRAIN: std::time::Duration = std::time::Duration::from_secs(10);

/// The answer to an upload larger than `limit` bytes (413).
pub(crate) fn too_large(limit: u64) -> ApiError {
    ApiError::new(
        crate::ErrorKind::InvalidData,
        format!("the definition archive is larger than {limit} bytes"),
    )
    .with_status(413)
    .with_hint("remove large files the servers do not need from the definition directory")
}

/// Reads the chunks the pump sends; blocking (never call it on an async task).
pub(crate) struct BodyReader {
    rx: mpsc::Receiver<io::Result<Bytes>>,
    current: Bytes,
}

impl Read for BodyReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.current.is_empty() {
            match self.rx.blocking_recv() {
                Some(Ok(chunk)) => self.current = chunk,
                Some(Err(e)) => return Err(e),
                None => return Ok(0),
            }
        }
        let n = buf.len().min(self.current.len());
        buf[..n].copy_from_slice(&self.current[..n]);
        let _ = self.current.split_to(n);
        Ok(n)
    }
}

/// The task feeding a [`BodyReader`].
pub(crate) struct Pump {
    task: Option<tokio::task::JoinHandle<()>>,
    over: Arc<AtomicBool>,
}

impl Pump {
    /// Whether the upload went past the limit (the reader then failed).
    pub(crate) fn over_limit(&self) -> bool {
        self.over.load(Ordering::SeqCst)
    }

    /// Waits until the rest of the body was read (and dropped; for at most [`DRAIN`] once the
    /// reader is done).
    pub(crate) async fn finish(mut self) {
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for Pump {
    fn drop(&mut self) {
        if let Some(task) = &self.task {
            task.abort();
        }
    }
}

/// Starts pumping `body` (at most `limit` bytes) into a reader.
pub(crate) fn stream(body: Body, limit: u64) -> (BodyReader, Pump) {
    let (tx, rx) = mpsc::channel(CHUNKS);
    let over = Arc::new(AtomicBool::new(false));
    let flag = over.clone();
    let task = tokio::spawn(async move {
        let mut stream = body.into_data_stream();
        let mut total = 0u64;
        // Once the reader is done (it read the archive's end, or gave up) or the limit is
        // passed, the rest is read and dropped for a while, so that the client gets to read
        // the answer instead of a connection closed under its upload.
        let mut draining_since: Option<tokio::time::Instant> = None;
        while let Some(chunk) = stream.next().await {
            if let Some(since) = draining_since {
                if since.elapsed() > DRAIN || chunk.is_err() {
                    return;
                }
                continue;
            }
            let item = match chunk {
                Ok(chunk) => {
                    total += chunk.len() as u64;
                    if total > limit {
                        flag.store(true, Ordering::SeqCst);
                        let _ = tx
                            .send(Err(io::Error::other(format!(
                                "the upload is larger than {limit} bytes"
                            ))))
                            .await;
                        draining_since = Some(tokio::time::Instant::now());
                        continue;
                    }
                    Ok(chunk)
                }
                Err(e) => Err(io::Error::other(format!("the upload broke off: {e}"))),
            };
            let failed = item.is_err();
            if tx.send(item).await.is_err() {
                draining_since = Some(tokio::time::Instant::now());
            }
            if failed {
                return;
            }
        }
    });
    (
        BodyReader {
            rx,
            current: Bytes::new(),
        },
        Pump {
            task: Some(task),
            over,
        },
    )
}

/// Bytes gathered before a chunk is sent.
const CHUNK_BYTES: usize = 64 * 1024;

/// Sends what is written as chunks of a response body; fails with `BrokenPipe` once the client
/// is gone.
struct BodyWriter {
    tx: mpsc::Sender<io::Result<Bytes>>,
    buf: Vec<u8>,
}

impl BodyWriter {
    fn send(&mut self) -> io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let chunk = Bytes::from(std::mem::replace(
            &mut self.buf,
            Vec::with_capacity(CHUNK_BYTES),
        ));
        self.tx
            .blocking_send(Ok(chunk))
            .map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "the client went away"))
    }
}

impl Write for BodyWriter {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        let n = data.len().min(CHUNK_BYTES - self.buf.len());
        self.buf.extend_from_slice(&data[..n]);
        if self.buf.len() >= CHUNK_BYTES {
            self.send()?;
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.send()
    }
}

/// A response body that `write` produces on a blocking thread. When `write` fails, the body
/// ends with an error (the client sees a broken download, never a short one taken for whole);
/// the message is logged.
pub(crate) fn writer_body(
    write: impl FnOnce(&mut dyn Write) -> Result<(), String> + Send + 'static,
) -> Body {
    let (tx, rx) = mpsc::channel::<io::Result<Bytes>>(CHUNKS);
    tokio::task::spawn_blocking(move || {
        let mut w = BodyWriter {
            tx: tx.clone(),
            buf: Vec::with_capacity(CHUNK_BYTES),
        };
        let result = write(&mut w).and_then(|()| w.flush().map_err(|e| e.to_string()));
        if let Err(message) = result {
            tracing::warn!(error = %message, "a streamed response failed");
            let _ = tx.blocking_send(Err(io::Error::other(message)));
        }
    });
    Body::from_stream(tokio_stream_from(rx))
}

fn tokio_stream_from(
    rx: mpsc::Receiver<io::Result<Bytes>>,
) -> impl futures::Stream<Item = io::Result<Bytes>> {
    futures::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body_of(chunks: Vec<io::Result<Bytes>>) -> Body {
        Body::from_stream(futures::stream::iter(chunks))
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn reads_every_chunk_in_order_and_stops_past_the_limit() {
        let chunks: Vec<io::Result<Bytes>> =
            (0..100u8).map(|i| Ok(Bytes::from(vec![i; 1000]))).collect();
        let (mut reader, pump) = stream(body_of(chunks), 1_000_000);
        let got = tokio::task::spawn_blocking(move || {
            let mut all = Vec::new();
            reader.read_to_end(&mut all).map(|_| all)
        })
        .await
        .expect("join")
        .expect("read");
        assert_eq!(got.len(), 100_000);
        assert!(got[..1000].iter().all(|b| *b == 0) && got[99_000..].iter().all(|b| *b == 99));
        assert!(!pump.over_limit());
        pump.finish().await;

        let chunks: Vec<io::Result<Bytes>> =
            (0..100u8).map(|_| Ok(Bytes::from(vec![7; 1000]))).collect();
        let (mut reader, pump) = stream(body_of(chunks), 50_500);
        let err = tokio::task::spawn_blocking(move || {
            let mut all = Vec::new();
            reader.read_to_end(&mut all).map(|_| all.len())
        })
        .await
        .expect("join")
        .expect_err("over the limit");
        assert!(err.to_string().contains("larger than 50500 bytes"), "{err}");
        assert!(pump.over_limit());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_written_body_arrives_whole_or_ends_in_an_error() {
        let body = writer_body(|w| {
            for i in 0..200u32 {
                w.write_all(&[u8::try_from(i % 256).unwrap_or(0); 1000])
                    .map_err(|e| e.to_string())?;
            }
            Ok(())
        });
        let got = axum::body::to_bytes(body, usize::MAX).await.expect("body");
        assert_eq!(got.len(), 200_000);
        assert!(got[199_000..].iter().all(|b| *b == 199));

        let body = writer_body(|w| {
            w.write_all(&[1; 100_000]).map_err(|e| e.to_string())?;
            Err("blob damaged".to_owned())
        });
        let err = axum::body::to_bytes(body, usize::MAX)
            .await
            .expect_err("an error, not a short body");
        assert!(
            err.to_string().contains("blob damaged") || format!("{err:?}").contains("blob damaged"),
            "{err:?}"
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_broken_upload_fails_the_reader() {
        let chunks = vec![
            Ok(Bytes::from_static(b"abc")),
            Err(io::Error::other("connection reset")),
        ];
        let (mut reader, pump) = stream(body_of(chunks), 1000);
        let err = tokio::task::spawn_blocking(move || {
            let mut all = Vec::new();
            reader.read_to_end(&mut all).map(|_| all.len())
        })
        .await
        .expect("join")
        .expect_err("broken");
        assert!(err.to_string().contains("broke off"), "{err}");
        assert!(!pump.over_limit());
    }
}
