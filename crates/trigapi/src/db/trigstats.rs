//! `trigstats`, kept true: every log and photo write recomputes its trig's row in the same
//! transaction (the original never refreshed it).
//!
//! `score_baysian` is a Bayesian average: the trig's scores plus [`PRIOR_WEIGHT`] votes of
//! [`PRIOR_MEAN`] (the site-wide mean score), so a trig with one 10 does not outrank one with
//! fifty 9s. The seed computes the same formula.

use chrono::NaiveDate;
use sea_query::{Asterisk, Expr, ExprTrait, Func, OnConflict, Query};

use super::{DbError, Tlog, Tphoto, Trigstats, Tx};
use crate::domain::condition::Condition;

/// The site-wide mean score (the original's `trigstats` row 0 holds 5.57).
pub const PRIOR_MEAN: f64 = 5.57;
/// How many votes of [`PRIOR_MEAN`] every trig starts with.
pub const PRIOR_WEIGHT: f64 = 5.0;

/// Mean and Bayesian average of `count` scores adding up to `sum`, to 2 decimals.
pub fn scores(sum: i64, count: i64) -> (f64, f64) {
    let round = |v: f64| (v * 100.0).round() / 100.0;
    let mean = if count > 0 { sum as f64 / count as f64 } else { 0.0 };
    let bayes = (PRIOR_WEIGHT * PRIOR_MEAN + sum as f64) / (PRIOR_WEIGHT + count as f64);
    (round(mean), round(bayes))
}

#[derive(sqlx::FromRow)]
struct LogAggregate {
    first: Option<NaiveDate>,
    last: Option<NaiveDate>,
    n: i64,
    score_sum: Option<i64>,
    found_last: Option<NaiveDate>,
    found_n: Option<i64>,
}

#[derive(sqlx::FromRow)]
struct CountRow {
    n: i64,
}

/// Which counts a write can have changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recount {
    /// The trig's logs (a log created or edited: its photos are as they were).
    Logs,
    /// The logs and the photos (a log deleted with its photos, a photo written).
    LogsAndPhotos,
}

/// Recompute `trig_id`'s row inside `tx` from its logs (one pass over an index) and, when
/// `recount` says photos changed, its live photos; otherwise the photo count is kept.
pub async fn refresh(tx: &mut Tx, trig_id: i32, recount: Recount) -> Result<(), DbError> {
    let b = tx.backend();
    let bigint = |e: Expr| e.cast_as(sea_query::Alias::new(b.bigint()));
    let found = Expr::col(Tlog::Condition).is_in(Condition::found_codes());
    let logs = Query::select()
        .expr_as(Func::min(Expr::col(Tlog::Date)), "first")
        .expr_as(Func::max(Expr::col(Tlog::Date)), "last")
        .expr_as(Func::count(Expr::col(Asterisk)), "n")
        .expr_as(bigint(Func::sum(Expr::col(Tlog::Score)).into()), "score_sum")
        .expr_as(Func::max(Expr::case(found.clone(), Expr::col(Tlog::Date)).finally(Expr::null())), "found_last")
        .expr_as(bigint(Func::sum(Expr::case(found, 1).finally(0)).into()), "found_n")
        .from(Tlog::Table)
        .and_where(Expr::col(Tlog::TrigId).eq(trig_id))
        .to_owned();
    let l: Option<LogAggregate> = tx.fetch_optional(&logs).await?;
    let photo_count = match recount {
        Recount::Logs => None,
        Recount::LogsAndPhotos => {
            let photos = Query::select()
                .expr_as(Func::count(Expr::col(Asterisk)), "n")
                .from(Tphoto::Table)
                .inner_join(Tlog::Table, Expr::col((Tlog::Table, Tlog::Id)).equals((Tphoto::Table, Tphoto::TlogId)))
                .and_where(Expr::col((Tlog::Table, Tlog::TrigId)).eq(trig_id))
                .and_where(Expr::col((Tphoto::Table, Tphoto::DeletedInd)).ne("Y"))
                .to_owned();
            Some(tx.fetch_optional::<CountRow>(&photos).await?.map_or(0, |p| p.n))
        }
    };
    let (first, last, n, sum, found_last, found_n) = l.map_or((None, None, 0, 0, None, 0), |l| {
        (l.first, l.last, l.n, l.score_sum.unwrap_or(0), l.found_last, l.found_n.unwrap_or(0))
    });
    let (mean, bayes) = scores(sum, n);
    let values = [
        (Trigstats::LoggedFirst, Expr::val(first)),
        (Trigstats::LoggedLast, Expr::val(last)),
        (Trigstats::LoggedCount, Expr::val(n)),
        (Trigstats::FoundLast, Expr::val(found_last)),
        (Trigstats::FoundCount, Expr::val(found_n)),
        (Trigstats::ScoreMean, Expr::val(mean)),
        (Trigstats::ScoreBaysian, Expr::val(bayes)),
    ];
    let mut values = values.to_vec();
    if let Some(photos) = photo_count {
        values.push((Trigstats::PhotoCount, Expr::val(photos)));
    }
    let mut insert = Query::insert();
    insert
        .into_table(Trigstats::Table)
        .columns(std::iter::once(Trigstats::Id).chain(values.iter().map(|(c, _)| *c)))
        .values(std::iter::once(Expr::val(trig_id)).chain(values.iter().map(|(_, v)| v.clone())))?
        .on_conflict(OnConflict::column(Trigstats::Id).update_columns(values.iter().map(|(c, _)| *c)).to_owned());
    tx.execute(&insert).await?;
    Ok(())
}
