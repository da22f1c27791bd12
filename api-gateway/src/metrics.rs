//! The gateway's Prometheus metrics, registered in the process's Admin
//! registry (served at `/metrics` beside the API).

use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use prometheus::{HistogramOpts, HistogramVec, IntCounter, IntCounterVec, Opts, Registry};

use crate::state::AppState;

#[derive(Clone, Debug)]
pub struct Metrics {
    pub requests: IntCounterVec,
    pub latency: HistogramVec,
    pub upload_bytes: IntCounter,
    pub uploads: IntCounterVec,
    pub orphans_deleted: IntCounter,
}

impl Metrics {
    pub fn registered_in(registry: &Registry) -> Result<Self, prometheus::Error> {
        let requests = IntCounterVec::new(
            Opts::new(
                "pdfx_gateway_requests_total",
                "HTTP requests by route and status",
            ),
            &["route", "status"],
        )?;
        let latency = HistogramVec::new(
            HistogramOpts::new(
                "pdfx_gateway_request_duration_seconds",
                "Time to the response head, by route",
            )
            .buckets(vec![
                0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
                10.0, 30.0, 60.0,
            ]),
            &["route"],
        )?;
        let upload_bytes = IntCounter::new(
            "pdfx_gateway_upload_bytes_total",
            "Bytes of uploads received",
        )?;
        let uploads = IntCounterVec::new(
            Opts::new("pdfx_gateway_uploads_total", "Uploads by outcome"),
            &["outcome"],
        )?;
        let orphans_deleted = IntCounter::new(
            "pdfx_gateway_orphan_uploads_deleted_total",
            "Uploads deleted by the sweep because no PdfExtraction refers to them",
        )?;
        registry.register(Box::new(requests.clone()))?;
        registry.register(Box::new(latency.clone()))?;
        registry.register(Box::new(upload_bytes.clone()))?;
        registry.register(Box::new(uploads.clone()))?;
        registry.register(Box::new(orphans_deleted.clone()))?;
        Ok(Self {
            requests,
            latency,
            upload_bytes,
            uploads,
            orphans_deleted,
        })
    }
}

/// Counts and times every API request by its route template (never the raw
/// path: task ids would make the label set unbounded).
pub async fn track(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or("unmatched", |p| p.as_str())
        .to_owned();
    let started = Instant::now();
    let response = next.run(request).await;
    let metrics = state.metrics();
    metrics
        .latency
        .with_label_values(&[route.as_str()])
        .observe(started.elapsed().as_secs_f64());
    metrics
        .requests
        .with_label_values(&[route.as_str(), response.status().as_str()])
        .inc();
    response
}
