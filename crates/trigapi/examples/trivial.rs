//! The baseline for cache-hit benchmarks: a trivial axum handler that answers every request
//! with the bytes of one file, as `application/json`.
//!
//! `cargo run --release --example trivial -- BODY_FILE 127.0.0.1:8300 [--stack]`
//!
//! With `--stack` the handler runs behind the server's own middleware (panic catcher, request
//! span, request id; `trigapi::startup::with_middleware`), so a comparison measures what the
//! cache and the endpoint cost and nothing else; without it, bare axum.

use axum::Router;
use axum::http::header;
use trigapi::config::Config;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let (Some(file), Some(bind)) = (args.next(), args.next()) else {
        anyhow::bail!("usage: trivial BODY_FILE ADDR [--stack]");
    };
    let stack = args.next().as_deref() == Some("--stack");
    let body = bytes::Bytes::from(std::fs::read(file)?);
    let app = Router::new().fallback(move || {
        let body = body.clone();
        async move { ([(header::CONTENT_TYPE, "application/json")], body) }
    });
    let listener = tokio::net::TcpListener::bind(bind).await?;
    if stack {
        let app = trigapi::startup::with_middleware(app, &Config::default());
        axum::serve(listener, axum::ServiceExt::<axum::extract::Request>::into_make_service(app)).await?;
    } else {
        axum::serve(listener, app).await?;
    }
    Ok(())
}
