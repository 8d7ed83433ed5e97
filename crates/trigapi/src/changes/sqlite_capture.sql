-- The change table of the SQLite change stream (CHANGE_STREAM=on), installed at start when
-- it is turned on: triggers (made in `sqlite.rs`, one per table and kind of change) record
-- every committed change to a table the cache reads, from any program that writes the file,
-- with the old and new values the invalidation table needs.
-- Readers (trigapi instances) keep their positions in trigapi_change_reader; rows every reader
-- has applied are trimmed. Plain SQL that any SQLite from 3.38 (JSON built in) runs, so an
-- older sqlite3 shell writing the file still fires them.

CREATE TABLE IF NOT EXISTS trigapi_change (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    -- Unix milliseconds of the change (the lag is measured from it).
    at_ms INTEGER NOT NULL DEFAULT (CAST((julianday('now') - 2440587.5) * 86400000.0 AS INTEGER)),
    tbl TEXT NOT NULL,
    old TEXT,
    new TEXT
);

CREATE INDEX IF NOT EXISTS trigapi_change_tbl ON trigapi_change (tbl, seq);

CREATE TABLE IF NOT EXISTS trigapi_change_reader (
    name TEXT PRIMARY KEY,
    -- The last change applied (its tags bumped).
    seq INTEGER NOT NULL,
    -- The last change read: claimed before its tags are bumped (see `WHOLE` in sqlite.rs).
    claimed INTEGER NOT NULL DEFAULT 0,
    -- When the reader was last alive (Unix ms); readers silent for a minute are dropped.
    seen_ms INTEGER NOT NULL
);
