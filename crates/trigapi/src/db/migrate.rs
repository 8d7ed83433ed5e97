//! Embedded migrations, one directory per backend (`migrations/{sqlite,postgres,mysql}`).
//!
//! They create the legacy tables only `IF NOT EXISTS` and add read indexes, so running them on the
//! site's existing MySQL database adds indexes and sqlx's bookkeeping table and nothing else. They
//! run automatically only on SQLite; elsewhere `trigapi migrate` (or `--migrate`) opts in.

use super::{Db, DbError};

pub async fn run(db: &Db) -> Result<(), DbError> {
    match db {
        Db::Sqlite(pool) => sqlx::migrate!("migrations/sqlite").run(pool).await?,
        Db::Postgres(pool) => sqlx::migrate!("migrations/postgres").run(pool).await?,
        Db::MySql(pool) => sqlx::migrate!("migrations/mysql").run(pool).await?,
    }
    Ok(())
}
