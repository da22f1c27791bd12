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

impl Metrics {
    pub fn new() -> Result<Self, prometheus::Error> {
        let registry = Registry::new_custom(Some("pdfx_operator".into()), None)?;
        let metrics = Self {
            reconciles: IntCounter::new("reconciles_total", "Reconciles started")?,
            reconcile_errors: IntCounterVec::new(
                Opts::new("reconcile_errors_total", "Failed reconciles by error kind"),
                &["kind"],
            )?,
            controller_errors: IntCounter::new(
                "controller_errors_total",
                "Errors of the controller machinery (watches, queue)",
            )?,
            reconcile_duration: Histogram::with_opts(
                HistogramOpts::new("reconcile_duration_seconds", "Time spent in one reconcile")
                    .buckets(vec![0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0]),
            )?,
            jobs_created: IntCounter::new("jobs_created_total", "Jobs created (one per attempt)")?,
            retries: IntCounter::new(
                "retries_total",
                "Attempts after the first (OOM and transient retries)",
            )?,
            oom_retries: IntCounter::new(
                "oom_retries_total",
                "Attempts started with more memory after an out-of-memory kill",
            )?,
            running_jobs: IntGauge::new("running_jobs", "Extractions holding a Job slot")?,
            queued: IntGauge::new("queue_depth", "Extractions waiting for a Job slot")?,
            finished: IntCounterVec::new(
                Opts::new(
                    "extractions_finished_total",
                    "Finished extractions by outcome (Succeeded or a failure reason)",
                ),
                &["outcome"],
            )?,
            extraction_duration: Histogram::with_opts(
                HistogramOpts::new(
                    "extraction_duration_seconds",
                    "From the first attempt's start to the outcome",
                )
                .buckets(vec![
                    1.0, 5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 900.0, 1800.0, 3600.0, 10800.0,
                ]),
            )?,
            attempts: Histogram::with_opts(
                HistogramOpts::new(
                    "attempts_per_extraction",
                    "Attempts a finished extraction took",
                )
                .buckets(vec![1.0, 2.0, 3.0, 4.0, 5.0, 8.0]),
            )?,
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
