//! Totals stay exact while rows come and go (on PostgreSQL they come from trigger-kept counters).

use chrono::{NaiveDate, NaiveTime};
use sea_query::{Expr, ExprTrait, Query};
use trigapi::db::seed_writer::{NewLog, NewPhoto, insert};
use trigapi::db::{Tlog, Tphoto};

use crate::backend_tests;
use crate::helpers::TestApp;

backend_tests!(empty: totals_follow_inserts_and_deletes);

fn log(id: i32) -> NewLog {
    NewLog {
        id,
        trig_id: 1,
        user_id: 1,
        date: NaiveDate::from_ymd_opt(2024, 5, 1).unwrap_or_default(),
        time: NaiveTime::from_hms_opt(12, 0, 0).unwrap_or_default(),
        osgb_eastings: None,
        osgb_northings: None,
        osgb_gridref: None,
        fb_number: String::new(),
        condition: "G".into(),
        comment: String::new(),
        score: 5,
        ip_addr: String::new(),
        source: "W".into(),
        upd_timestamp: None,
    }
}

fn photo(id: i32, deleted: bool) -> NewPhoto {
    NewPhoto {
        id,
        tlog_id: 1,
        server_id: 1,
        kind: "T".into(),
        filename: String::new(),
        filesize: 0,
        height: 0,
        width: 0,
        icon_filename: String::new(),
        icon_filesize: 0,
        icon_height: 0,
        icon_width: 0,
        name: String::new(),
        text_desc: String::new(),
        ip_addr: String::new(),
        public_ind: "Y".into(),
        deleted_ind: if deleted { "Y".into() } else { "N".into() },
        source: "W".into(),
        crt_timestamp: None,
    }
}

async fn totals(app: &TestApp) -> (i64, i64, i64, i64) {
    let s = app.ok("/v1/stats/site").await;
    let logs = app.ok("/v1/logs?limit=1").await["pagination"]["total"].as_i64().unwrap_or(-1);
    let photos = app.ok("/v1/photos?limit=1").await["pagination"]["total"].as_i64().unwrap_or(-1);
    (s["total_logs"].as_i64().unwrap_or(-1), logs, s["total_photos"].as_i64().unwrap_or(-1), photos)
}

async fn totals_follow_inserts_and_deletes(app: TestApp) {
    assert_eq!(totals(&app).await, (0, 0, 0, 0));
    insert(&app.db, &(1..=5).map(log).collect::<Vec<_>>(), |_| {}).await.expect("insert logs");
    insert(&app.db, &(6..=8).map(log).collect::<Vec<_>>(), |_| {}).await.expect("insert logs");
    assert_eq!(totals(&app).await, (8, 8, 0, 0));
    let delete = Query::delete().from_table(Tlog::Table).and_where(Expr::col(Tlog::Id).lte(2)).to_owned();
    assert_eq!(app.db.execute(&delete).await.expect("delete"), 2);
    assert_eq!(totals(&app).await, (6, 6, 0, 0));
    let photos = vec![photo(1, false), photo(2, false), photo(3, true), photo(4, false)];
    insert(&app.db, &photos, |_| {}).await.expect("insert photos");
    assert_eq!(totals(&app).await, (6, 6, 3, 3), "soft-deleted photos are not counted");
    let delete = Query::delete().from_table(Tphoto::Table).and_where(Expr::col(Tphoto::Id).eq(1)).to_owned();
    app.db.execute(&delete).await.expect("delete photo");
    assert_eq!(totals(&app).await, (6, 6, 2, 2));
}
