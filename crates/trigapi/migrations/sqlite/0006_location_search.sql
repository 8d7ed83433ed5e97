-- Location search: the site's gazetteer tables (created only where missing, as the legacy
-- schema has them; `trigapi seed` and `trigapi import` fill them) and a full-text index of
-- log comments.
--
-- `town` keeps places of the same name apart (two Buxtons): the legacy table's key on the
-- name alone is replaced here by one on the name and its grid position.
CREATE TABLE IF NOT EXISTS town (
    name VARCHAR(50) NOT NULL,
    wgs_lat DECIMAL(9,6) NOT NULL,
    wgs_long DECIMAL(9,6) NOT NULL,
    osgb_eastings INTEGER NOT NULL,
    osgb_northings INTEGER NOT NULL,
    osgb_gridref CHAR(14) NOT NULL DEFAULT ''
);
CREATE UNIQUE INDEX IF NOT EXISTS ux_town_place ON town (name, osgb_eastings, osgb_northings);

-- Postcode sectors (`SW1A 1`) and, in rows whose code is its own `code4`, districts (`SW1A`);
-- the legacy table's columns.
CREATE TABLE IF NOT EXISTS postcode6 (
    code VARCHAR(6) PRIMARY KEY,
    code4 VARCHAR(4) NOT NULL DEFAULT '',
    wgs_lat DECIMAL(9,6) NOT NULL DEFAULT 0,
    wgs_long DECIMAL(9,6) NOT NULL DEFAULT 0,
    osgb_eastings INTEGER NOT NULL,
    osgb_northings INTEGER NOT NULL,
    osgb_gridref CHAR(14) NOT NULL DEFAULT '',
    county VARCHAR(50) NOT NULL DEFAULT '',
    town VARCHAR(50) NOT NULL DEFAULT '',
    postal_town VARCHAR(50) NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS ix_postcode6_code4 ON postcode6 (code4);

-- Unit postcodes (`SW1A 1AA`), with the space.
CREATE TABLE IF NOT EXISTS postcodes (
    code VARCHAR(10) PRIMARY KEY,
    lat DECIMAL(10,7) NOT NULL,
    long DECIMAL(11,7) NOT NULL
);

-- Case-insensitive prefix searches of names (`name LIKE 'ben%'` uses these under SQLite's
-- default case-insensitive LIKE only with NOCASE indexes).
CREATE INDEX IF NOT EXISTS ix_town_name_nocase ON town (name COLLATE NOCASE);
CREATE INDEX IF NOT EXISTS ix_trig_name_nocase ON trig (name COLLATE NOCASE);
CREATE INDEX IF NOT EXISTS ix_trig_waypoint ON trig (waypoint);
CREATE INDEX IF NOT EXISTS ix_trig_stn_number ON trig (stn_number);

-- Log comments in an FTS5 trigram index: `LIKE '%pillar%'` is answered from the index for
-- three characters or more. The index holds no copy of the text (it reads `tlog`) and the
-- triggers keep it current for every writer of the file, this server or another.
CREATE VIRTUAL TABLE IF NOT EXISTS tlog_comment_fts USING fts5(
    comment, content='tlog', content_rowid='id', tokenize='trigram'
);
INSERT INTO tlog_comment_fts (tlog_comment_fts) VALUES ('rebuild');

CREATE TRIGGER IF NOT EXISTS tlog_comment_fts_insert AFTER INSERT ON tlog BEGIN
    INSERT INTO tlog_comment_fts (rowid, comment) VALUES (new.id, new.comment);
END;
CREATE TRIGGER IF NOT EXISTS tlog_comment_fts_delete AFTER DELETE ON tlog BEGIN
    INSERT INTO tlog_comment_fts (tlog_comment_fts, rowid, comment) VALUES ('delete', old.id, old.comment);
END;
CREATE TRIGGER IF NOT EXISTS tlog_comment_fts_update AFTER UPDATE OF comment ON tlog BEGIN
    INSERT INTO tlog_comment_fts (tlog_comment_fts, rowid, comment) VALUES ('delete', old.id, old.comment);
    INSERT INTO tlog_comment_fts (rowid, comment) VALUES (new.id, new.comment);
END;
