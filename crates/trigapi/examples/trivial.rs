//! The baseline for cache-hit benchmarks: a trivial axum handler that answers every request
//! with the bytes of one file, as `application/json`.
//!
//! `cargo run --release --example trivial -- BODY_FILE 127.0.0.1:8300`

use axum::Router;
use axum::http::header;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let (Some(file), Some(bind)) = (args.next(), args.next()) else {
        anyhow::bail!("usage: trivial BODY_FILE ADDR");
    };
    let body = bytes::Bytes::from(std::fs::read(file)?);
    let app = Router::new().fallback(move || {
        let body = body.clone();
        async move { ([(header::CONTENT_TYPE, "application/json")], body) }
    });
    axum::serve(tokio::net::TcpListener::bind(bind).await?, app).await?;
    Ok(())
}
