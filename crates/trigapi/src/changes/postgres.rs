//! The PostgreSQL source: logical replication with the built-in `pgoutput` plugin, over a
//! publication of the tables the cache reads (`trigapi_changes`) and a replication slot that
//! keeps every change until this source confirms it.
//!
//! - The slot's confirmed position moves only after the tags of the transactions before it are
//!   bumped ([`Source::applied`]), so a consumer that dies re-reads what it had not confirmed.
//! - Logs, photos and users are published with `REPLICA IDENTITY FULL`: an update carries the
//!   row's old values, so a log moved to another trig invalidates both.
//! - With Redis the fleet shares one permanent slot, `trigapi_{database}` (slots belong to the
//!   server, not to one database, so the name says which it reads). Without Redis each
//!   process has a cache of its own and a temporary slot of its own, which the server drops
//!   when the session ends, so a dead process leaves no slot holding WAL back.
//! - A slot that had to be made anew (dropped, invalidated, or never made) cannot say what was
//!   committed before it: everything is invalidated.
//!
//! `pgoutput` messages are decoded here (protocol version 1, text values): a log's photos and a
//! photo's owner, which the triggers of the SQLite source read at the time of the change, are
//! read after it, for the whole batch at once.

use std::borrow::Cow;
use std::collections::{HashMap, VecDeque};
use std::time::Duration;

use pgwire_replication::{Lsn, ReplicationClient, ReplicationConfig, ReplicationEvent, TlsConfig};
use sqlx::postgres::{PgConnectOptions, PgPool, PgSslMode};

use super::{BATCH, Batch, TABLES};
use crate::invalidation::RowChange;

/// The publication: every table the cache reads.
const PUBLICATION: &str = "trigapi_changes";
/// The tables whose updates and deletes must carry the old row, not just its key.
const FULL_IDENTITY: &[&str] = &["tlog", "tphoto", "user"];
/// How long a read waits for the first change before it lets the caller renew its role.
const WAIT: Duration = Duration::from_millis(250);
/// How often the confirmed position is sent to the server.
const STATUS_INTERVAL: Duration = Duration::from_secs(1);
/// PostgreSQL's epoch (2000-01-01) in Unix milliseconds.
const PG_EPOCH_MS: i64 = 946_684_800_000;

/// Check that this server can carry the change stream and make what it needs: the publication
/// and the tables' replica identity. Says everything that is missing at once.
pub(super) async fn prepare(pool: &PgPool) -> anyhow::Result<()> {
    let wal_level: String = sqlx::query_scalar("SELECT current_setting('wal_level')").fetch_one(pool).await?;
    let (user, can_replicate): (String, bool) =
        sqlx::query_as("SELECT rolname::text, rolreplication OR rolsuper FROM pg_roles WHERE rolname = current_user")
            .fetch_one(pool)
            .await?;
    let senders: i32 = sqlx::query_scalar("SELECT current_setting('max_wal_senders')::int").fetch_one(pool).await?;
    let mut missing = Vec::new();
    if wal_level != "logical" {
        missing.push(format!("wal_level is '{wal_level}': set wal_level = logical in postgresql.conf and restart"));
    }
    if !can_replicate {
        missing.push(format!("role {user} may not replicate: ALTER ROLE {user} REPLICATION"));
    }
    if senders < 1 {
        missing.push("max_wal_senders is 0: set it to at least 1 (and max_replication_slots too)".to_owned());
    }
    anyhow::ensure!(missing.is_empty(), "CHANGE_STREAM=on on PostgreSQL needs: {}", missing.join("; "));

    let published: Vec<String> =
        sqlx::query_scalar("SELECT tablename::text FROM pg_publication_tables WHERE pubname = $1 ORDER BY 1")
            .bind(PUBLICATION)
            .fetch_all(pool)
            .await?;
    let exists: bool = sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_publication WHERE pubname = $1)")
        .bind(PUBLICATION)
        .fetch_one(pool)
        .await?;
    let mut wanted: Vec<&str> = TABLES.to_vec();
    wanted.sort_unstable();
    // Quoted: `user` is a keyword.
    let quoted = |table: &str| format!("\"{table}\"");
    let list = TABLES.iter().map(|t| quoted(t)).collect::<Vec<_>>().join(", ");
    if !exists {
        // Instances starting together may both find it missing.
        let create = format!("CREATE PUBLICATION {PUBLICATION} FOR TABLE {list}");
        run(pool, &format!("DO $$ BEGIN {create}; EXCEPTION WHEN duplicate_object THEN NULL; END $$")).await?;
    } else if published != wanted {
        run(pool, &format!("ALTER PUBLICATION {PUBLICATION} SET TABLE {list}")).await?;
    }
    // A published table with no key cannot be updated or deleted from until it has a replica
    // identity: those get the whole row too (`town`).
    for table in TABLES {
        let name = quoted(table);
        let (identity, keyed): (String, bool) = sqlx::query_as(
            "SELECT relreplident::text, EXISTS (SELECT 1 FROM pg_index WHERE indrelid = c.oid AND indisprimary) \
             FROM pg_class c WHERE oid = $1::regclass",
        )
        .bind(&name)
        .fetch_one(pool)
        .await?;
        if identity != "f" && (FULL_IDENTITY.contains(table) || !keyed) {
            run(pool, &format!("ALTER TABLE {name} REPLICA IDENTITY FULL")).await?;
        }
    }
    Ok(())
}

async fn run(pool: &PgPool, sql: &str) -> anyhow::Result<()> {
    sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_owned()))
        .execute(pool)
        .await
        .map(|_| ())
        .map_err(|e| anyhow::anyhow!("{sql}: {e} (the change stream's user must own the tables, or make this itself)"))
}

/// How the replication session connects: `DATABASE_URL`'s server, user, database and TLS
/// (`sslmode`, `sslrootcert`), and the fleet's slot or (`fleet` false) a temporary slot of this
/// process's own.
pub(super) fn replication_config(url: &str, fleet: bool) -> anyhow::Result<ReplicationConfig> {
    let options: PgConnectOptions = url.parse()?;
    anyhow::ensure!(
        options.get_socket().is_none() && !options.get_host().starts_with('/'),
        "CHANGE_STREAM=on on PostgreSQL connects over TCP: give DATABASE_URL a host name"
    );
    let parsed = url::Url::parse(url)?;
    let root = parsed
        .query_pairs()
        .find(|(k, _)| k == "sslrootcert" || k == "ssl-root-cert")
        .map(|(_, v)| std::path::PathBuf::from(v.as_ref()))
        .or_else(|| std::env::var_os("PGSSLROOTCERT").map(Into::into));
    let tls = match options.get_ssl_mode() {
        PgSslMode::Disable | PgSslMode::Allow => TlsConfig::disabled(),
        PgSslMode::Prefer => TlsConfig { mode: pgwire_replication::SslMode::Prefer, ..TlsConfig::default() },
        PgSslMode::Require => TlsConfig::require(),
        PgSslMode::VerifyCa => TlsConfig::verify_ca(root),
        PgSslMode::VerifyFull => TlsConfig::verify_full(root),
    };
    if tls.mode != pgwire_replication::SslMode::Disable {
        // One crypto provider for the process, the one sqlx and the Redis tier use; the
        // replication client would otherwise install its own.
        let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    }
    let password = parsed
        .password()
        .map(|p| percent_encoding::percent_decode_str(p).decode_utf8_lossy().into_owned())
        .or_else(|| std::env::var("PGPASSWORD").ok())
        .unwrap_or_default();
    let mut config = ReplicationConfig::default();
    config.host = options.get_host().to_owned();
    config.port = options.get_port();
    config.user = options.get_username().to_owned();
    config.password = password;
    config.database = options.get_database().unwrap_or(options.get_username()).to_owned();
    config.slot =
        if fleet { fleet_slot(&config.database) } else { format!("trigapi_process_{:016x}", fastrand::u64(..)) };
    config.publication = PUBLICATION.into();
    config.status_interval = STATUS_INTERVAL;
    config.application_name = Some("trigapi-change-stream".to_owned());
    config.tls = tls;
    Ok(config)
}

/// The fleet's slot for `database`: lower-case letters, digits and `_`, at most 63 bytes.
fn fleet_slot(database: &str) -> String {
    format!("trigapi_{database}")
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_lowercase() } else { '_' })
        .take(63)
        .collect()
}

pub(super) struct Source {
    pool: PgPool,
    config: ReplicationConfig,
    /// A temporary slot (one process's own) rather than the fleet's.
    temporary: bool,
    client: Option<ReplicationClient>,
    relations: HashMap<u32, Relation>,
    /// The changes of the transaction being received.
    open: Vec<RowChange>,
    /// Transactions committed and received, not yet read.
    ready: VecDeque<Transaction>,
    /// The end of the last transaction read and not yet applied.
    claimed: Option<Lsn>,
    /// Changes were lost for this reason: say so with the next batch.
    lose: Option<&'static str>,
}

struct Transaction {
    changes: Vec<RowChange>,
    at_ms: i64,
    end: Lsn,
}

impl Source {
    pub(super) fn new(pool: PgPool, config: ReplicationConfig, temporary: bool) -> Self {
        Self {
            pool,
            config,
            temporary,
            client: None,
            relations: HashMap::new(),
            open: Vec::new(),
            ready: VecDeque::new(),
            claimed: None,
            lose: None,
        }
    }

    /// Give up the slot (another instance reads now): forget what was received and not
    /// confirmed, which the slot will send again.
    pub(super) fn release(&mut self) {
        self.client = None;
        self.open.clear();
        self.ready.clear();
        self.claimed = None;
    }

    /// Open the replication session, making the slot if it is missing (then what came
    /// before it is unknown).
    async fn connect(&mut self) -> anyhow::Result<ReplicationClient> {
        prepare(&self.pool).await?;
        self.relations.clear();
        let slot = self.config.slot.clone();
        if self.temporary {
            let mut client = ReplicationClient::connect_gated(self.config.clone()).await?;
            client.simple_query(&format!("CREATE_REPLICATION_SLOT {slot} TEMPORARY LOGICAL pgoutput")).await?;
            client.start().await?;
            client.wait_started().await?;
            self.lose = Some("a new temporary replication slot: what was committed before it is unknown");
            return Ok(client);
        }
        let status: Option<Option<String>> =
            sqlx::query_scalar("SELECT wal_status FROM pg_replication_slots WHERE slot_name = $1")
                .bind(&slot)
                .fetch_optional(&self.pool)
                .await?;
        let made_anew = match status.as_ref().map(|s| s.as_deref()) {
            None => Some("the replication slot was missing (dropped, or this is the first start)"),
            Some(Some("lost")) => {
                sqlx::query("SELECT pg_drop_replication_slot($1)").bind(&slot).execute(&self.pool).await?;
                Some("the replication slot was invalidated (the WAL it needed was removed)")
            }
            Some(_) => None,
        };
        if let Some(reason) = made_anew {
            sqlx::query("SELECT pg_create_logical_replication_slot($1, 'pgoutput')")
                .bind(&slot)
                .execute(&self.pool)
                .await?;
            self.lose = Some(reason);
        }
        let mut client = ReplicationClient::connect(self.config.clone()).await?;
        client.wait_started().await?;
        Ok(client)
    }

    /// The transactions committed since the last read, up to [`BATCH`] changes: waits a
    /// moment for the first; `None` when nothing came.
    pub(super) async fn read(&mut self) -> anyhow::Result<Option<Batch>> {
        match self.receive().await {
            Ok(()) => {}
            Err(error) => {
                // Start again from the slot's confirmed position.
                self.release();
                return Err(error);
            }
        }
        let mut taken = Vec::new();
        let mut end = None;
        // Whole transactions: the position confirmed is a commit's.
        while self.ready.front().is_some_and(|tx| taken.is_empty() || taken.len() + tx.changes.len() <= BATCH as usize)
        {
            let Some(tx) = self.ready.pop_front() else { break };
            end = Some(tx.end);
            taken.extend(tx.changes.into_iter().map(|c| (c, tx.at_ms)));
        }
        let Some(end) = end else {
            return Ok(self.lose.take().map(|lost| Batch {
                changes: Vec::new(),
                lost: Some(lost),
                more: false,
                behind: 0,
            }));
        };
        if taken.is_empty() && self.lose.is_none() {
            // Transactions that touched nothing published: confirm them at once.
            if let Some(client) = &self.client {
                client.update_applied_lsn(end);
            }
            return Ok(None);
        }
        if let Err(error) = fill(&self.pool, &mut taken).await {
            self.release();
            return Err(error);
        }
        self.claimed = Some(end);
        let behind = self.ready.iter().map(|tx| tx.changes.len() as u64).sum();
        Ok(Some(Batch { changes: taken, lost: self.lose.take(), more: !self.ready.is_empty(), behind }))
    }

    /// Receive events: wait up to [`WAIT`] for the first when nothing is ready, then take what
    /// has already arrived.
    async fn receive(&mut self) -> anyhow::Result<()> {
        let client = match &mut self.client {
            Some(client) => client,
            None => {
                let client = self.connect().await?;
                self.client.insert(client)
            }
        };
        let mut wait = if self.ready.is_empty() { WAIT } else { Duration::ZERO };
        let mut received: usize = self.ready.iter().map(|tx| tx.changes.len()).sum();
        while received < BATCH as usize {
            let event = match tokio::time::timeout(wait, client.recv()).await {
                Err(_) => return Ok(()),
                Ok(event) => event?.ok_or_else(|| anyhow::anyhow!("the replication session ended"))?,
            };
            wait = Duration::ZERO;
            match event {
                ReplicationEvent::Begin { .. } => self.open.clear(),
                ReplicationEvent::XLogData { data, .. } => {
                    if let Some(change) = decode(&mut self.relations, &data) {
                        self.open.push(change);
                    }
                }
                ReplicationEvent::Commit { end_lsn, commit_time_micros, .. } => {
                    received += self.open.len();
                    self.ready.push_back(Transaction {
                        changes: std::mem::take(&mut self.open),
                        at_ms: commit_time_micros / 1000 + PG_EPOCH_MS,
                        end: end_lsn,
                    });
                }
                // Nothing pending: the WAL up to here held nothing published, and the slot need
                // not keep it.
                ReplicationEvent::KeepAlive { wal_end, .. }
                    if self.open.is_empty() && self.ready.is_empty() && self.claimed.is_none() =>
                {
                    client.update_applied_lsn(wal_end);
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// The WAL the slot holds back on the server, bytes (0 when the slot is not there yet).
    pub(super) async fn retained_bytes(&self) -> anyhow::Result<u64> {
        let bytes: Option<i64> = sqlx::query_scalar(
            "SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), restart_lsn)::bigint FROM pg_replication_slots \
             WHERE slot_name = $1",
        )
        .bind(&self.config.slot)
        .fetch_optional(&self.pool)
        .await?
        .flatten();
        Ok(bytes.map_or(0, |b| u64::try_from(b).unwrap_or(0)))
    }

    /// The changes read last are applied: confirm them to the slot.
    pub(super) fn applied(&mut self) {
        if let (Some(end), Some(client)) = (self.claimed.take(), &self.client) {
            client.update_applied_lsn(end);
        }
    }
}

/// A log's live photos and a photo's log's trig and user: read now, for the whole batch.
async fn fill(pool: &PgPool, changes: &mut [(RowChange, i64)]) -> anyhow::Result<()> {
    let (logs, photo_logs) = super::wanted(changes);
    let photos: Vec<(i32, i32)> = if logs.is_empty() {
        Vec::new()
    } else {
        sqlx::query_as("SELECT tlog_id, id FROM tphoto WHERE tlog_id = ANY($1) AND deleted_ind <> 'Y' ORDER BY id")
            .bind(&logs)
            .fetch_all(pool)
            .await?
    };
    let owners: Vec<(i32, i32, i32)> = if photo_logs.is_empty() {
        Vec::new()
    } else {
        sqlx::query_as("SELECT id, trig_id, user_id FROM tlog WHERE id = ANY($1)")
            .bind(&photo_logs)
            .fetch_all(pool)
            .await?
    };
    super::fill(changes, photos, owners);
    Ok(())
}

/// A table as the `pgoutput` Relation message described it.
struct Relation {
    table: String,
    /// `f`: updates and deletes carry the whole old row.
    identity: u8,
    columns: Vec<String>,
}

/// A column's value in a row: text, SQL null, or a large value the change left alone (not
/// sent).
#[derive(Debug, Clone, Copy, PartialEq)]
enum Value<'a> {
    Text(&'a str),
    Null,
    Unchanged,
}

/// A `pgoutput` message as a row change; `None` for messages that change no row (relations,
/// types, origins). A change that cannot be read invalidates everything (it is never skipped).
fn decode(relations: &mut HashMap<u32, Relation>, data: &[u8]) -> Option<RowChange> {
    let mut message = Message(data);
    let parsed = match message.u8() {
        Some(b'R') => match message.relation() {
            Some((id, relation)) => {
                relations.insert(id, relation);
                return None;
            }
            None => None,
        },
        Some(b'I' | b'U' | b'D') => row_change(relations, data),
        Some(b'T') => truncated(relations, &mut message),
        Some(_) => return None,
        None => None,
    };
    parsed.or_else(|| {
        tracing::warn!(
            event = "cache_change_stream_unreadable",
            kind = data.first().map(|b| char::from(*b).to_string()),
            "an unreadable change: invalidating everything"
        );
        Some(RowChange::Everything)
    })
}

fn row_change(relations: &HashMap<u32, Relation>, data: &[u8]) -> Option<RowChange> {
    let mut message = Message(data);
    let kind = message.u8()?;
    let relation = relations.get(&message.u32()?)?;
    let (old, new) = match kind {
        b'I' => {
            message.expect(b'N')?;
            (None, Some(message.tuple()?))
        }
        b'U' => {
            let old = match message.u8()? {
                b'O' | b'K' => {
                    let old = message.tuple()?;
                    message.expect(b'N')?;
                    Some(old)
                }
                b'N' => None,
                _ => return None,
            };
            let mut new = message.tuple()?;
            // A large value left alone is not sent: it is the old one.
            if let Some(old) = &old {
                for (value, before) in new.iter_mut().zip(old) {
                    if *value == Value::Unchanged {
                        *value = *before;
                    }
                }
            }
            // Without the whole old row (the table's replica identity was changed back) the
            // old values are unknown.
            if relation.identity != b'f' && FULL_IDENTITY.contains(&relation.table.as_str()) {
                return Some(RowChange::Everything);
            }
            (Some(old.unwrap_or_else(|| new.clone())), Some(new))
        }
        _ => {
            let key = message.u8()?;
            if key != b'O' && FULL_IDENTITY.contains(&relation.table.as_str()) {
                return Some(RowChange::Everything);
            }
            (Some(message.tuple()?), None)
        }
    };
    let (old, new) = (
        old.as_deref().map(|values| Tuple { relation, values }),
        new.as_deref().map(|values| Tuple { relation, values }),
    );
    super::row_change(&relation.table, old.as_ref(), new.as_ref())
}

/// `TRUNCATE` of published tables: places or postcodes, or everything.
fn truncated(relations: &HashMap<u32, Relation>, message: &mut Message) -> Option<RowChange> {
    let count = message.u32()?;
    message.u8()?;
    let mut change = None;
    for _ in 0..count {
        let table = relations.get(&message.u32()?).map(|r| r.table.as_str());
        change = match (change, table.and_then(super::whole)) {
            (None, Some(c)) => Some(c),
            (Some(a), Some(b)) if a == b => Some(a),
            _ => return Some(RowChange::Everything),
        };
    }
    change
}

/// A row of a relation as `pgoutput` sent it.
struct Tuple<'r, 'v> {
    relation: &'r Relation,
    values: &'r [Value<'v>],
}

impl super::Columns for Tuple<'_, '_> {
    fn text(&self, column: &str) -> Option<Cow<'_, str>> {
        let i = self.relation.columns.iter().position(|c| c == column)?;
        match self.values.get(i)? {
            Value::Text(text) => Some(Cow::Borrowed(text)),
            Value::Null | Value::Unchanged => None,
        }
    }
}

/// A cursor over a `pgoutput` message.
struct Message<'a>(&'a [u8]);

impl<'a> Message<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.0.len() < n {
            return None;
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Some(head)
    }

    fn u8(&mut self) -> Option<u8> {
        self.take(1).map(|b| b[0])
    }

    fn u16(&mut self) -> Option<u16> {
        self.take(2).and_then(|b| b.try_into().ok()).map(u16::from_be_bytes)
    }

    fn u32(&mut self) -> Option<u32> {
        self.take(4).and_then(|b| b.try_into().ok()).map(u32::from_be_bytes)
    }

    fn expect(&mut self, byte: u8) -> Option<()> {
        (self.u8()? == byte).then_some(())
    }

    /// A NUL-terminated string.
    fn string(&mut self) -> Option<&'a str> {
        let end = self.0.iter().position(|b| *b == 0)?;
        let text = std::str::from_utf8(self.take(end)?).ok()?;
        self.take(1)?;
        Some(text)
    }

    /// A Relation message after its kind byte: its id and what it describes.
    fn relation(&mut self) -> Option<(u32, Relation)> {
        let id = self.u32()?;
        let _namespace = self.string()?;
        let table = self.string()?.to_owned();
        let identity = self.u8()?;
        let count = self.u16()?;
        let mut columns = Vec::with_capacity(usize::from(count));
        for _ in 0..count {
            let _flags = self.u8()?;
            columns.push(self.string()?.to_owned());
            let _type = self.u32()?;
            let _modifier = self.u32()?;
        }
        Some((id, Relation { table, identity, columns }))
    }

    /// A TupleData: one value per column.
    fn tuple(&mut self) -> Option<Vec<Value<'a>>> {
        let count = self.u16()?;
        let mut values = Vec::with_capacity(usize::from(count));
        for _ in 0..count {
            values.push(match self.u8()? {
                b'n' => Value::Null,
                b'u' => Value::Unchanged,
                b't' => {
                    let len = usize::try_from(self.u32()?).ok()?;
                    Value::Text(std::str::from_utf8(self.take(len)?).ok()?)
                }
                _ => return None,
            });
        }
        Some(values)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::invalidation::{Change, PhotoRow};

    /// Builds `pgoutput` messages as the server sends them.
    #[derive(Default)]
    struct Wire(Vec<u8>);

    impl Wire {
        fn kind(mut self, k: u8) -> Self {
            self.0.push(k);
            self
        }
        fn u32(mut self, v: u32) -> Self {
            self.0.extend(v.to_be_bytes());
            self
        }
        fn string(mut self, s: &str) -> Self {
            self.0.extend(s.as_bytes());
            self.0.push(0);
            self
        }
        fn relation(self, id: u32, table: &str, identity: u8, columns: &[&str]) -> Vec<u8> {
            let mut w = self.kind(b'R').u32(id).string("public").string(table).kind(identity);
            w.0.extend(u16::try_from(columns.len()).expect("a few columns").to_be_bytes());
            for c in columns {
                w = w.kind(0).string(c).u32(23).u32(u32::MAX);
            }
            w.0
        }
        fn tuple(mut self, values: &[Option<&str>]) -> Self {
            self.0.extend(u16::try_from(values.len()).expect("a few values").to_be_bytes());
            for v in values {
                match v {
                    None => self.0.push(b'n'),
                    Some("\u{0}") => self.0.push(b'u'),
                    Some(text) => {
                        self = self.kind(b't').u32(u32::try_from(text.len()).expect("a short value"));
                        self.0.extend(text.as_bytes());
                    }
                }
            }
            self
        }
    }

    fn relations() -> HashMap<u32, Relation> {
        let mut relations = HashMap::new();
        for message in [
            Wire::default().relation(1, "tlog", b'f', &["id", "trig_id", "user_id", "comment"]),
            Wire::default().relation(2, "tphoto", b'f', &["id", "tlog_id", "name", "deleted_ind"]),
            Wire::default().relation(3, "user", b'd', &["id", "name"]),
            Wire::default().relation(4, "town", b'd', &["id", "name"]),
        ] {
            assert_eq!(decode(&mut relations, &message), None);
        }
        relations
    }

    #[test]
    fn a_moved_log_carries_both_trigs() {
        let mut relations = relations();
        let update = Wire::default()
            .kind(b'U')
            .u32(1)
            .kind(b'O')
            .tuple(&[Some("5"), Some("10"), Some("2"), Some("long text")])
            .kind(b'N')
            .tuple(&[Some("5"), Some("11"), Some("2"), Some("\u{0}")])
            .0;
        let Some(RowChange::Log(Change { old: Some(old), new: Some(new) })) = decode(&mut relations, &update) else {
            panic!("not a log update")
        };
        assert_eq!((old.id, old.trig, new.trig, new.user), (5, 10, 11, 2));
    }

    #[test]
    fn a_photo_flagged_deleted_reads_as_deleted() {
        let mut relations = relations();
        let update = Wire::default()
            .kind(b'U')
            .u32(2)
            .kind(b'O')
            .tuple(&[Some("9"), Some("5"), Some("x"), Some("N")])
            .kind(b'N')
            .tuple(&[Some("9"), Some("5"), Some("x"), Some("Y")])
            .0;
        assert_eq!(
            decode(&mut relations, &update),
            Some(RowChange::Photo(Change::deleted(PhotoRow { id: 9, log: 5, owner: None })))
        );
    }

    #[test]
    fn inserts_deletes_and_whole_tables() {
        let mut relations = relations();
        let insert = Wire::default().kind(b'I').u32(4).kind(b'N').tuple(&[Some("1"), Some("Buxton")]).0;
        assert_eq!(decode(&mut relations, &insert), Some(RowChange::Places));
        let truncate = Wire::default().kind(b'T').u32(1).kind(0).u32(4).0;
        assert_eq!(decode(&mut relations, &truncate), Some(RowChange::Places));
        let truncate_logs = Wire::default().kind(b'T').u32(2).kind(0).u32(4).u32(1).0;
        assert_eq!(decode(&mut relations, &truncate_logs), Some(RowChange::Everything));
        let delete = Wire::default().kind(b'D').u32(1).kind(b'O').tuple(&[Some("5"), Some("10"), Some("2"), None]).0;
        assert!(matches!(decode(&mut relations, &delete), Some(RowChange::Log(Change { old: Some(_), new: None }))));
    }

    #[test]
    fn what_cannot_be_read_invalidates_everything() {
        let mut relations = relations();
        // Only the key of a user's old row: whether its name changed is unknown.
        let update = Wire::default().kind(b'U').u32(3).kind(b'N').tuple(&[Some("3"), Some("New")]).0;
        assert_eq!(decode(&mut relations, &update), Some(RowChange::Everything));
        // An unknown relation, a truncated message, a value that is not a number.
        assert_eq!(decode(&mut relations, &Wire::default().kind(b'I').u32(99).0), Some(RowChange::Everything));
        assert_eq!(decode(&mut relations, &[b'I', 0, 0]), Some(RowChange::Everything));
        let bad = Wire::default().kind(b'I').u32(1).kind(b'N').tuple(&[Some("five"), Some("1"), Some("2"), None]).0;
        assert_eq!(decode(&mut relations, &bad), Some(RowChange::Everything));
        // Messages that change no row.
        assert_eq!(decode(&mut relations, b"Y\0\0\0\x01"), None);
    }
}
