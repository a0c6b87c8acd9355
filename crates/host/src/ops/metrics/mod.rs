//! Prometheus metrics (`--metrics-listen`): one process-wide set, counted where things happen and
//! served as Prometheus text. Every label takes a bounded set of values (a manifest route, an
//! HTTP status, a component id, a known close code); nothing carries a user id, a token, a
//! connection id or any other value a client chooses.

pub mod app_metrics;
mod server;

use app_metrics::AppMetricLabels;
pub use server::serve;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use std::sync::LazyLock;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteStatus {
    /// The manifest route that matched (`/sync/ws`), or `unmatched`.
    pub route: String,
    pub status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct Route {
    pub route: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ComponentLabel {
    pub component: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct Outcome {
    pub outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CloseCode {
    /// A close code RFC 6455 defines, `4xxx`, or `other`.
    pub code: &'static str,
}

type HistogramFamily<L> = Family<L, Histogram, fn() -> Histogram>;

/// Seconds, from 0.1 ms to about 3.3 s.
fn latency() -> Histogram {
    Histogram::new(exponential_buckets(0.0001, 2.0, 16))
}

/// Counts, from 1 to 32,768.
fn sizes() -> Histogram {
    Histogram::new(exponential_buckets(1.0, 2.0, 16))
}

pub struct Metrics {
    registry: Registry,
    pub http_requests: Family<RouteStatus, Counter>,
    pub http_request_duration: HistogramFamily<Route>,
    pub component_instantiations: Family<ComponentLabel, Counter>,
    pub component_instances_live: Gauge,
    pub gateway_sockets_open: Gauge,
    pub gateway_sockets_accepted: Counter,
    pub gateway_app_calls: Family<Outcome, Counter>,
    pub gateway_closes: Family<CloseCode, Counter>,
    pub gateway_publish_requests: Family<Outcome, Counter>,
    pub gateway_published_items: Counter,
    pub outbound_requests: Family<Outcome, Counter>,
    pub sqlite_commits: Counter,
    pub sqlite_flushes: Family<Outcome, Counter>,
    pub sqlite_flush_batch: Histogram,
    pub app_counters: Family<AppMetricLabels, Counter>,
    pub app_histograms: HistogramFamily<AppMetricLabels>,
    pub app_metrics_dropped: Counter,
    pub reloads: Family<Outcome, Counter>,
    app_admitted: app_metrics::Admitted,
}

/// Registers `metric` under `name` and returns it.
fn registered<M>(registry: &mut Registry, name: &str, help: &str, metric: M) -> M
where
    M: prometheus_client::registry::Metric + Clone,
{
    registry.register(name, help, metric.clone());
    metric
}

impl Metrics {
    /// Every metric, each registered where it is declared: a list, one entry per metric, so it is
    /// as long as there are metrics.
    fn new() -> Self {
        let r = &mut Registry::with_prefix("sync_host");
        Self {
            http_requests: registered(
                r,
                "http_requests",
                "HTTP trigger requests by route and status",
                Family::default(),
            ),
            http_request_duration: registered(
                r,
                "http_request_duration_seconds",
                "Time from request to response head, by route",
                Family::new_with_constructor(latency),
            ),
            component_instantiations: registered(
                r,
                "component_instantiations",
                "Component instances created, one per request",
                Family::default(),
            ),
            component_instances_live: registered(
                r,
                "component_instances_live",
                "Component instances alive at the scrape",
                Gauge::default(),
            ),
            gateway_sockets_open: registered(
                r,
                "gateway_sockets_open",
                "Client WebSockets the embedded gateway holds",
                Gauge::default(),
            ),
            gateway_sockets_accepted: registered(
                r,
                "gateway_sockets_accepted",
                "Client WebSockets accepted",
                Counter::default(),
            ),
            gateway_app_calls: registered(
                r,
                "gateway_app_calls",
                "WebSocket-over-HTTP requests from the gateway to the app, by outcome",
                Family::default(),
            ),
            gateway_closes: registered(
                r,
                "gateway_closes",
                "Client WebSockets closed, by close code",
                Family::default(),
            ),
            gateway_publish_requests: registered(
                r,
                "gateway_publish_requests",
                "Requests to the embedded gateway's publish endpoint, by outcome",
                Family::default(),
            ),
            gateway_published_items: registered(
                r,
                "gateway_published_items",
                "Items the publish endpoint accepted",
                Counter::default(),
            ),
            outbound_requests: registered(
                r,
                "outbound_requests",
                "Components' outbound HTTP requests, by outcome",
                Family::default(),
            ),
            sqlite_commits: registered(
                r,
                "sqlite_commits",
                "SQLite commits made by components",
                Counter::default(),
            ),
            sqlite_flushes: registered(
                r,
                "sqlite_flushes",
                "WAL flushes (fdatasync), by outcome",
                Family::default(),
            ),
            sqlite_flush_batch: registered(
                r,
                "sqlite_flush_batch_commits",
                "Commits made durable by one WAL flush",
                sizes(),
            ),
            app_counters: registered(
                r,
                "app_counter",
                "Counters an app reports in its responses (x-app-metrics), by component and name",
                Family::default(),
            ),
            app_histograms: registered(
                r,
                "app_histogram",
                "Values an app reports in its responses (x-app-metrics), by component and name",
                Family::new_with_constructor(sizes),
            ),
            app_metrics_dropped: registered(
                r,
                "app_metrics_dropped",
                "App-reported entries dropped: malformed, or past the bound on names",
                Counter::default(),
            ),
            reloads: registered(
                r,
                "reloads",
                "App reloads (SIGHUP, --watch), by outcome: applied or refused",
                Family::default(),
            ),
            app_admitted: app_metrics::Admitted::default(),
            registry: std::mem::take(r),
        }
    }

    /// The Prometheus text exposition of every metric.
    pub fn encode(&self) -> String {
        let mut text = String::new();
        // Writing to a String cannot fail.
        let _ = prometheus_client::encoding::prometheus_text::encode(&mut text, &self.registry);
        text
    }
}

static METRICS: LazyLock<Metrics> = LazyLock::new(Metrics::new);

/// The process's metrics.
pub fn get() -> &'static Metrics {
    &METRICS
}

/// The label for a WebSocket close code: the codes RFC 6455 defines by number, an
/// application's own (4000–4999) as `4xxx`, anything else `other`, so a client sending arbitrary
/// codes cannot create labels. (An app that wants its codes apart reports them itself.)
pub fn close_code(code: u16) -> &'static str {
    const DEFINED: [&str; 15] = [
        "1000", "1001", "1002", "1003", "1004", "1005", "1006", "1007", "1008", "1009", "1010",
        "1011", "1012", "1013", "1014",
    ];
    match code {
        1000..=1014 => DEFINED[usize::from(code - 1000)],
        4000..=4999 => "4xxx",
        _ => "other",
    }
}

#[cfg(test)]
mod tests;
