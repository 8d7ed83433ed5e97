-- Exact row counts for the big tables, kept by statement-level triggers (one UPDATE per
-- statement, whatever its row count, via transition tables). PostgreSQL has no O(1) COUNT(*):
-- counting 470k logs takes tens of milliseconds even as an index-only scan. The counters are
-- updated inside the writing transaction, so readers see exactly what COUNT(*) would.
CREATE TABLE IF NOT EXISTS trigapi_row_counts (
    table_name VARCHAR(32) PRIMARY KEY,
    n BIGINT NOT NULL
);

CREATE OR REPLACE FUNCTION trigapi_count_inserted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE trigapi_row_counts SET n = n + (SELECT COUNT(*) FROM new_rows) WHERE table_name = TG_TABLE_NAME;
    RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION trigapi_count_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE trigapi_row_counts SET n = n - (SELECT COUNT(*) FROM old_rows) WHERE table_name = TG_TABLE_NAME;
    RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION trigapi_count_truncated() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE trigapi_row_counts SET n = 0 WHERE table_name = TG_TABLE_NAME;
    RETURN NULL;
END $$;

DO $$
DECLARE t TEXT;
BEGIN
    FOREACH t IN ARRAY ARRAY['trig', 'user', 'tlog', 'tphoto'] LOOP
        EXECUTE format('LOCK TABLE %I IN SHARE MODE', t);
        EXECUTE format('INSERT INTO trigapi_row_counts (table_name, n) SELECT %L, COUNT(*) FROM %I
                        ON CONFLICT (table_name) DO UPDATE SET n = EXCLUDED.n', t, t);
        EXECUTE format('CREATE TRIGGER trigapi_count_ins AFTER INSERT ON %I REFERENCING NEW TABLE AS new_rows
                        FOR EACH STATEMENT EXECUTE FUNCTION trigapi_count_inserted()', t);
        EXECUTE format('CREATE TRIGGER trigapi_count_del AFTER DELETE ON %I REFERENCING OLD TABLE AS old_rows
                        FOR EACH STATEMENT EXECUTE FUNCTION trigapi_count_deleted()', t);
        EXECUTE format('CREATE TRIGGER trigapi_count_trunc AFTER TRUNCATE ON %I
                        FOR EACH STATEMENT EXECUTE FUNCTION trigapi_count_truncated()', t);
    END LOOP;
END $$;
