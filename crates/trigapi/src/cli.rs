//! Command line: `trigapi [serve]`, `trigapi migrate`, `trigapi seed [--scale demo|full]`,
//! `trigapi import places|postcodes FILE`, `trigapi token --user N [--scope S] [--ttl 1h]`,
//! `trigapi cache stats|flush [PATTERN]|warm [--top N]|explain URL`.

use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand, ValueEnum};

use crate::auth;
use crate::config::{Config, Secret};
use crate::db::{self, Db};
use crate::gazetteer::{self, Dataset};
use crate::seed::{self, Scale};
use crate::startup::{App, Application, build_router, shutdown_signal};
use crate::state::AppState;
use crate::telemetry;

#[derive(Debug, Parser)]
#[command(name = "trigapi", version, about = "The TrigpointingUK API server")]
pub struct Cli {
    /// TOML configuration file (default: ./trigapi.toml if it exists).
    #[arg(long, global = true, env = "TRIGAPI_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the HTTP server (the default).
    Serve {
        /// Listen address (overrides BIND_ADDR).
        #[arg(long)]
        bind: Option<String>,
        /// Run migrations first, also on PostgreSQL/MySQL.
        #[arg(long)]
        migrate: bool,
    },
    /// Create the legacy tables (if missing) and the read indexes.
    Migrate,
    /// Print an HS256 bearer token for a user, signed with JWT_HS256_SECRET.
    Token {
        /// The user id (`sub`).
        #[arg(long)]
        user: i32,
        /// A scope to grant (repeatable); `api:write` is always granted.
        #[arg(long)]
        scope: Vec<String>,
        /// Lifetime: `90s`, `30m`, `1h`, `7d`.
        #[arg(long, default_value = "1h")]
        ttl: String,
    },
    /// Load a full places or postcodes dataset (OS Open Names; ONS NSPL or OS Code-Point
    /// Open; gzipped or not, a file or a directory of them). Rows already there are updated,
    /// so a load can be run again.
    Import {
        #[arg(value_enum)]
        dataset: DatasetArg,
        /// The file, or a directory of `.csv`/`.csv.gz` files.
        file: PathBuf,
    },
    /// Load the real trig points and generate synthetic users, logs and photos; load the
    /// vendored places and postcode areas.
    Seed {
        #[arg(long, value_enum, default_value_t = ScaleArg::Demo)]
        scale: ScaleArg,
        /// Delete existing rows first (otherwise a non-empty database is refused).
        #[arg(long)]
        reset: bool,
    },
    /// Look at or flush the shared response cache in Redis, without a running server.
    Cache {
        #[command(subcommand)]
        action: CacheAction,
    },
}

#[derive(Debug, Subcommand)]
enum CacheAction {
    /// Redis's figures and this deployment's keys, as JSON (`/v1/admin/cache/stats`; the
    /// counters are this command's own, so zero: a server's are at its `/metrics`).
    Stats,
    /// Invalidate every entry of this deployment, or those PATTERN names: `trig:123:*`,
    /// `trigs:list:*`, `*`, or one exact key. Running servers hear of it at once.
    Flush { pattern: Option<String> },
    /// Recompute the hottest entries (the servers' sampled record of the requests asked for
    /// most), hottest first, throttled by CACHE_WARM_CONCURRENCY and CACHE_WARM_RATE.
    Warm {
        /// How many of the hottest requests (default: CACHE_WARM_TOP).
        #[arg(long)]
        top: Option<usize>,
    },
    /// Show the entry a request maps to: its key, tags and TTL, the tags' generations now,
    /// whether Redis holds it and how old it is, and which writes invalidate it.
    Explain {
        /// The request: `/v1/trigs/1?include=stats`, or a whole URL.
        url: String,
        /// A bearer token to send with it (for a caller's own entries, such as
        /// `/v1/trigs?exclude_found=true`).
        #[arg(long)]
        bearer: Option<String>,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum DatasetArg {
    Places,
    Postcodes,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum ScaleArg {
    Demo,
    Full,
}

pub async fn run() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let mut config = Config::load(cli.config.as_deref()).context("loading configuration")?;
    telemetry::init(config.server.log_format);
    match cli.command.unwrap_or(Command::Serve { bind: None, migrate: false }) {
        Command::Serve { bind, migrate } => {
            if let Some(bind) = bind {
                config.server.bind_addr = bind;
            }
            config.database.auto_migrate |= migrate;
            Application::build(config).await?.run_until_stopped(shutdown_signal()).await
        }
        Command::Token { user, scope, ttl } => {
            let ttl = auth::parse_ttl(&ttl).context("--ttl: use a number with s, m, h or d, e.g. 1h")?;
            let mut scopes = vec!["api:write".to_owned()];
            scopes.extend(scope.into_iter().filter(|s| s != "api:write"));
            let secret = config.auth.jwt_hs256_secret.as_ref().map(Secret::expose).unwrap_or_default();
            let token = auth::mint(secret, user, &scopes, ttl).context("minting a token (is JWT_HS256_SECRET set?)")?;
            println!("{token}");
            Ok(())
        }
        Command::Migrate => {
            let db = connect(&config).await?;
            db::migrate::run(&db).await.context("running migrations")?;
            eprintln!("migrations applied ({})", db.backend().name());
            Ok(())
        }
        Command::Seed { scale, reset } => {
            let db = connect(&config).await?;
            db::migrate::run(&db).await.context("running migrations")?;
            if !seed::is_empty(&db).await? {
                anyhow::ensure!(reset, "the database already has trig rows; pass --reset to replace all data");
                seed::clear(&db).await?;
            }
            let scale = match scale {
                ScaleArg::Demo => Scale::Demo,
                ScaleArg::Full => Scale::Full,
            };
            let summary = seed::run(&db, &config, scale, &mut seed::StderrProgress::default()).await?;
            eprintln!("{summary}");
            let (places, areas) = gazetteer::load_vendored(&db, &cache_for_writes(&config).await).await?;
            eprintln!("loaded {places} places and {areas} postcode sectors and districts");
            Ok(())
        }
        Command::Import { dataset, file } => {
            let db = connect(&config).await?;
            let dataset = match dataset {
                DatasetArg::Places => Dataset::Places,
                DatasetArg::Postcodes => Dataset::Postcodes,
            };
            let cache = cache_for_writes(&config).await;
            let mut last = std::time::Instant::now();
            let done = gazetteer::import(&db, &cache, dataset, &file, |p| {
                if last.elapsed() >= std::time::Duration::from_secs(1) {
                    eprintln!("  {p}");
                    last = std::time::Instant::now();
                }
            })
            .await
            .with_context(|| format!("importing {}", file.display()))?;
            eprintln!("imported: {done}");
            Ok(())
        }
        Command::Cache { action } => cache_command(&config, action).await,
    }
}

/// How long `trigapi cache` waits for Redis.
const REDIS_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

async fn cache_command(config: &Config, action: CacheAction) -> anyhow::Result<()> {
    anyhow::ensure!(config.cache.cache_enabled, "the response cache is off (CACHE_ENABLED=false)");
    anyhow::ensure!(config.cache.redis_url.is_some(), "no REDIS_URL: the cache lives in each server's memory alone");
    let cache = crate::cache::build(config).await.context("configuring the response cache")?;
    let started = std::time::Instant::now();
    while !cache.local_stats().await.redis_available {
        anyhow::ensure!(started.elapsed() < REDIS_WAIT, "Redis did not answer within {} s", REDIS_WAIT.as_secs());
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let namespace = crate::cache::namespace(config);
    match action {
        CacheAction::Stats => {
            let body = crate::routes::admin::stats_body(&namespace, &cache.stats().await, &cache, 0);
            println!("{}", serde_json::to_string_pretty(&body)?);
        }
        CacheAction::Flush { pattern } => {
            let target = match pattern.as_deref().map(str::trim).filter(|p| !p.is_empty()) {
                None => trigapi_cache::Target::All,
                Some(p) => trigapi_cache::Target::parse(p).map_err(|e| anyhow::anyhow!("{e}"))?,
            };
            let deleted = cache.flush(&target).await;
            let pending = cache.local_stats().await.pending_invalidations;
            anyhow::ensure!(pending == 0, "Redis stopped answering: the flush did not reach it; run it again");
            match target {
                trigapi_cache::Target::Key(key) => eprintln!("deleted {deleted} key(s): {namespace}:{key}"),
                _ => eprintln!(
                    "invalidated {}",
                    pattern.map_or_else(|| format!("{namespace}:*"), |p| format!("{namespace}:{p}"))
                ),
            }
        }
        CacheAction::Warm { top } => {
            let (app, state) = offline_app(config, cache.clone()).await?;
            let mut settings = crate::warm::WarmSettings::from(&config.cache);
            settings.top = top.unwrap_or(settings.top);
            let last = std::sync::Mutex::new(std::time::Instant::now());
            let report = |done: u64, total: u64| {
                let mut last = last.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                if last.elapsed() >= std::time::Duration::from_secs(1) || done == total {
                    eprintln!("  {done}/{total} replayed");
                    *last = std::time::Instant::now();
                }
            };
            let stats = crate::warm::WarmStats::default();
            let started = std::time::Instant::now();
            let (replayed, failed) = crate::warm::warm(&app, &cache, &state.db, settings, &stats, report).await;
            eprintln!("warmed {replayed} entries in {:.1} s ({failed} failed)", started.elapsed().as_secs_f64());
            anyhow::ensure!(
                replayed + failed > 0 || settings.top == 0,
                "no hot requests recorded yet: nothing to warm"
            );
        }
        CacheAction::Explain { url, bearer } => {
            let (app, _) = offline_app(config, cache.clone()).await?;
            print!("{}", explain(&app, &cache, &url, bearer.as_deref()).await?);
        }
    }
    Ok(())
}

/// The server's router over the configured database and `cache`, without listening, the
/// change stream or the warmer: what `cache warm` and `cache explain` send requests through.
async fn offline_app(config: &Config, cache: trigapi_cache::Cache) -> anyhow::Result<(App, AppState)> {
    let mut config = config.clone();
    config.cache.change_stream = crate::config::Switch::Off;
    let db = connect(&config).await?;
    let state = AppState::new(db, config, cache)?;
    Ok((build_router(state.clone()), state))
}

/// `trigapi cache explain`: the entry `url` maps to, as text.
async fn explain(app: &App, cache: &trigapi_cache::Cache, url: &str, bearer: Option<&str>) -> anyhow::Result<String> {
    use std::fmt::Write;
    use tower::ServiceExt;
    let target = match url.find("://") {
        Some(at) => url[at + 3..].find('/').map_or("/", |slash| &url[at + 3 + slash..]),
        None => url,
    };
    let slot = crate::cache::Explain::default();
    let mut request = axum::http::Request::get(target).extension(slot.clone());
    if let Some(token) = bearer {
        request = request.header(axum::http::header::AUTHORIZATION, format!("Bearer {token}"));
    }
    let request = request.body(axum::body::Body::empty()).with_context(|| format!("{url} is not a request target"))?;
    let Ok(response) = app.clone().oneshot(request).await;
    let Some(policy) = slot.0.get() else {
        let status = response.status();
        let body = axum::body::to_bytes(response.into_body(), 64 << 10).await.unwrap_or_default();
        anyhow::bail!("GET {target} is not served from the cache: {status} {}", String::from_utf8_lossy(&body));
    };
    let found = cache.inspect(policy).await;
    let mut out = String::new();
    let _ = writeln!(out, "request      GET {target}");
    let _ = writeln!(out, "key          {}", found.key);
    let _ = writeln!(out, "ttl          {} s", found.ttl.as_secs());
    let _ = writeln!(out, "tags         generation now");
    for (tag, generation) in found.tags.iter().zip(&found.generations) {
        let generation = generation.map_or_else(|| "unknown".to_owned(), |g| g.to_string());
        let _ = writeln!(out, "  {tag:<24} {generation}");
    }
    let redis = match (&found.redis, found.redis_answered) {
        (_, false) => "did not answer".to_owned(),
        (None, true) => "no entry".to_owned(),
        (Some(e), true) => {
            let fresh = if e.fresh_secs_left >= 0 {
                format!("fresh for {} s more", e.fresh_secs_left)
            } else {
                format!("{} s past its TTL", -e.fresh_secs_left)
            };
            let verdict =
                if e.current { "current: served" } else { "invalidated since: recomputed on the next request" };
            format!(
                "stored {} s ago, {fresh}, {} bytes, computed under generations {:?} ({verdict})",
                e.age_secs, e.body_bytes, e.stamped
            )
        }
    };
    let _ = writeln!(out, "redis        {redis}");
    let _ = writeln!(
        out,
        "in process   each server keeps its own copy, checked against these generations; this command holds none"
    );
    let _ = writeln!(out, "invalidated by:");
    for write in crate::invalidation::writes_reaching(&found.tags) {
        let _ = writeln!(out, "  {write}");
    }
    let _ = writeln!(out, "  a flush naming the key, one of its tags as `<tag>:*`, or `*`");
    Ok(out)
}

/// The configured cache, through whose shared tier a command's writes reach running servers.
/// Without one there is nothing to tell: their entries live out their TTL.
async fn cache_for_writes(config: &Config) -> trigapi_cache::Cache {
    crate::cache::build(config).await.unwrap_or_else(|e| {
        eprintln!("the response cache could not be configured ({e}); cached searches expire with their TTL");
        trigapi_cache::Cache::disabled()
    })
}

async fn connect(config: &Config) -> anyhow::Result<Db> {
    Db::connect(config.database.database_url.expose(), config.database.db_max_connections)
        .await
        .with_context(|| format!("connecting to {}", db::redact_url(config.database.database_url.expose())))
}
