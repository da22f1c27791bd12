//! Messages between the runner and its pdfium child: one JSON line each way,
//! a rendered page followed by its raw rows.

use std::io::{BufRead, Read, Write};
use std::path::PathBuf;
use std::time::Instant;

use pdfx_crd::OcrMode;
use serde::{Deserialize, Serialize};

use crate::pdf::PdfError;

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(tag = "op", rename_all = "kebab-case")]
pub enum Request {
    Open {
        path: PathBuf,
        password: Option<String>,
        reopen_every: u32,
    },
    /// Decide how to read a page; read its text layer if usable.
    Prepare {
        page: u32,
        mode: OcrMode,
        dpi: u32,
        min_text_chars: usize,
        max_pixels: u64,
    },
    Render {
        page: u32,
        width: u32,
        height: u32,
        /// Draw form data, if the page's form is safe to draw.
        forms: bool,
    },
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(tag = "reply", rename_all = "kebab-case")]
pub enum Response {
    Opened {
        page_count: u32,
    },
    Text {
        text: String,
        width: u32,
        height: u32,
    },
    NeedsOcr {
        width: u32,
        height: u32,
        dpi: f32,
    },
    /// Followed by `stride * height` bytes of gray rows.
    Image {
        width: u32,
        height: u32,
        stride: u32,
        /// Whether form data was drawn.
        forms: bool,
    },
    Error(WireError),
}

/// A [`PdfError`] as it crosses the socket.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct WireError {
    pub kind: String,
    pub message: String,
    #[serde(default)]
    pub page: Option<u32>,
}

impl From<&PdfError> for WireError {
    fn from(e: &PdfError) -> Self {
        let (kind, message, page) = match e {
            PdfError::Empty => ("empty", String::new(), None),
            PdfError::NotPdf => ("not-pdf", String::new(), None),
            PdfError::Encrypted => ("encrypted", String::new(), None),
            PdfError::Corrupt(m) => ("corrupt", m.clone(), None),
            PdfError::NoPages => ("no-pages", String::new(), None),
            PdfError::Page { page, message } => ("page", message.clone(), Some(*page)),
            PdfError::LibraryMissing(m) => ("library-missing", m.clone(), None),
            other => ("library", other.to_string(), None),
        };
        Self {
            kind: kind.into(),
            message,
            page,
        }
    }
}

impl From<WireError> for PdfError {
    fn from(e: WireError) -> Self {
        match e.kind.as_str() {
            "empty" => PdfError::Empty,
            "not-pdf" => PdfError::NotPdf,
            "encrypted" => PdfError::Encrypted,
            "corrupt" => PdfError::Corrupt(e.message),
            "no-pages" => PdfError::NoPages,
            "page" => PdfError::Page {
                page: e.page.unwrap_or(0),
                message: e.message,
            },
            "library-missing" => PdfError::LibraryMissing(e.message),
            _ => PdfError::Library(e.message),
        }
    }
}

/// Why reading an answer failed.
#[derive(Debug)]
pub enum ReadError {
    /// The deadline passed first.
    Timeout,
    /// The other side closed the socket (it exited or crashed).
    Closed,
    Io(std::io::Error),
    Garbled(String),
}

/// Writes one message as a JSON line.
pub fn write_message<T: Serialize>(out: &mut impl Write, message: &T) -> std::io::Result<()> {
    let mut line = serde_json::to_vec(message).map_err(std::io::Error::other)?;
    line.push(b'\n');
    out.write_all(&line)?;
    out.flush()
}

/// A socket whose reads can be bounded by a deadline.
pub trait Deadlined: Read {
    fn set_deadline(&mut self, deadline: Option<Instant>) -> Result<(), ReadError>;
}

impl Deadlined for std::os::unix::net::UnixStream {
    fn set_deadline(&mut self, deadline: Option<Instant>) -> Result<(), ReadError> {
        let timeout = match deadline {
            None => None,
            Some(at) => {
                let left = at.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    return Err(ReadError::Timeout);
                }
                Some(left)
            }
        };
        self.set_read_timeout(timeout).map_err(ReadError::Io)
    }
}

fn classify(e: std::io::Error) -> ReadError {
    match e.kind() {
        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut => ReadError::Timeout,
        std::io::ErrorKind::UnexpectedEof
        | std::io::ErrorKind::ConnectionReset
        | std::io::ErrorKind::BrokenPipe => ReadError::Closed,
        _ => ReadError::Io(e),
    }
}

/// Largest JSON line accepted (a page's text layer fits many times over).
pub const MAX_LINE: usize = 64 << 20;

/// Reads one JSON line before `deadline`.
pub fn read_message<T: for<'de> Deserialize<'de>, S: Deadlined>(
    reader: &mut std::io::BufReader<S>,
    deadline: Option<Instant>,
) -> Result<T, ReadError> {
    let mut line = Vec::new();
    loop {
        reader.get_mut().set_deadline(deadline)?;
        let available = match reader.fill_buf() {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(classify(e)),
        };
        if available.is_empty() {
            return Err(ReadError::Closed);
        }
        match available.iter().position(|&b| b == b'\n') {
            Some(end) => {
                line.extend_from_slice(&available[..end]);
                reader.consume(end + 1);
                break;
            }
            None => {
                let n = available.len();
                line.extend_from_slice(available);
                reader.consume(n);
                if line.len() > MAX_LINE {
                    return Err(ReadError::Garbled("message too long".into()));
                }
            }
        }
    }
    serde_json::from_slice(&line).map_err(|e| ReadError::Garbled(e.to_string()))
}

/// Reads exactly `out.len()` bytes before `deadline`.
pub fn read_payload<S: Deadlined>(
    reader: &mut std::io::BufReader<S>,
    out: &mut [u8],
    deadline: Option<Instant>,
) -> Result<(), ReadError> {
    let mut filled = 0;
    while filled < out.len() {
        reader.get_mut().set_deadline(deadline)?;
        match reader.read(&mut out[filled..]) {
            Ok(0) => return Err(ReadError::Closed),
            Ok(n) => filled += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(classify(e)),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::net::UnixStream;
    use std::time::Duration;

    #[test]
    fn messages_round_trip_and_reads_stop_at_the_deadline() {
        let (mut a, b) = UnixStream::pair().unwrap_or_else(|e| panic!("{e}"));
        let mut reader = std::io::BufReader::new(b);
        let sent = Request::Render {
            page: 3,
            width: 10,
            height: 20,
            forms: true,
        };
        write_message(&mut a, &sent).unwrap_or_else(|e| panic!("{e}"));
        a.write_all(&[7u8; 5]).unwrap_or_else(|e| panic!("{e}"));
        let got: Request = read_message(&mut reader, None).unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(got, sent);
        let mut payload = [0u8; 5];
        assert!(read_payload(&mut reader, &mut payload, None).is_ok());
        assert_eq!(payload, [7; 5]);

        let started = Instant::now();
        let deadline = Some(started + Duration::from_millis(200));
        let waited: Result<Response, _> = read_message(&mut reader, deadline);
        assert!(matches!(waited, Err(ReadError::Timeout)), "{waited:?}");
        assert!(started.elapsed() < Duration::from_secs(5));

        drop(a);
        let closed: Result<Response, _> = read_message(&mut reader, None);
        assert!(matches!(closed, Err(ReadError::Closed)), "{closed:?}");
    }

    #[test]
    fn errors_cross_the_socket_intact() {
        let e = PdfError::Page {
            page: 4,
            message: "bad".into(),
        };
        let back: PdfError = WireError::from(&e).into();
        assert!(matches!(back, PdfError::Page { page: 4, ref message } if message == "bad"));
        let back: PdfError = WireError::from(&PdfError::Encrypted).into();
        assert!(matches!(back, PdfError::Encrypted));
    }
}
