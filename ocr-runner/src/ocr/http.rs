//! An external OCR server over HTTP (`--engine http`).
//!
//! The contract (also in the README): `POST <endpoint>?languages=kor+eng&dpi=300`
//! with the rendered page as an 8-bit grayscale PNG body (`Content-Type: image/png`).
//! The server answers `200` with JSON `{"text": "...", "confidence": 0.93,
//! "words": [{"text": "...", "bbox": [x0, y0, x1, y1], "confidence": 0.9}]}`;
//! `confidence` and `words` are optional, confidences are 0 to 1 and boxes are in
//! pixels of the PNG. `429` and `5xx` answers, timeouts and connection errors are
//! retried with exponential backoff; other `4xx` answers fail the page at once.

use std::time::Duration;

use pdfx_crd::result::Word;
use serde::Deserialize;

use super::{GrayImage, OcrEngine, OcrError, OcrOutput, mean_confidence, tidy_text};

/// Longest wait between two attempts, whatever the backoff or `Retry-After` says.
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// `Retry-After` in seconds (the HTTP-date form is rare for APIs and ignored).
fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    let value = headers.get(reqwest::header::RETRY_AFTER)?.to_str().ok()?;
    value.trim().parse::<u64>().ok().map(Duration::from_secs)
}

/// Up to +25% of the wait, so that workers that failed together do not retry in lockstep.
fn jitter(wait: Duration) -> Duration {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    wait + wait.mul_f64(f64::from(nanos % 1000) / 4000.0)
}

/// How the HTTP engine talks to its server.
#[derive(Clone, Debug)]
pub struct HttpOcrConfig {
    pub endpoint: url::Url,
    pub languages: Vec<String>,
    /// Per request, from connect to the end of the answer.
    pub timeout: Duration,
    /// Attempts per page, the first included.
    pub max_attempts: u32,
    /// Wait before the second attempt; doubled for each further one.
    pub initial_backoff: Duration,
}

impl HttpOcrConfig {
    pub fn new(endpoint: url::Url, languages: Vec<String>) -> Self {
        Self {
            endpoint,
            languages,
            timeout: Duration::from_secs(120),
            max_attempts: 5,
            initial_backoff: Duration::from_millis(500),
        }
    }
}

#[derive(Deserialize)]
struct ServerAnswer {
    text: String,
    #[serde(default)]
    confidence: Option<f32>,
    #[serde(default)]
    words: Vec<Word>,
}

/// One worker's connection to the OCR server. Workers are threads, so each
/// request runs to completion on the shared tokio runtime through `handle`.
pub struct HttpOcr {
    client: reqwest::Client,
    config: HttpOcrConfig,
    handle: tokio::runtime::Handle,
}

impl HttpOcr {
    pub fn new(config: HttpOcrConfig, handle: tokio::runtime::Handle) -> Result<Self, OcrError> {
        let client = reqwest::Client::builder()
            .timeout(config.timeout)
            .connect_timeout(config.timeout.min(Duration::from_secs(10)))
            .build()
            .map_err(|e| OcrError::Server {
                endpoint: config.endpoint.to_string(),
                message: e.to_string(),
            })?;
        Ok(Self {
            client,
            config,
            handle,
        })
    }

    async fn post_with_retries(
        &self,
        png: bytes::Bytes,
        dpi: f32,
    ) -> Result<ServerAnswer, OcrError> {
        let endpoint = self.config.endpoint.to_string();
        let mut url = self.config.endpoint.clone();
        url.query_pairs_mut()
            .append_pair("languages", &self.config.languages.join("+"))
            .append_pair("dpi", &format!("{}", dpi.round() as u32));
        let mut backoff = self.config.initial_backoff;
        let mut last = String::new();
        for attempt in 1..=self.config.max_attempts.max(1) {
            let mut wait = backoff;
            let sent = self
                .client
                .post(url.clone())
                .header(reqwest::header::CONTENT_TYPE, "image/png")
                .body(png.clone())
                .send()
                .await;
            match sent {
                Ok(response) if response.status().is_success() => {
                    // Reading the body can time out or break too: retried like the request.
                    match response.bytes().await {
                        Ok(body) => {
                            return serde_json::from_slice::<ServerAnswer>(&body).map_err(|e| {
                                OcrError::Server {
                                    endpoint: endpoint.clone(),
                                    message: format!("unreadable answer: {e}"),
                                }
                            });
                        }
                        Err(e) => last = format!("reading the answer: {}", e.without_url()),
                    }
                }
                Ok(response) => {
                    let status = response.status();
                    if let Some(after) = retry_after(response.headers()) {
                        wait = after.min(MAX_BACKOFF);
                    }
                    let body: String = response
                        .text()
                        .await
                        .unwrap_or_default()
                        .chars()
                        .take(200)
                        .collect();
                    last = format!("HTTP {status}: {body}");
                    if !(status.is_server_error()
                        || status == reqwest::StatusCode::TOO_MANY_REQUESTS)
                    {
                        return Err(OcrError::Rejected {
                            endpoint,
                            message: last,
                        });
                    }
                }
                Err(e) => {
                    last = if e.is_timeout() {
                        format!("timed out after {:?}", self.config.timeout)
                    } else {
                        e.without_url().to_string()
                    }
                }
            }
            tracing::warn!(attempt, error = %last, "OCR server request failed");
            if attempt < self.config.max_attempts {
                tokio::time::sleep(jitter(wait)).await;
                backoff = backoff.saturating_mul(2).min(MAX_BACKOFF);
            }
        }
        Err(OcrError::Server {
            endpoint,
            message: format!(
                "gave up after {} attempts: {last}",
                self.config.max_attempts
            ),
        })
    }
}

impl OcrEngine for HttpOcr {
    fn recognize(&mut self, image: &GrayImage<'_>) -> Result<OcrOutput, OcrError> {
        let png = encode_png(image).map_err(OcrError::Recognize)?;
        let answer = self
            .handle
            .block_on(self.post_with_retries(bytes::Bytes::from(png), image.dpi))?;
        let confidence = answer
            .confidence
            .map(|c| c.clamp(0.0, 1.0))
            .or_else(|| mean_confidence(&answer.words));
        Ok(OcrOutput {
            text: tidy_text(&answer.text),
            confidence,
            words: answer.words,
        })
    }
}

/// The page as an 8-bit grayscale PNG.
pub fn encode_png(image: &GrayImage<'_>) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    {
        let mut encoder = png::Encoder::new(&mut out, image.width, image.height);
        encoder.set_color(png::ColorType::Grayscale);
        encoder.set_depth(png::BitDepth::Eight);
        encoder.set_compression(png::Compression::Fast);
        let dpm = (image.dpi / 0.0254).round() as u32;
        encoder.set_pixel_dims(Some(png::PixelDimensions {
            xppu: dpm,
            yppu: dpm,
            unit: png::Unit::Meter,
        }));
        let mut writer = encoder.write_header().map_err(|e| e.to_string())?;
        let row = image.width as usize;
        let mut data = Vec::with_capacity(row * image.height as usize);
        for y in 0..image.height as usize {
            let start = y * image.stride as usize;
            data.extend_from_slice(
                image
                    .pixels
                    .get(start..start + row)
                    .ok_or("image buffer too small")?,
            );
        }
        writer.write_image_data(&data).map_err(|e| e.to_string())?;
    }
    Ok(out)
}
