//! Prometheus metrics (`--metrics-listen`): one process-wide set, counted where things happen and
//! served as Prometheus text. Every label takes a bounded set of values (a manifest route, an
//! HTTP status, a component id, a known close code); nothing carries a user id, a token, a
//! connection id or any other value a client chooses.

mod app_report;
mod server;

pub use app_report::record_app_report;
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
    /// A close code the protocol defines, or `other`.
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
    pub rate_limit_refusals: Counter,
    pub catch_up_rows: Histogram,
    pub app_closes: Family<CloseCode, Counter>,
}

impl Metrics {
    fn new() -> Self {
        let mut registry = Registry::with_prefix("sync_host");
        let metrics = Self {
            http_requests: Family::default(),
            http_request_duration: Family::new_with_constructor(latency),
            component_instantiations: Family::default(),
            component_instances_live: Gauge::default(),
            gateway_sockets_open: Gauge::default(),
            gateway_sockets_accepted: Counter::default(),
            gateway_app_calls: Family::default(),
            gateway_closes: Family::default(),
            gateway_publish_requests: Family::default(),
            gateway_published_items: Counter::default(),
            outbound_requests: Family::default(),
            sqlite_commits: Counter::default(),
            sqlite_flushes: Family::default(),
            sqlite_flush_batch: sizes(),
            rate_limit_refusals: Counter::default(),
            catch_up_rows: sizes(),
            app_closes: Family::default(),
            // Replaced below by the registry every metric is registered in.
            registry: Registry::default(),
        };
        let (m, r) = (&metrics, &mut registry);
        r.register(
            "http_requests",
            "HTTP trigger requests by route and status",
            m.http_requests.clone(),
        );
        r.register(
            "http_request_duration_seconds",
            "Time from request to response head, by route",
            m.http_request_duration.clone(),
        );
        r.register(
            "component_instantiations",
            "Component instances created, one per request",
            m.component_instantiations.clone(),
        );
        r.register(
            "component_instances_live",
            "Component instances alive at the scrape",
            m.component_instances_live.clone(),
        );
        r.register(
            "gateway_sockets_open",
            "Client WebSockets the embedded gateway holds",
            m.gateway_sockets_open.clone(),
        );
        r.register(
            "gateway_sockets_accepted",
            "Client WebSockets accepted",
            m.gateway_sockets_accepted.clone(),
        );
        r.register(
            "gateway_app_calls",
            "WebSocket-over-HTTP requests from the gateway to the app, by outcome",
            m.gateway_app_calls.clone(),
        );
        r.register(
            "gateway_closes",
            "Client WebSockets closed, by close code",
            m.gateway_closes.clone(),
        );
        r.register(
            "gateway_publish_requests",
            "Requests to the embedded gateway's publish endpoint, by outcome",
            m.gateway_publish_requests.clone(),
        );
        r.register(
            "gateway_published_items",
            "Items the publish endpoint accepted",
            m.gateway_published_items.clone(),
        );
        r.register(
            "outbound_requests",
            "Components' outbound HTTP requests (the app's publishes), by outcome",
            m.outbound_requests.clone(),
        );
        r.register(
            "sqlite_commits",
            "SQLite commits made by components",
            m.sqlite_commits.clone(),
        );
        r.register(
            "sqlite_flushes",
            "WAL flushes (fdatasync), by outcome",
            m.sqlite_flushes.clone(),
        );
        r.register(
            "sqlite_flush_batch_commits",
            "Commits made durable by one WAL flush",
            m.sqlite_flush_batch.clone(),
        );
        r.register(
            "rate_limit_refusals",
            "Frames and connections the app refused for exceeding the rate limit",
            m.rate_limit_refusals.clone(),
        );
        r.register(
            "catch_up_rows",
            "Changes sent in one catch-up",
            m.catch_up_rows.clone(),
        );
        r.register(
            "app_closes",
            "Connections the app closed, by close code",
            m.app_closes.clone(),
        );
        Self {
            registry,
            ..metrics
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

/// The label for a WebSocket close code: the protocol's codes by number, anything else `other`,
/// so a client sending arbitrary codes cannot create labels.
pub fn close_code(code: u16) -> &'static str {
    match code {
        1000 => "1000",
        1001 => "1001",
        1002 => "1002",
        1003 => "1003",
        1005 => "1005",
        1006 => "1006",
        1007 => "1007",
        1008 => "1008",
        1009 => "1009",
        1011 => "1011",
        4001 => "4001",
        4002 => "4002",
        _ => "other",
    }
}

#[cfg(test)]
mod tests;
