//! The console's one upload, a form's `multipart/form-data` body (the CSRF token, then the
//! chosen `.tar` file), read as it streams: the small fields before the file are collected,
//! and the file is handed on as a blocking [`Read`]er of its bytes alone, so that the
//! definition archive goes straight into the snapshot store as the API's raw upload does,
//! with memory bounded by a buffer whatever its size.
//!
//! Blocking code: call it from `spawn_blocking` (the body comes through
//! `http::upload::stream`'s reader).

use std::io::{self, Read};

/// The most bytes the fields before the file (and every part's headers) may take.
const FIELDS_LIMIT: usize = 16 * 1024;

/// How much is read from the body at a time.
const CHUNK: usize = 64 * 1024;

/// The boundary of a `multipart/form-data` content type, if it is one.
pub(crate) fn boundary(content_type: &str) -> Option<String> {
    let mut parts = content_type.split(';');
    let mime = parts.next()?.trim();
    if !mime.eq_ignore_ascii_case("multipart/form-data") {
        return None;
    }
    parts.find_map(|p| {
        let (k, v) = p.trim().split_once('=')?;
        if !k.trim().eq_ignore_ascii_case("boundary") {
            return None;
        }
        let v = v.trim().trim_matches('"');
        (!v.is_empty() && v.len() <= 70).then(|| v.to_owned())
    })
}

/// An upload, opened up to its first file.
pub(crate) struct Upload<R> {
    /// The text fields before the file, in order.
    pub(crate) fields: Vec<(String, String)>,
    /// The file's name as the browser gave it (empty when none was chosen).
    pub(crate) file_name: String,
    /// The file's bytes; `None` when the form holds no file part.
    pub(crate) file: Option<Parts<R>>,
}

impl<R> Upload<R> {
    /// The value of field `name`, if sent.
    pub(crate) fn field(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Reads `body` (a `multipart/form-data` body with `boundary`) up to the start of its first
/// file part's bytes.
pub(crate) fn open<R: Read>(body: R, boundary: &str) -> io::Result<Upload<R>> {
    let mut parts = Parts {
        inner: body,
        // The first delimiter has no line break before it: pretend it has.
        buf: b"\r\n".to_vec(),
        start: 0,
        eof: false,
        delim: format!("\r\n--{boundary}").into_bytes(),
        in_part: false,
        ready: 0,
        delim_next: false,
    };
    let mut fields = Vec::new();
    let mut used = 0usize;
    while let Some(head) = parts.next_part()? {
        match head.file_name {
            Some(file_name) => {
                return Ok(Upload {
                    fields,
                    file_name,
                    file: Some(parts),
                });
            }
            None => {
                let mut value = Vec::new();
                (&mut parts)
                    .take((FIELDS_LIMIT - used.min(FIELDS_LIMIT) + 1) as u64)
                    .read_to_end(&mut value)?;
                used += value.len() + head.name.len();
                if used > FIELDS_LIMIT {
                    return Err(bad("the form's fields are too large"));
                }
                let value = String::from_utf8(value).map_err(|_| bad("a field is not text"))?;
                fields.push((head.name, value));
            }
        }
    }
    Ok(Upload {
        fields,
        file_name: String::new(),
        file: None,
    })
}

fn bad(what: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("the upload is not a well-formed form: {what}"),
    )
}

/// A part's headers.
struct Head {
    name: String,
    file_name: Option<String>,
}

/// The parts of a multipart body; [`Read`] gives the current part's bytes, up to its end.
pub(crate) struct Parts<R> {
    inner: R,
    buf: Vec<u8>,
    start: usize,
    eof: bool,
    /// `\r\n--boundary`.
    delim: Vec<u8>,
    /// Whether a part's bytes are being read (`false`: at a delimiter).
    in_part: bool,
    /// How many bytes at the start of the buffer are known to be the part's.
    ready: usize,
    /// Whether a delimiter follows those bytes.
    delim_next: bool,
}

impl<R: Read> Parts<R> {
    fn avail(&self) -> &[u8] {
        &self.buf[self.start..]
    }

    /// Reads more of the body; `false` at its end.
    fn fill(&mut self) -> io::Result<bool> {
        if self.eof {
            return Ok(false);
        }
        if self.start > 0 {
            self.buf.drain(..self.start);
            self.start = 0;
        }
        let old = self.buf.len();
        self.buf.resize(old + CHUNK, 0);
        let n = loop {
            match self.inner.read(&mut self.buf[old..]) {
                Ok(n) => break n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    self.buf.truncate(old);
                    return Err(e);
                }
            }
        };
        self.buf.truncate(old + n);
        if n == 0 {
            self.eof = true;
        }
        Ok(n > 0)
    }

    /// Makes at least `n` bytes available; `false` when the body ends first.
    fn want(&mut self, n: usize) -> io::Result<bool> {
        while self.avail().len() < n {
            if !self.fill()? {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// Skips the rest of the current part and opens the next one; `None` after the last.
    fn next_part(&mut self) -> io::Result<Option<Head>> {
        if self.in_part {
            io::copy(self, &mut io::sink())?;
        }
        let dl = self.delim.len();
        if !self.want(dl + 2)? || !self.avail().starts_with(&self.delim) {
            return Err(bad("a part's boundary is missing"));
        }
        let after = &self.avail()[dl..dl + 2];
        if after == b"--" {
            return Ok(None);
        }
        if after != b"\r\n" {
            return Err(bad("a boundary line is followed by something else"));
        }
        self.start += dl + 2;
        // The headers, up to an empty line.
        let end = loop {
            if let Some(i) = find(self.avail(), b"\r\n\r\n") {
                break i;
            }
            if self.avail().len() > FIELDS_LIMIT {
                return Err(bad("a part's headers are too large"));
            }
            if !self.fill()? {
                return Err(bad("the body ends inside a part's headers"));
            }
        };
        let head = String::from_utf8_lossy(&self.avail()[..end]).into_owned();
        self.start += end + 4;
        self.in_part = true;
        self.ready = 0;
        self.delim_next = false;
        let disposition = head
            .split("\r\n")
            .find_map(|line| {
                let (k, v) = line.split_once(':')?;
                k.trim()
                    .eq_ignore_ascii_case("content-disposition")
                    .then_some(v)
            })
            .ok_or_else(|| bad("a part has no Content-Disposition"))?;
        let name = param(disposition, "name").ok_or_else(|| bad("a part has no name"))?;
        Ok(Some(Head {
            name,
            file_name: param(disposition, "filename"),
        }))
    }
}

/// A parameter of a `Content-Disposition` value (`name="x"`).
fn param(value: &str, key: &str) -> Option<String> {
    value.split(';').skip(1).find_map(|p| {
        let (k, v) = p.trim().split_once('=')?;
        if !k.trim().eq_ignore_ascii_case(key) {
            return None;
        }
        let v = v.trim();
        let v = v
            .strip_prefix('"')
            .and_then(|v| v.strip_suffix('"'))
            .unwrap_or(v);
        Some(v.replace("\\\"", "\""))
    })
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

impl<R: Read> Read for Parts<R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if !self.in_part || out.is_empty() {
            return Ok(0);
        }
        loop {
            if self.ready > 0 {
                let n = self.ready.min(out.len());
                out[..n].copy_from_slice(&self.avail()[..n]);
                self.start += n;
                self.ready -= n;
                return Ok(n);
            }
            if self.delim_next {
                self.delim_next = false;
                self.in_part = false;
                return Ok(0);
            }
            // Each byte is searched about once: what is known to be content is handed out
            // before the next search.
            match find(self.avail(), &self.delim) {
                Some(i) => {
                    self.ready = i;
                    self.delim_next = true;
                }
                // Whatever cannot be the start of a delimiter.
                None => self.ready = self.avail().len().saturating_sub(self.delim.len() - 1),
            }
            if self.ready == 0 && !self.delim_next && !self.fill()? {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "the upload ended before its file did",
                ));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A reader handing out `step` bytes at a time, to cut the body everywhere.
    struct Trickle<'a> {
        data: &'a [u8],
        step: usize,
    }

    impl Read for Trickle<'_> {
        fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
            let n = self.step.min(out.len()).min(self.data.len());
            out[..n].copy_from_slice(&self.data[..n]);
            self.data = &self.data[n..];
            Ok(n)
        }
    }

    fn body(boundary: &str, file: &[u8]) -> Vec<u8> {
        let mut b = Vec::new();
        b.extend_from_slice(
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"csrf\"\r\n\r\ntok123\r\n"
            )
            .as_bytes(),
        );
        b.extend_from_slice(format!("--{boundary}\r\nContent-Disposition: form-data; name=\"archive\"; filename=\"defs.tar\"\r\nContent-Type: application/x-tar\r\n\r\n").as_bytes());
        b.extend_from_slice(file);
        b.extend_from_slice(
            format!(
                "\r\n--{boundary}\r\nContent-Disposition: form-data; name=\"after\"\r\n\r\nx\r\n--{boundary}--\r\n"
            )
            .as_bytes(),
        );
        b
    }

    #[test]
    fn fields_then_the_file_alone_however_the_body_is_cut() {
        let boundary = "----WebKitFormBoundaryAbC123";
        // Bytes that look like the start of a delimiter, inside the file.
        let mut file = b"\r\n--".to_vec();
        file.extend_from_slice(b"\r\n------WebKitFormBoundaryAbC12");
        file.extend((0..200_000u32).map(|i| (i % 251) as u8));
        file.extend_from_slice(b"\r\n-");
        let data = body(boundary, &file);
        for step in [1, 7, 64, 4096, 1 << 20] {
            let up = open(Trickle { data: &data, step }, boundary).expect("open");
            assert_eq!(up.field("csrf"), Some("tok123"), "step {step}");
            assert_eq!(up.file_name, "defs.tar");
            let mut got = Vec::new();
            up.file.expect("file").read_to_end(&mut got).expect("read");
            assert!(
                got == file,
                "step {step}: {} bytes, want {}",
                got.len(),
                file.len()
            );
        }
    }

    #[test]
    fn refuses_what_is_not_a_form() {
        assert_eq!(
            boundary("multipart/form-data; boundary=\"abc\""),
            Some("abc".into())
        );
        assert_eq!(boundary("application/x-www-form-urlencoded"), None);
        assert_eq!(boundary("multipart/form-data"), None);
        let e = open(&b"csrf=abc"[..], "abc").err().expect("refused");
        assert_eq!(e.kind(), io::ErrorKind::InvalidData);
        // A form without a file.
        let up = open(
            &b"--b\r\nContent-Disposition: form-data; name=\"csrf\"\r\n\r\nt\r\n--b--\r\n"[..],
            "b",
        )
        .expect("open");
        assert_eq!(up.field("csrf"), Some("t"));
        assert!(up.file.is_none());
        // A body cut inside the file.
        let mut cut = body("b", b"0123456789");
        cut.truncate(cut.len() - 70);
        let up = open(&cut[..], "b").expect("open");
        let mut got = Vec::new();
        let e = up.file.expect("file").read_to_end(&mut got).err();
        assert!(e.is_some(), "{got:?}");
    }
}
