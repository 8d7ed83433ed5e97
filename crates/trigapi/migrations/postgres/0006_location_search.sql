-- Location search: the site's gazetteer tables (created only where missing, as the legacy
-- schema has them; `trigapi seed` and `trigapi import` fill them) and a trigram index of log
-- comments.
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

-- Prefix searches (`LIKE 'SW1A%'`, `lower(name) LIKE 'ben%'`) in any collation.
CREATE INDEX IF NOT EXISTS ix_postcodes_code_prefix ON postcodes (code varchar_pattern_ops);
CREATE INDEX IF NOT EXISTS ix_town_name_lower ON town (lower(name) varchar_pattern_ops);
CREATE INDEX IF NOT EXISTS ix_trig_name_lower ON trig (lower(name) varchar_pattern_ops);
CREATE INDEX IF NOT EXISTS ix_trig_waypoint ON trig (waypoint varchar_pattern_ops);
CREATE INDEX IF NOT EXISTS ix_trig_stn_number ON trig (upper(stn_number) varchar_pattern_ops);

-- Substrings of names and log comments (`lower(comment) LIKE '%pillar%'`) from trigram
-- indexes. pg_trgm is a trusted extension: the database's owner may create it.
CREATE EXTENSION IF NOT EXISTS pg_trgm;
CREATE INDEX IF NOT EXISTS ix_tlog_comment_trgm ON tlog USING gin (lower(comment) gin_trgm_ops);
CREATE INDEX IF NOT EXISTS ix_trig_name_trgm ON trig USING gin (lower(name) gin_trgm_ops);
CREATE INDEX IF NOT EXISTS ix_user_name_trgm ON "user" USING gin (lower(name) gin_trgm_ops);
CREATE INDEX IF NOT EXISTS ix_town_name_trgm ON town USING gin (lower(name) gin_trgm_ops);
