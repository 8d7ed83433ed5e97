#!/usr/bin/env python3
"""Another program writing trigapi's database (a SQLite file; PostgreSQL when DB is a
postgres:// URL, through psycopg2; MySQL/MariaDB when it is a mysql:// URL, through PyMySQL), for
the change-stream benchmark (scripts/bench.sh changes).

  change-writer.py DB rate RATE SECONDS      commit one log edit at a time, RATE a second
  change-writer.py DB fresh URL N            commit N edits one by one; after each, read the log
                                             through the server until it shows the edit: the
                                             delay from commit to a fresh read, p50/p99 in ms
  change-writer.py DB bulk N                 one UPDATE of N logs; prints its time in ms
  change-writer.py DB sql STATEMENT          run one statement
"""
import json
import sqlite3
import sys
import time
import urllib.request


class Postgres:
    """psycopg2 in autocommit, with sqlite3's `execute(sql, params)` and `?` placeholders."""

    def __init__(self, url):
        import psycopg2

        self.conn = psycopg2.connect(url)
        self.conn.autocommit = True
        # A commit reaches logical decoding once its WAL is flushed: the default, whatever the
        # server's own setting (test-services.sh's cluster may not flush at each commit).
        self.execute("SET synchronous_commit = on")

    def execute(self, sql, params=()):
        cur = self.conn.cursor()
        cur.execute(sql.replace("?", "%s"), params)
        return cur.fetchall() if cur.description else []


class MySql(Postgres):
    """PyMySQL in autocommit, with the same `execute`."""

    def __init__(self, url):
        import urllib.parse

        import pymysql

        u = urllib.parse.urlparse(url)
        self.conn = pymysql.connect(
            host=u.hostname or "127.0.0.1",
            port=u.port or 3306,
            user=urllib.parse.unquote(u.username or "root"),
            password=urllib.parse.unquote(u.password or ""),
            database=u.path.lstrip("/"),
            autocommit=True,
        )


def connect(target):
    if target.startswith("postgres"):
        return Postgres(target)
    if target.startswith("mysql"):
        return MySql(target)
    db = sqlite3.connect(target, isolation_level=None, timeout=30)
    db.execute("PRAGMA busy_timeout = 30000")
    # What the server's own pool uses: WAL without a sync per commit.
    db.execute("PRAGMA synchronous = NORMAL")
    return db


def log_ids(db, n):
    return [r[0] for r in db.execute("SELECT id FROM tlog ORDER BY id LIMIT ?", (n,))]


def rate(db, per_second, seconds):
    ids = log_ids(db, 5000)
    start = time.monotonic()
    n = 0
    while time.monotonic() - start < seconds:
        due = start + n / per_second
        pause = due - time.monotonic()
        if pause > 0:
            time.sleep(pause)
        # Unique to the run: an update that changes nothing is no change to any database.
        db.execute("UPDATE tlog SET comment = ? WHERE id = ?", (f"rate {start} {n}", ids[n % len(ids)]))
        n += 1
    print(f"{n} commits in {time.monotonic() - start:.1f} s")


def fresh(db, url, count):
    ids = log_ids(db, count)
    delays = []
    for n, log in enumerate(ids):
        uri = f"{url}/v1/logs/{log}"
        urllib.request.urlopen(uri).read()  # warm
        urllib.request.urlopen(uri).read()
        text = f"fresh {time.time()} {n}"
        db.execute("UPDATE tlog SET comment = ? WHERE id = ?", (text, log))
        committed = time.monotonic()
        while json.loads(urllib.request.urlopen(uri).read())["comment"] != text:
            if time.monotonic() - committed > 10:
                sys.exit(f"log {log} still stale after 10 s")
        delays.append((time.monotonic() - committed) * 1000)
        time.sleep(0.02)
    delays.sort()
    pick = lambda q: delays[min(len(delays) - 1, max(0, int(len(delays) * q + 0.999999) - 1))]
    print(f"{len(delays)} edits: commit to fresh read p50 {pick(0.5):.1f} ms, p99 {pick(0.99):.1f} ms, max {delays[-1]:.1f} ms")


def bulk(db, n):
    started = time.monotonic()
    if isinstance(db, MySql):
        db.execute(
            "UPDATE tlog SET upd_timestamp = NOW() + INTERVAL ? SECOND ORDER BY id LIMIT ?",
            (int(time.time()) % 100000, n),
        )
    elif isinstance(db, Postgres):
        db.execute(
            "UPDATE tlog SET upd_timestamp = now() + make_interval(secs => ?) "
            "WHERE id IN (SELECT id FROM tlog ORDER BY id LIMIT ?)",
            (int(time.time()) % 100000, n),
        )
    else:
        db.execute(
            "UPDATE tlog SET upd_timestamp = datetime('now', ?) WHERE id IN (SELECT id FROM tlog ORDER BY id LIMIT ?)",
            (f"+{int(time.time()) % 100000} seconds", n),
        )
    print(f"{(time.monotonic() - started) * 1000:.0f}")


if __name__ == "__main__":
    db = connect(sys.argv[1])
    mode = sys.argv[2]
    if mode == "rate":
        rate(db, float(sys.argv[3]), float(sys.argv[4]))
    elif mode == "fresh":
        fresh(db, sys.argv[3], int(sys.argv[4]))
    elif mode == "bulk":
        bulk(db, int(sys.argv[3]))
    elif mode == "sql":
        db.execute(sys.argv[3])
    else:
        sys.exit(__doc__)
