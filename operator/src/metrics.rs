//! Prometheus metrics of the operator, served at `/metrics`.

use prometheus::{
    Histogram, HistogramOpts, IntCounter, IntCounterVec, IntGauge, Opts, Registry, TextEncoder,
};

pub struct Metrics {
    pub registry: Registry,
    pub reconciles: IntCounter,
    pub reconcile_errors: IntCounterVec,
    pub controller_errors: IntCounter,
    pub reconcile_duration: Histogram,
    pub jobs_created: IntCounter,
    pub retries: IntCounter,
    pub oom_retries: IntCounter,
    pub running_jobs: IntGauge,
    pub queued: IntGauge,
    pub finished: IntCounterVec,
    pub extraction_duration: Histogram,
    pub attempts: Histogram,
}

/// Every metric name starts with this (`pdfx_operator_reconciles_total`).
pub const NAMESPACE: &str = "pdfx_operator";

fn opts(name: &str, help: &str) -> Opts {
    Opts::new(name, help).namespace(NAMESPACE)
}

fn histogram(name: &str, help: &str, buckets: Vec<f64>) -> HistogramOpts {
    HistogramOpts::new(name, help)
        .namespace(NAMESPACE)
        .buckets(buckets)
}

impl Metrics {
    /// The metrics in a registry of their own.
    pub fn new() -> Result<Self, prometheus::Error> {
        Self::registered_in(&Registry::new())
    }

    /// The metrics, registered in `registry` (e.g. the process's admin registry).
    pub fn registered_in(registry: &Registry) -> Result<Self, prometheus::Error> {
        let registry = registry.clone();
        let metrics = Self {
            reconciles: IntCounter::with_opts(opts("reconciles_total", "Reconciles started"))?,
            reconcile_errors: IntCounterVec::new(
                opts("reconcile_errors_total", "Failed reconciles by error kind"),
                &["kind"],
            )?,
            controller_errors: IntCounter::with_opts(opts(
                "controller_errors_total",
                "Errors of the controller machinery (watches, queue)",
            ))?,
            reconcile_duration: Histogram::with_opts(histogram(
                "reconcile_duration_seconds",
                "Time spent in one reconcile",
                vec![0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0],
            ))?,
            jobs_created: IntCounter::with_opts(opts(
                "jobs_created_total",
                "Jobs created (one per attempt)",
            ))?,
            retries: IntCounter::with_opts(opts(
                "retries_total",
                "Attempts after the first (OOM and transient retries)",
            ))?,
            oom_retries: IntCounter::with_opts(opts(
                "oom_retries_total",
                "Attempts started with more memory after an out-of-memory kill",
            ))?,
            running_jobs: IntGauge::with_opts(opts(
                "running_jobs",
                "Extractions holding a Job slot",
            ))?,
            queued: IntGauge::with_opts(opts("queue_depth", "Extractions waiting for a Job slot"))?,
            finished: IntCounterVec::new(
                opts(
                    "extractions_finished_total",
                    "Finished extractions by outcome (Succeeded or a failure reason)",
                ),
                &["outcome"],
            )?,
            extraction_duration: Histogram::with_opts(histogram(
                "extraction_duration_seconds",
                "From the first attempt's start to the outcome",
                vec![
                    1.0, 5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 900.0, 1800.0, 3600.0, 10800.0,
                ],
            ))?,
            attempts: Histogram::with_opts(histogram(
                "attempts_per_extraction",
                "Attempts a finished extraction took",
                vec![1.0, 2.0, 3.0, 4.0, 5.0, 8.0],
            ))?,
            registry,
        };
        let r = &metrics.registry;
        r.register(Box::new(metrics.reconciles.clone()))?;
        r.register(Box::new(metrics.reconcile_errors.clone()))?;
        r.register(Box::new(metrics.controller_errors.clone()))?;
        r.register(Box::new(metrics.reconcile_duration.clone()))?;
        r.register(Box::new(metrics.jobs_created.clone()))?;
        r.register(Box::new(metrics.retries.clone()))?;
        r.register(Box::new(metrics.oom_retries.clone()))?;
        r.register(Box::new(metrics.running_jobs.clone()))?;
        r.register(Box::new(metrics.queued.clone()))?;
        r.register(Box::new(metrics.finished.clone()))?;
        r.register(Box::new(metrics.extraction_duration.clone()))?;
        r.register(Box::new(metrics.attempts.clone()))?;
        Ok(metrics)
    }

    /// The Prometheus text exposition of every metric.
    pub fn render(&self) -> String {
        TextEncoder::new()
            .encode_to_string(&self.registry.gather())
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metrics_render_with_their_prefix() {
        let metrics = Metrics::new().unwrap_or_else(|e| panic!("{e}"));
        metrics.finished.with_label_values(&["OOMKilled"]).inc();
        let text = metrics.render();
        assert!(
            text.contains("pdfx_operator_extractions_finished_total{outcome=\"OOMKilled\"} 1"),
            "{text}"
        );
        assert!(text.contains("pdfx_operator_queue_depth 0"));
    }
}
