//! Prometheus metrics in the text exposition format.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::catalog::CopyBacklog;
use crate::engine::Twinstore;

/// Counters of the HTTP surface.
#[derive(Debug, Default)]
pub struct HttpMetrics {
    /// Requests by route template, method and status.
    requests: Mutex<BTreeMap<(String, String, u16), u64>>,
    bytes_in: AtomicU64,
    bytes_out: AtomicU64,
}

impl HttpMetrics {
    /// Counts one request.
    pub fn record(&self, route: &str, method: &str, status: u16, bytes_in: u64, bytes_out: u64) {
        let mut requests = self.requests.lock().expect("metrics lock poisoned");
        *requests.entry((route.to_owned(), method.to_owned(), status)).or_default() += 1;
        self.bytes_in.fetch_add(bytes_in, Ordering::Relaxed);
        self.bytes_out.fetch_add(bytes_out, Ordering::Relaxed);
    }

    /// Counts bytes sent in a streamed response body.
    pub fn add_bytes_out(&self, bytes: u64) {
        self.bytes_out.fetch_add(bytes, Ordering::Relaxed);
    }

    /// Counts bytes received in a streamed request body.
    pub fn add_bytes_in(&self, bytes: u64) {
        self.bytes_in.fetch_add(bytes, Ordering::Relaxed);
    }

    /// Renders every metric: HTTP requests and bytes, store operations, copies.
    pub fn render(&self, twinstore: &Twinstore, copies: &CopyBacklog) -> String {
        let mut out = String::new();
        header(&mut out, "twinstore_http_requests_total", "counter", "HTTP requests.");
        for ((route, method, status), count) in self.requests.lock().expect("poisoned").iter() {
            let labels = format!(r#"route="{route}",method="{method}",status="{status}""#);
            let _ = writeln!(out, "twinstore_http_requests_total{{{labels}}} {count}");
        }
        header(&mut out, "twinstore_http_bytes_total", "counter", "Bytes of HTTP bodies.");
        let (bytes_in, bytes_out) =
            (self.bytes_in.load(Ordering::Relaxed), self.bytes_out.load(Ordering::Relaxed));
        let _ = writeln!(out, r#"twinstore_http_bytes_total{{direction="in"}} {bytes_in}"#);
        let _ = writeln!(out, r#"twinstore_http_bytes_total{{direction="out"}} {bytes_out}"#);

        store_metrics(&mut out, twinstore);

        header(&mut out, "twinstore_copies", "gauge", "Copies of originals by state.");
        for (state, count) in [
            ("stored", copies.stored),
            ("pending", copies.pending),
            ("failed", copies.failed),
            ("deleted", copies.deleted),
        ] {
            let _ = writeln!(out, r#"twinstore_copies{{state="{state}"}} {count}"#);
        }
        out
    }
}

fn store_metrics(out: &mut String, twinstore: &Twinstore) {
    let help = "Calls to stores, by store and operation.";
    header(out, "twinstore_store_operations_total", "counter", help);
    for (store, meter) in twinstore.store_meters() {
        for op in meter.operations() {
            let labels = format!(r#"store="{store}",operation="{}""#, op.operation);
            let _ = writeln!(out, "twinstore_store_operations_total{{{labels}}} {}", op.calls);
        }
    }
    header(out, "twinstore_store_errors_total", "counter", "Failed calls to stores.");
    for (store, meter) in twinstore.store_meters() {
        for op in meter.operations() {
            let labels = format!(r#"store="{store}",operation="{}""#, op.operation);
            let _ = writeln!(out, "twinstore_store_errors_total{{{labels}}} {}", op.errors);
        }
    }
    let help = "Time spent waiting for stores to answer, in seconds.";
    header(out, "twinstore_store_latency_seconds_total", "counter", help);
    for (store, meter) in twinstore.store_meters() {
        for op in meter.operations() {
            let labels = format!(r#"store="{store}",operation="{}""#, op.operation);
            let _ =
                writeln!(out, "twinstore_store_latency_seconds_total{{{labels}}} {}", op.seconds);
        }
    }
    header(out, "twinstore_store_bytes_total", "counter", "Bytes moved to and from stores.");
    for (store, meter) in twinstore.store_meters() {
        let totals = meter.totals();
        let _ = writeln!(
            out,
            r#"twinstore_store_bytes_total{{store="{store}",direction="written"}} {}"#,
            totals.bytes_written
        );
        let _ = writeln!(
            out,
            r#"twinstore_store_bytes_total{{store="{store}",direction="read"}} {}"#,
            totals.bytes_read
        );
    }
}

fn header(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}
