//! `GET /metrics`: the response cache's counters and tier sizes in Prometheus text format, and
//! the CDN purger's and the change stream's when they run.
//!
//! The counters live in the cache (`trigapi_cache::stats`); each scrape copies a snapshot into a
//! fresh Prometheus recorder and renders it, so nothing is installed process-wide.

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use metrics_exporter_prometheus::PrometheusBuilder;

use crate::routes::dashboard::Figures;
use crate::state::AppState;

/// Cache counters (`trigapi_cache_*_total`) and gauges, Prometheus text format.
#[utoipa::path(get, path = "/metrics", tag = "health",
    responses((status = 200, description = "Prometheus text exposition", content_type = "text/plain")))]
pub async fn metrics(State(app): State<AppState>) -> impl IntoResponse {
    let figures = Figures::read(&app, false).await;
    let stats = &figures.stats;
    let recorder = PrometheusBuilder::new().build_recorder();
    metrics::with_local_recorder(&recorder, || {
        for (name, value) in stats.counters.pairs() {
            metrics::counter!(format!("trigapi_cache_{name}_total")).absolute(value);
        }
        metrics::gauge!("trigapi_cache_local_entries").set(stats.local_entries as f64);
        metrics::gauge!("trigapi_cache_local_bytes").set(stats.local_bytes as f64);
        metrics::gauge!("trigapi_cache_local_max_bytes").set(stats.local_max_bytes as f64);
        metrics::gauge!("trigapi_cache_local_active").set(f64::from(u8::from(stats.local_active)));
        metrics::gauge!("trigapi_cache_redis_available").set(f64::from(u8::from(stats.redis_available)));
        metrics::gauge!("trigapi_cache_pending_invalidations").set(stats.pending_invalidations as f64);
        metrics::gauge!("trigapi_cache_front_door_routes").set(figures.front_door_routes as f64);
        metrics::gauge!("trigapi_writes_in_flight").set(figures.writes_in_flight as f64);
        for group in &stats.groups {
            for (outcome, n) in
                [("hit", group.hits), ("stale", group.stale), ("miss", group.misses), ("bypass", group.bypass)]
            {
                let labels = [("group", group.name.clone()), ("outcome", outcome.to_owned())];
                metrics::counter!("trigapi_cache_group_requests_total", &labels).absolute(n);
            }
        }
        for (name, value) in app.warm.counters() {
            metrics::counter!(format!("trigapi_cache_warm_{name}_total")).absolute(value);
        }
        metrics::gauge!("trigapi_cache_warm_running").set(f64::from(u8::from(app.warm.running())));
        let (done, planned) = app.warm.progress();
        metrics::gauge!("trigapi_cache_warm_done").set(done as f64);
        metrics::gauge!("trigapi_cache_warm_planned").set(planned as f64);
        metrics::gauge!("trigapi_cache_warm_last_seconds").set(app.warm.last_seconds());
        metrics::gauge!("trigapi_cache_eviction_may_drop_generations")
            .set(f64::from(u8::from(stats.eviction_may_drop_generations())));
        for (name, value) in app.cdn.iter().flat_map(|cdn| cdn.pairs()) {
            metrics::counter!(format!("trigapi_cdn_purge_{name}_total")).absolute(value);
        }
        if let Some(changes) = &app.changes {
            for (name, value) in changes.counters() {
                metrics::counter!(format!("trigapi_change_stream_{name}_total")).absolute(value);
            }
            metrics::gauge!("trigapi_change_stream_leading").set(f64::from(u8::from(changes.leading())));
            metrics::gauge!("trigapi_change_stream_lag_changes").set(changes.lag_changes() as f64);
            metrics::gauge!("trigapi_change_stream_lag_seconds").set(changes.lag_seconds());
            if let Some(bytes) = changes.slot_retained_bytes() {
                metrics::gauge!("trigapi_change_stream_slot_retained_bytes").set(bytes as f64);
            }
        }
    });
    let mut text = recorder.handle().render();
    latency_histograms(&mut text, &stats.groups);
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], text)
}

/// `trigapi_cache_group_seconds{group, outcome="hit"|"miss"}`: the cache's own latency
/// buckets, written out as they are (the exporter's histograms take single samples).
fn latency_histograms(text: &mut String, groups: &[trigapi_cache::GroupStats]) {
    use std::fmt::Write;
    const NAME: &str = "trigapi_cache_group_seconds";
    if groups.is_empty() {
        return;
    }
    let _ = writeln!(text, "# HELP {NAME} Time a response spent in the cache (a miss includes the computation).");
    let _ = writeln!(text, "# TYPE {NAME} histogram");
    for group in groups {
        for (outcome, latency) in [("hit", &group.hit_latency), ("miss", &group.miss_latency)] {
            let labels = format!("group=\"{}\",outcome=\"{outcome}\"", group.name.replace(['"', '\\', '\n'], "_"));
            for (le, n) in &latency.buckets {
                let le = if le.is_infinite() { "+Inf".to_owned() } else { le.to_string() };
                let _ = writeln!(text, "{NAME}_bucket{{{labels},le=\"{le}\"}} {n}");
            }
            let _ = writeln!(text, "{NAME}_sum{{{labels}}} {}", latency.sum_secs);
            let _ = writeln!(text, "{NAME}_count{{{labels}}} {}", latency.count());
        }
    }
}
