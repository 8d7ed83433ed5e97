-- Row ids are never reused (SQLite's AUTOINCREMENT): a plain INTEGER PRIMARY KEY gives a new
-- row the largest id + 1, so the id of a user (or log, or photo) deleted at the end of the
-- table went to the next one, which then inherited whatever still named the old id.
-- SQLite cannot add AUTOINCREMENT to a table, so the three tables the API inserts into are
-- rebuilt; their ids are copied as they are, and sqlite_sequence starts at the largest.

CREATE TABLE "user_rebuilt" (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name VARCHAR(30) NOT NULL,
    firstname VARCHAR(30) NOT NULL DEFAULT '',
    surname VARCHAR(30) NOT NULL DEFAULT '',
    email VARCHAR(255) NOT NULL DEFAULT '',
    email_valid CHAR(1) NOT NULL DEFAULT 'N',
    email_ind CHAR(1) NOT NULL DEFAULT 'N',
    email_challenge VARCHAR(40) NOT NULL DEFAULT '',
    homepage VARCHAR(255) NOT NULL DEFAULT '',
    distance_ind CHAR(1) NOT NULL DEFAULT 'K',
    about TEXT NOT NULL DEFAULT '',
    status_max INTEGER NOT NULL DEFAULT 0,
    public_ind CHAR(1) NOT NULL DEFAULT 'N',
    cryptpw VARCHAR(34) NOT NULL DEFAULT '',
    auth0_user_id VARCHAR(50),
    crt_date DATE NOT NULL,
    crt_time TIME NOT NULL,
    upd_timestamp TIMESTAMP,
    online_map_type VARCHAR(10) NOT NULL DEFAULT '',
    online_map_type2 VARCHAR(10) NOT NULL DEFAULT 'lla',
    cacher_id INTEGER NOT NULL DEFAULT 0,
    home1_name VARCHAR(30) NOT NULL DEFAULT '',
    home1_eastings INTEGER NOT NULL DEFAULT 0,
    home1_northings INTEGER NOT NULL DEFAULT 0,
    home1_gridref VARCHAR(14) NOT NULL DEFAULT '',
    album_rows INTEGER NOT NULL DEFAULT 4,
    album_cols INTEGER NOT NULL DEFAULT 4,
    admin_ind CHAR(1) NOT NULL DEFAULT 'N',
    disclaimer_ind CHAR(1) NOT NULL DEFAULT 'N',
    nearest_max_m INTEGER NOT NULL DEFAULT 10000,
    showscores CHAR(1) NOT NULL DEFAULT 'Y',
    showhandi CHAR(1) NOT NULL DEFAULT 'Y'
);
INSERT INTO "user_rebuilt" SELECT * FROM "user";
DROP TABLE "user";
ALTER TABLE "user_rebuilt" RENAME TO "user";

CREATE TABLE "tlog_rebuilt" (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    trig_id INTEGER NOT NULL,
    user_id INTEGER NOT NULL,
    date DATE NOT NULL,
    time TIME NOT NULL,
    osgb_eastings INTEGER,
    osgb_northings INTEGER,
    osgb_gridref VARCHAR(14),
    fb_number VARCHAR(10) NOT NULL DEFAULT '',
    condition CHAR(1) NOT NULL,
    comment TEXT NOT NULL DEFAULT '',
    score INTEGER NOT NULL DEFAULT 0,
    ip_addr VARCHAR(15) NOT NULL DEFAULT '',
    source CHAR(1) NOT NULL DEFAULT 'W',
    upd_timestamp TIMESTAMP
);
INSERT INTO "tlog_rebuilt" SELECT * FROM tlog;
DROP TABLE tlog;
ALTER TABLE "tlog_rebuilt" RENAME TO tlog;

CREATE TABLE "tphoto_rebuilt" (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    tlog_id INTEGER NOT NULL,
    server_id INTEGER NOT NULL,
    type CHAR(1) NOT NULL DEFAULT '',
    filename VARCHAR(255) NOT NULL DEFAULT '',
    filesize INTEGER NOT NULL DEFAULT 0,
    height INTEGER NOT NULL DEFAULT 0,
    width INTEGER NOT NULL DEFAULT 0,
    icon_filename VARCHAR(255) NOT NULL DEFAULT '',
    icon_filesize INTEGER NOT NULL DEFAULT 0,
    icon_height INTEGER NOT NULL DEFAULT 0,
    icon_width INTEGER NOT NULL DEFAULT 0,
    name VARCHAR(80) NOT NULL DEFAULT '',
    text_desc TEXT NOT NULL DEFAULT '',
    ip_addr VARCHAR(15) NOT NULL DEFAULT '',
    public_ind CHAR(1) NOT NULL DEFAULT 'N',
    deleted_ind CHAR(1) NOT NULL DEFAULT 'N',
    source CHAR(1) NOT NULL DEFAULT 'W',
    crt_timestamp TIMESTAMP
);
INSERT INTO "tphoto_rebuilt" SELECT * FROM tphoto;
DROP TABLE tphoto;
ALTER TABLE "tphoto_rebuilt" RENAME TO tphoto;

CREATE INDEX IF NOT EXISTS ix_tlog_recent ON tlog (date, time, id);
CREATE INDEX IF NOT EXISTS ix_tlog_trig ON tlog (trig_id, date, time, id);
CREATE INDEX IF NOT EXISTS ix_tlog_user ON tlog (user_id, date, time, id);
CREATE INDEX IF NOT EXISTS ix_tlog_upd ON tlog (upd_timestamp);
CREATE INDEX IF NOT EXISTS ix_tphoto_tlog ON tphoto (tlog_id, id);
CREATE INDEX IF NOT EXISTS ix_tphoto_live ON tphoto (deleted_ind, id);
CREATE INDEX IF NOT EXISTS ix_user_name ON "user" (name);
CREATE INDEX IF NOT EXISTS ix_user_crt_date ON "user" (crt_date);
CREATE INDEX IF NOT EXISTS ix_user_auth0 ON "user" (auth0_user_id);
CREATE INDEX IF NOT EXISTS ix_tlog_user_trig ON tlog (user_id, trig_id, condition);
CREATE INDEX IF NOT EXISTS ix_tlog_trig_stats ON tlog (trig_id, date, score, condition);
CREATE INDEX IF NOT EXISTS ix_tphoto_tlog_deleted ON tphoto (tlog_id, deleted_ind);
