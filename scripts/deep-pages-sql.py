#!/usr/bin/env python3
"""Deep pages, the query alone: the old statement (join, then LIMIT/OFFSET) against the new one
(the page's ids first, then the join), median of 5 runs through each database's own client.

    python3 scripts/deep-pages-sql.py mysql|postgres|sqlite

Runs on the databases `scripts/bench.sh` seeds at full scale (trigapi_bench on the local
PostgreSQL and MariaDB, $BENCH_DIR/full.db); prints Markdown table rows for docs/BENCHMARKS.md.
"""
import os, subprocess, time, sqlite3, statistics, sys
COLS = "t.id,t.trig_id,t.user_id,t.date,t.time,t.osgb_eastings,t.osgb_northings,t.osgb_gridref,t.fb_number,t.{c},t.comment,t.score,t.source,g.name AS trig_name,u.name AS user_name"
def logs(user, cond_col, order, off, deferred):
    cols = COLS.format(c=cond_col)
    base = f"SELECT {cols} FROM tlog t LEFT JOIN trig g ON g.id=t.trig_id LEFT JOIN {user} u ON u.id=t.user_id"
    o = ",".join(f"t.{x}" for x in order)
    oi = ",".join(order)
    if not deferred:
        return f"{base} ORDER BY {o} LIMIT 10 OFFSET {off}"
    return f"{base} INNER JOIN (SELECT id FROM tlog ORDER BY {oi} LIMIT 10 OFFSET {off}) p ON p.id=t.id ORDER BY {o}"
def photos(user, off, deferred):
    base = (f"SELECT p.id,p.tlog_id,t.user_id,p.type,p.filesize,p.height,p.width,p.name,p.text_desc,p.public_ind,p.filename,p.icon_filename,"
            f"u.name,t.trig_id,g.name,t.date FROM tphoto p LEFT JOIN tlog t ON t.id=p.tlog_id LEFT JOIN {user} u ON u.id=t.user_id LEFT JOIN trig g ON g.id=t.trig_id")
    if not deferred:
        return f"{base} WHERE p.deleted_ind <> 'Y' ORDER BY p.id DESC LIMIT 10 OFFSET {off}"
    return f"{base} INNER JOIN (SELECT id FROM tphoto WHERE deleted_ind <> 'Y' ORDER BY id DESC LIMIT 10 OFFSET {off}) pg ON pg.id=p.id ORDER BY p.id DESC"
backend = sys.argv[1]
user = {"sqlite": '"user"', "postgres": '"user"', "mysql": "`user`"}[backend]
cond = {"mysql": "`condition`"}.get(backend, '"condition"')
cases = [
  ("/v1/logs?skip=469000", lambda d: logs(user, cond, ["date DESC", "time DESC", "id DESC"], 469000, d)),
  ("/v1/logs?order=comment,id&skip=100000", lambda d: logs(user, cond, ["comment", "id"], 100000, d)),
  ("/v1/photos?skip=383000", lambda d: photos(user, 383000, d)),
]
def run(sql):
    if backend == "sqlite":
        c = sqlite3.connect(os.path.join(os.environ.get("BENCH_DIR", "/var/tmp/trigapi-bench"), "full.db"))
        t = time.perf_counter(); c.execute(sql).fetchall(); return time.perf_counter() - t
    cmd = (["psql", "-h", "127.0.0.1", "-U", "postgres", "-d", "trigapi_bench", "-Atqc", sql] if backend == "postgres"
           else ["mariadb", "-uroot", "-N", "trigapi_bench", "-e", sql])
    base = (["psql", "-h", "127.0.0.1", "-U", "postgres", "-d", "trigapi_bench", "-Atqc", "SELECT 1"] if backend == "postgres"
            else ["mariadb", "-uroot", "-N", "trigapi_bench", "-e", "SELECT 1"])
    t = time.perf_counter(); subprocess.run(base, check=True, capture_output=True); empty = time.perf_counter() - t
    t = time.perf_counter(); subprocess.run(cmd, check=True, capture_output=True); return time.perf_counter() - t - empty
for name, sql in cases:
    row = [name]
    for d in (False, True):
        run(sql(d))
        row.append(f"{statistics.median(run(sql(d)) for _ in range(5)) * 1000:.0f} ms")
    print(f"| {backend} | `{row[0]}` | {row[1]} | {row[2]} |")
