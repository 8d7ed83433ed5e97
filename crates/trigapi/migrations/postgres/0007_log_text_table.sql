-- Log comments, lower-cased, in a narrow table of their own with the trigram index, kept by
-- triggers for every writer of the database (this server, the legacy site, SQL by hand).
--
-- A trigram index is lossy: PostgreSQL rechecks every candidate row's text. Over `tlog` that
-- reads the wide log rows (20k matches of a common word: 7k heap pages, 36-39 ms); over this
-- table it reads only ids and text. This is what SQLite's FTS5 table is to `tlog` there.
CREATE TABLE IF NOT EXISTS tlog_comment_text (
    id INTEGER PRIMARY KEY,
    comment TEXT NOT NULL
);

-- Statement-level triggers with transition tables: a bulk insert of 470k logs is one
-- INSERT … SELECT here, not 470k. (Transition tables cannot go with `UPDATE OF comment`, so
-- every update of `tlog` runs the update trigger; it writes only the rows whose text changed.)
CREATE OR REPLACE FUNCTION tlog_comment_text_inserted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO tlog_comment_text (id, comment) SELECT id, lower(comment) FROM new_rows
        ON CONFLICT (id) DO UPDATE SET comment = EXCLUDED.comment;
    RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION tlog_comment_text_updated() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM tlog_comment_text WHERE id IN (SELECT id FROM old_rows EXCEPT SELECT id FROM new_rows);
    INSERT INTO tlog_comment_text AS t (id, comment) SELECT id, lower(comment) FROM new_rows
        ON CONFLICT (id) DO UPDATE SET comment = EXCLUDED.comment WHERE t.comment IS DISTINCT FROM EXCLUDED.comment;
    RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION tlog_comment_text_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM tlog_comment_text WHERE id IN (SELECT id FROM old_rows);
    RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION tlog_comment_text_truncated() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    TRUNCATE tlog_comment_text;
    RETURN NULL;
END $$;

LOCK TABLE tlog IN SHARE MODE;
INSERT INTO tlog_comment_text (id, comment) SELECT id, lower(comment) FROM tlog ON CONFLICT (id) DO NOTHING;
CREATE INDEX IF NOT EXISTS ix_tlog_comment_text_trgm ON tlog_comment_text USING gin (comment gin_trgm_ops);

CREATE TRIGGER tlog_comment_text_ins AFTER INSERT ON tlog REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION tlog_comment_text_inserted();
CREATE TRIGGER tlog_comment_text_upd AFTER UPDATE ON tlog REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION tlog_comment_text_updated();
CREATE TRIGGER tlog_comment_text_del AFTER DELETE ON tlog REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION tlog_comment_text_deleted();
CREATE TRIGGER tlog_comment_text_trunc AFTER TRUNCATE ON tlog
    FOR EACH STATEMENT EXECUTE FUNCTION tlog_comment_text_truncated();

-- The index on `tlog` itself is no longer read.
DROP INDEX IF EXISTS ix_tlog_comment_trgm;
