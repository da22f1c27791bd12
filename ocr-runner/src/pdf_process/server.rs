//! The child side: `pdfx-ocr-runner pdf-worker` reads requests on stdin and
//! answers on stdout (both ends of one socket), one request at a time.

use std::io::{BufReader, Write};
use std::os::fd::AsFd;
use std::os::unix::net::UnixStream;

use super::protocol::{ReadError, Request, Response, WireError, read_message, write_message};
use crate::decide::RenderSize;
use crate::pdf::{self, PdfError, PdfFile, Renderer};
use crate::pipeline::{Prepared, prepare_page};

/// Test hook (documented in the README): makes the worker misbehave so that
/// the tests can show what the runner does with a PDF that hangs pdfium.
/// `hang-open`, `hang-page=N`, `hang-forms-page=N` (only while drawing form
/// data), `crash-page=N`.
pub const FAULT_ENV: &str = "PDFX_PDF_WORKER_FAULT";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Fault {
    None,
    HangOpen,
    HangPage(u32),
    HangFormsPage(u32),
    CrashPage(u32),
}

fn fault() -> Fault {
    let Ok(value) = std::env::var(FAULT_ENV) else {
        return Fault::None;
    };
    let page = |prefix: &str| {
        value
            .strip_prefix(prefix)
            .and_then(|n| n.parse::<u32>().ok())
    };
    if value == "hang-open" {
        Fault::HangOpen
    } else if let Some(n) = page("hang-page=") {
        Fault::HangPage(n)
    } else if let Some(n) = page("hang-forms-page=") {
        Fault::HangFormsPage(n)
    } else if let Some(n) = page("crash-page=") {
        Fault::CrashPage(n)
    } else {
        Fault::None
    }
}

/// Stands in for pdfium looping forever: it never returns.
fn hang() -> ! {
    loop {
        std::thread::sleep(std::time::Duration::from_secs(3600));
    }
}

/// Serves requests from stdin until the parent closes it. Returns the exit code.
pub fn serve() -> i32 {
    let stdin = std::io::stdin();
    let stream = match stdin.as_fd().try_clone_to_owned() {
        Ok(fd) => UnixStream::from(fd),
        Err(e) => {
            eprintln!("pdf-worker: stdin is not usable: {e}");
            return 1;
        }
    };
    let mut out = match stream.try_clone() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("pdf-worker: {e}");
            return 1;
        }
    };
    let mut reader = BufReader::new(stream);
    let fault = fault();
    let mut file: Option<PdfFile> = None;
    let mut renderer = Renderer::default();
    let mut gray = Vec::new();
    loop {
        let request: Request = match read_message(&mut reader, None) {
            Ok(r) => r,
            Err(ReadError::Closed) => return 0,
            Err(e) => {
                eprintln!("pdf-worker: bad request: {e:?}");
                return 1;
            }
        };
        let written = match request {
            Request::Open {
                path,
                password,
                reopen_every,
            } => {
                if fault == Fault::HangOpen {
                    hang();
                }
                match PdfFile::open(&path, password.as_deref(), reopen_every) {
                    Ok(f) => {
                        let page_count = f.page_count();
                        file = Some(f);
                        write_message(&mut out, &Response::Opened { page_count })
                    }
                    Err(e) => write_message(&mut out, &Response::Error(WireError::from(&e))),
                }
            }
            Request::Prepare {
                page,
                mode,
                dpi,
                min_text_chars,
                max_pixels,
            } => {
                if fault == Fault::HangPage(page) {
                    hang();
                }
                if fault == Fault::CrashPage(page) {
                    std::process::abort();
                }
                let answer = with_file(&mut file, page, |p| {
                    prepare_page(p, page, mode, dpi, min_text_chars, max_pixels)
                });
                let response = match answer {
                    Ok(Prepared::Text(result)) => Response::Text {
                        text: result.text,
                        width: result.width_px,
                        height: result.height_px,
                    },
                    Ok(Prepared::Ocr(size)) => Response::NeedsOcr {
                        width: size.width,
                        height: size.height,
                        dpi: size.dpi,
                    },
                    Ok(Prepared::Failed(result)) => Response::Error(WireError {
                        kind: "page".into(),
                        message: result.error.map(|e| e.message).unwrap_or_default(),
                        page: Some(page),
                    }),
                    Err(e) => Response::Error(WireError::from(&e)),
                };
                write_message(&mut out, &response)
            }
            Request::Render {
                page,
                width,
                height,
                forms,
            } => {
                let size = RenderSize {
                    width,
                    height,
                    dpi: 0.0,
                };
                let answer = with_file(&mut file, page, |p| {
                    let forms = forms && pdf::forms_are_safe(p);
                    if forms && fault == Fault::HangFormsPage(page) {
                        hang();
                    }
                    renderer
                        .render_gray_with_forms(p, size, &mut gray, forms)
                        .map(|layout| (layout, forms))
                        .map_err(|e| PdfError::Page {
                            page,
                            message: format!("rendering failed: {e:?}"),
                        })
                });
                match answer {
                    Ok((layout, forms)) => write_message(
                        &mut out,
                        &Response::Image {
                            width: layout.width,
                            height: layout.height,
                            stride: layout.stride,
                            forms,
                        },
                    )
                    .and_then(|()| {
                        let len = layout.stride as usize * layout.height as usize;
                        out.write_all(&gray[..len.min(gray.len())])
                    }),
                    Err(e) => write_message(&mut out, &Response::Error(WireError::from(&e))),
                }
            }
        };
        if let Err(e) = written {
            // The parent went away (it killed us or gave up): nothing to answer.
            eprintln!("pdf-worker: writing an answer: {e}");
            return 0;
        }
    }
}

fn with_file<R>(
    file: &mut Option<PdfFile>,
    page: u32,
    f: impl FnOnce(&pdfium_render::prelude::PdfPage<'_>) -> Result<R, PdfError>,
) -> Result<R, PdfError> {
    let Some(file) = file.as_mut() else {
        return Err(PdfError::Page {
            page,
            message: "no document is open".into(),
        });
    };
    file.with_page(page, f)?
}
