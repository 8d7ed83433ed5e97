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
    osgb_eastings INT NOT NULL,
    osgb_northings INT NOT NULL,
    osgb_gridref CHAR(14) NOT NULL DEFAULT '',
    UNIQUE KEY ux_town_place (name, osgb_eastings, osgb_northings)
);

-- Postcode sectors (`SW1A 1`) and, in rows whose code is its own `code4`, districts (`SW1A`);
-- the legacy table's columns.
CREATE TABLE IF NOT EXISTS postcode6 (
    code VARCHAR(6) NOT NULL PRIMARY KEY,
    code4 VARCHAR(4) NOT NULL DEFAULT '',
    wgs_lat DECIMAL(9,6) NOT NULL DEFAULT 0,
    wgs_long DECIMAL(9,6) NOT NULL DEFAULT 0,
    osgb_eastings INT NOT NULL,
    osgb_northings INT NOT NULL,
    osgb_gridref CHAR(14) NOT NULL DEFAULT '',
    county VARCHAR(50) NOT NULL DEFAULT '',
    town VARCHAR(50) NOT NULL DEFAULT '',
    postal_town VARCHAR(50) NOT NULL DEFAULT '',
    KEY ix_postcode6_code4 (code4)
);

-- Unit postcodes (`SW1A 1AA`), with the space.
CREATE TABLE IF NOT EXISTS postcodes (
    code VARCHAR(10) NOT NULL PRIMARY KEY,
    lat DECIMAL(10,7) NOT NULL,
    `long` DECIMAL(11,7) NOT NULL
);

CREATE INDEX IF NOT EXISTS ix_trig_name ON trig (name);
CREATE INDEX IF NOT EXISTS ix_trig_waypoint ON trig (waypoint);
CREATE INDEX IF NOT EXISTS ix_trig_stn_number ON trig (stn_number);

-- Words of log comments: a substring search narrows by the words it contains (`+pillar*`),
-- then checks the substring itself on those rows only.
CREATE FULLTEXT INDEX IF NOT EXISTS ft_tlog_comment ON tlog (comment);
