//! Command line: `trigapi [serve]`, `trigapi migrate`, `trigapi seed [--scale demo|full]`.

use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand, ValueEnum};

use crate::config::Config;
use crate::db::{self, Db};
use crate::seed::{self, Scale};
use crate::startup::{Application, shutdown_signal};
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
    /// Load the real trig points and generate synthetic users, logs and photos.
    Seed {
        #[arg(long, value_enum, default_value_t = ScaleArg::Demo)]
        scale: ScaleArg,
        /// Delete existing rows first (otherwise a non-empty database is refused).
        #[arg(long)]
        reset: bool,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum ScaleArg {
    Demo,
    Full,
}

pub async fn run() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let mut config = Config::load(cli.config.as_deref()).context("loading configuration")?;
    telemetry::init(&config.log_format);
    match cli.command.unwrap_or(Command::Serve { bind: None, migrate: false }) {
        Command::Serve { bind, migrate } => {
            if let Some(bind) = bind {
                config.bind_addr = bind;
            }
            config.auto_migrate |= migrate;
            Application::build(config).await?.run_until_stopped(shutdown_signal()).await
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
            Ok(())
        }
    }
}

async fn connect(config: &Config) -> anyhow::Result<Db> {
    Db::connect(&config.database_url, config.db_max_connections)
        .await
        .with_context(|| format!("connecting to {}", db::redact_url(&config.database_url)))
}
