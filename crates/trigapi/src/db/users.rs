//! Queries over `user` and the per-user aggregates (`stats`, `breakdown`).

use std::collections::HashMap;

use chrono::NaiveDate;
use sea_query::{Asterisk, Condition, Expr, ExprTrait, Func, Order, Query};

use super::{Counted, Db, DbError, Tlog, Tphoto, Trig, User};
use crate::domain::profile::ProfilePatch;

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct UserRow {
    pub id: i32,
    pub name: String,
    pub firstname: String,
    pub surname: String,
    pub homepage: Option<String>,
    pub about: String,
    pub member_since: Option<NaiveDate>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UserStatsRow {
    pub total_logs: i64,
    pub total_trigs_logged: i64,
    pub total_photos: i64,
}

#[derive(Debug, Clone, Default)]
pub struct BreakdownRows {
    pub by_current_use: Vec<(String, i64)>,
    pub by_historic_use: Vec<(String, i64)>,
    pub by_physical_type: Vec<(String, i64)>,
    pub by_condition: Vec<(String, i64)>,
}

#[derive(sqlx::FromRow)]
struct KeyCount {
    k: String,
    n: i64,
}

#[derive(sqlx::FromRow)]
struct UserCounts {
    user_id: i32,
    n: i64,
    t: i64,
}

fn user_select() -> sea_query::SelectStatement {
    Query::select()
        .columns([User::Id, User::Name, User::Firstname, User::Surname, User::Homepage, User::About])
        .expr_as(Expr::col(User::CrtDate), "member_since")
        .from(User::Table)
        .to_owned()
}

pub async fn get(db: &Db, id: i32) -> Result<Option<UserRow>, DbError> {
    db.fetch_optional(&user_select().and_where(Expr::col(User::Id).eq(id)).to_owned()).await
}

#[derive(sqlx::FromRow)]
struct IdRow {
    id: i32,
}

/// The user whose `auth0_user_id` is `subject`, if any.
pub async fn id_by_auth0(db: &Db, subject: &str) -> Result<Option<i32>, DbError> {
    let stmt = Query::select()
        .column(User::Id)
        .from(User::Table)
        .and_where(Expr::col(User::Auth0UserId).eq(subject))
        .to_owned();
    Ok(db.fetch_optional::<IdRow>(&stmt).await?.map(|r| r.id))
}

/// Users whose name contains `name` (case-insensitive), by id.
pub async fn list(db: &Db, name: Option<&str>, limit: u64, offset: u64) -> Result<(Vec<UserRow>, i64), DbError> {
    let mut cond = Condition::all();
    if let Some(n) = name.map(str::trim).filter(|n| !n.is_empty()) {
        cond = cond.add(super::contains_ignoring_case(Expr::col(User::Name), n));
    }
    let stmt =
        user_select().cond_where(cond.clone()).order_by(User::Id, Order::Asc).limit(limit).offset(offset).to_owned();
    Ok(tokio::try_join!(db.fetch_all(&stmt), db.count(Counted::User, cond))?)
}

/// `stats` for several users at once (three grouped queries, whatever the page size).
pub async fn stats_for(db: &Db, ids: &[i32]) -> Result<HashMap<i32, UserStatsRow>, DbError> {
    let mut out: HashMap<i32, UserStatsRow> = ids.iter().map(|id| (*id, UserStatsRow::default())).collect();
    if ids.is_empty() {
        return Ok(out);
    }
    let logs = Query::select()
        .column(Tlog::UserId)
        .expr_as(Func::count(Expr::col(Asterisk)), "n")
        .expr_as(Func::count_distinct(Expr::col(Tlog::TrigId)), "t")
        .from(Tlog::Table)
        .and_where(Expr::col(Tlog::UserId).is_in(ids.iter().copied()))
        .group_by_col(Tlog::UserId)
        .to_owned();
    for r in db.fetch_all::<UserCounts>(&logs).await? {
        if let Some(s) = out.get_mut(&r.user_id) {
            s.total_logs = r.n;
            s.total_trigs_logged = r.t;
        }
    }
    let photos = Query::select()
        .column((Tlog::Table, Tlog::UserId))
        .expr_as(Func::count(Expr::col(Asterisk)), "n")
        .expr_as(Expr::val(0i64), "t")
        .from(Tphoto::Table)
        .inner_join(Tlog::Table, Expr::col((Tlog::Table, Tlog::Id)).equals((Tphoto::Table, Tphoto::TlogId)))
        .and_where(Expr::col((Tlog::Table, Tlog::UserId)).is_in(ids.iter().copied()))
        .and_where(Expr::col((Tphoto::Table, Tphoto::DeletedInd)).ne("Y"))
        .group_by_col((Tlog::Table, Tlog::UserId))
        .to_owned();
    for r in db.fetch_all::<UserCounts>(&photos).await? {
        if let Some(s) = out.get_mut(&r.user_id) {
            s.total_photos = r.n;
        }
    }
    Ok(out)
}

/// Distinct trigs logged, grouped by their use and type (one pass over the user's trigs), and
/// all logs grouped by condition; both run concurrently.
pub async fn breakdown(db: &Db, user_id: i32) -> Result<BreakdownRows, DbError> {
    let logged_trigs = Query::select()
        .column(Tlog::TrigId)
        .from(Tlog::Table)
        .and_where(Expr::col(Tlog::UserId).eq(user_id))
        .to_owned();
    let by_trig = Query::select()
        .columns([Trig::CurrentUse, Trig::HistoricUse, Trig::PhysicalType])
        .expr_as(Func::count(Expr::col(Asterisk)), "n")
        .from(Trig::Table)
        .and_where(Expr::col(Trig::Id).in_subquery(logged_trigs))
        .group_by_columns([Trig::CurrentUse, Trig::HistoricUse, Trig::PhysicalType])
        .to_owned();
    let by_condition = Query::select()
        .expr_as(Expr::col(Tlog::Condition), "k")
        .expr_as(Func::count(Expr::col(Asterisk)), "n")
        .from(Tlog::Table)
        .and_where(Expr::col(Tlog::UserId).eq(user_id))
        .group_by_col(Tlog::Condition)
        .to_owned();
    let (groups, conditions) =
        tokio::try_join!(db.fetch_all::<TrigGroup>(&by_trig), db.fetch_all::<KeyCount>(&by_condition))?;
    let mut out = BreakdownRows::default();
    let add = |list: &mut Vec<(String, i64)>, key: &str, n: i64| match list.iter_mut().find(|(k, _)| k == key) {
        Some((_, total)) => *total += n,
        None => list.push((key.to_owned(), n)),
    };
    for g in groups {
        add(&mut out.by_current_use, &g.current_use, g.n);
        add(&mut out.by_historic_use, &g.historic_use, g.n);
        add(&mut out.by_physical_type, &g.physical_type, g.n);
    }
    out.by_condition = conditions.into_iter().map(|r| (r.k, r.n)).collect();
    Ok(out)
}

#[derive(sqlx::FromRow)]
struct TrigGroup {
    current_use: String,
    historic_use: String,
    physical_type: String,
    n: i64,
}

/// The caller's own row: the public fields plus their preferences and e-mail.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct MeRow {
    #[sqlx(flatten)]
    pub user: UserRow,
    pub auth0_user_id: Option<String>,
    pub status_max: i32,
    pub distance_ind: String,
    pub public_ind: String,
    pub online_map_type: String,
    pub online_map_type2: String,
    pub email: String,
    pub email_valid: String,
}

pub async fn me(db: &Db, id: i32) -> Result<Option<MeRow>, DbError> {
    db.fetch_optional(&me_select(id)).await
}

fn me_select(id: i32) -> sea_query::SelectStatement {
    user_select()
        .columns([
            User::Auth0UserId,
            User::StatusMax,
            User::DistanceInd,
            User::PublicInd,
            User::OnlineMapType,
            User::OnlineMapType2,
            User::Email,
            User::EmailValid,
        ])
        .and_where(Expr::col(User::Id).eq(id))
        .to_owned()
}

/// Why a profile change was refused.
#[derive(Debug, PartialEq, Eq)]
pub enum ProfileConflict {
    Name,
    Email,
}

/// A profile change as committed: the caller's row before and after it.
#[derive(Debug, Clone)]
pub struct ProfileChanged {
    pub before: MeRow,
    pub after: MeRow,
}

/// Apply `c` to user `id` in one transaction, unless another user has the name or e-mail.
/// The row is locked from the read to the commit, and a change of name or e-mail holds the
/// identity lock ([`super::Tx::lock_user_identities`]) from the uniqueness check to the
/// commit, so two renames to one name cannot both succeed. `Ok(None)`: no such user.
pub async fn update_profile(
    db: &Db,
    id: i32,
    c: &ProfilePatch,
) -> Result<Result<Option<ProfileChanged>, ProfileConflict>, DbError> {
    let mut tx = db.begin().await?;
    if c.name.is_some() || c.email.is_some() {
        tx.lock_user_identities().await?;
    }
    let Some(before) = tx.fetch_locked::<MeRow>(User::Table, id, &me_select(id)).await? else { return Ok(Ok(None)) };
    let taken = |col: User, value: &str| {
        Query::select()
            .column(User::Id)
            .from(User::Table)
            .and_where(Func::lower(Expr::col(col)).eq(value.to_lowercase()))
            .and_where(Expr::col(User::Id).ne(id))
            .limit(1)
            .to_owned()
    };
    if let Some(name) = &c.name
        && tx.fetch_optional::<IdRow>(&taken(User::Name, name)).await?.is_some()
    {
        return Ok(Err(ProfileConflict::Name));
    }
    if let Some(email) = &c.email
        && tx.fetch_optional::<IdRow>(&taken(User::Email, email)).await?.is_some()
    {
        return Ok(Err(ProfileConflict::Email));
    }
    let text = |col: User, v: &Option<String>| v.clone().map(|v| (col, Expr::val(v)));
    let mut values: Vec<(User, Expr)> = [
        text(User::Name, &c.name),
        text(User::Email, &c.email),
        text(User::Firstname, &c.firstname),
        text(User::Surname, &c.surname),
        text(User::Homepage, &c.homepage),
        text(User::About, &c.about),
        c.status_max.map(|v| (User::StatusMax, Expr::val(v))),
        text(User::DistanceInd, &c.distance_ind),
        text(User::PublicInd, &c.public_ind),
        text(User::OnlineMapType, &c.online_map_type),
        text(User::OnlineMapType2, &c.online_map_type2),
    ]
    .into_iter()
    .flatten()
    .collect();
    if !values.is_empty() {
        if c.email.is_some() {
            // A new address is unverified until the identity provider confirms it.
            values.push((User::EmailValid, Expr::val("N")));
        }
        values.push((User::UpdTimestamp, Expr::val(super::now())));
        let update = Query::update().table(User::Table).values(values).and_where(Expr::col(User::Id).eq(id)).to_owned();
        tx.execute(&update).await?;
    }
    let Some(after) = tx.fetch_optional::<MeRow>(&me_select(id)).await? else { return Ok(Ok(None)) };
    tx.commit().await?;
    Ok(Ok(Some(ProfileChanged { before, after })))
}

/// Which unique field a new account collides on.
#[derive(Debug, PartialEq, Eq)]
pub enum AccountConflict {
    Name,
    Email,
    Auth0UserId,
}

/// Insert an account for a new identity-provider user, unless its name, e-mail or
/// `auth0_user_id` is taken (names and e-mails compared case-insensitively). Returns the id.
pub async fn register(
    db: &Db,
    name: &str,
    email: &str,
    auth0_user_id: &str,
) -> Result<Result<i32, AccountConflict>, DbError> {
    let mut tx = db.begin().await?;
    tx.lock_user_identities().await?;
    let exists = |cond: Expr| Query::select().column(User::Id).from(User::Table).and_where(cond).limit(1).to_owned();
    let checks = [
        (Func::lower(Expr::col(User::Name)).eq(name.to_lowercase()), AccountConflict::Name),
        (Func::lower(Expr::col(User::Email)).eq(email.to_lowercase()), AccountConflict::Email),
        (Expr::col(User::Auth0UserId).eq(auth0_user_id), AccountConflict::Auth0UserId),
    ];
    for (cond, conflict) in checks {
        if tx.fetch_optional::<IdRow>(&exists(cond)).await?.is_some() {
            return Ok(Err(conflict));
        }
    }
    let now = super::now();
    // The legacy password column: random, so no password login can match it.
    let cryptpw = format!("{:016x}{:016x}", fastrand::u64(..), fastrand::u64(..));
    let insert = Query::insert()
        .into_table(User::Table)
        .columns([
            User::Name,
            User::Email,
            User::EmailValid,
            User::PublicInd,
            User::DistanceInd,
            User::StatusMax,
            User::OnlineMapType,
            User::OnlineMapType2,
            User::Cryptpw,
            User::Auth0UserId,
            User::CrtDate,
            User::CrtTime,
            User::UpdTimestamp,
        ])
        .values([
            Expr::val(name),
            Expr::val(email),
            Expr::val("Y"),
            Expr::val("N"),
            Expr::val("K"),
            Expr::val(0),
            Expr::val(""),
            Expr::val("lla"),
            Expr::val(cryptpw),
            Expr::val(auth0_user_id),
            Expr::val(now.date()),
            Expr::val(now.time()),
            Expr::val(now),
        ])?
        .to_owned();
    let id = tx.insert(&insert).await?;
    tx.commit().await?;
    Ok(Ok(i32::try_from(id).map_err(|_| DbError::Sqlx(sqlx::Error::Protocol("user id out of range".into())))?))
}
