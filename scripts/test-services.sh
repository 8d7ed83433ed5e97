#!/usr/bin/env bash
# Make sure PostgreSQL (127.0.0.1:5432, trust auth) and MariaDB (127.0.0.1:3306, root without a
# password) are running for the test suite, and that `redis-server` and moto (an S3-compatible
# server, from PyPI) are installed (the cache and photo-store tests start their own servers on
# free ports). Installs what is missing with apt on a Debian/Ubuntu
# machine (needs root). Prints the variables to export.
set -euo pipefail

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
apt_ready=0
apt_install() {
  if [ "$apt_ready" = 0 ]; then as_root apt-get update -qq; apt_ready=1; fi
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq "$@" >/dev/null
}
wait_port() { for _ in $(seq 1 60); do port_open "$1" && return 0; sleep 0.5; done; echo "port $1 did not open" >&2; return 1; }

if ! port_open 5432; then
  command -v pg_ctlcluster >/dev/null || apt_install postgresql
  version=$(ls /etc/postgresql | sort -V | tail -1)
  conf=/etc/postgresql/$version/main/pg_hba.conf
  # Local trust auth for the test user (a throwaway test server; never do this in production).
  if ! grep -q "trigapi-tests" "$conf"; then
    as_root sed -i '1i host all all 127.0.0.1/32 trust # trigapi-tests' "$conf"
  fi
  as_root pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
  wait_port 5432
fi

if ! port_open 3306; then
  command -v mariadbd >/dev/null || apt_install mariadb-server
  as_root mkdir -p /run/mysqld && as_root chown mysql:mysql /run/mysqld 2>/dev/null || true
  as_root start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd -- --user=mysql
  wait_port 3306
  # Debian's root uses unix_socket auth; the tests connect over TCP without a password.
  as_root mariadb -e "ALTER USER 'root'@'localhost' IDENTIFIED VIA mysql_native_password USING PASSWORD(''); FLUSH PRIVILEGES;" 2>/dev/null || true
fi

# A PostgreSQL cluster of the tests' own with wal_level=logical, on a free port, for the
# change-stream tests (the machine's server keeps the default wal_level=replica). Debian's
# postgresql-common makes and starts it; its data is throwaway (fsync off). Commits stay
# synchronous: logical decoding sends a commit only once its WAL is flushed.
logical_port() { pg_lsclusters -h 2>/dev/null | awk '$2 == "trigapi_logical" { print $3 }'; }
if command -v pg_createcluster >/dev/null; then
  version=$(ls /usr/lib/postgresql | sort -V | tail -1)
  if [ -z "$(logical_port)" ]; then
    port=5433
    while port_open "$port"; do port=$((port + 1)); done
    as_root pg_createcluster "$version" trigapi_logical -p "$port" -- --auth=trust >/dev/null
    printf '%s\n' "wal_level = logical" "max_replication_slots = 40" "max_wal_senders = 40" \
      "listen_addresses = '127.0.0.1'" "fsync = off" "full_page_writes = off" \
      | as_root tee -a "/etc/postgresql/$version/trigapi_logical/postgresql.conf" >/dev/null
  fi
  port=$(logical_port)
  port_open "$port" || as_root pg_ctlcluster --skip-systemctl-redirect "$version" trigapi_logical start >&2
  wait_port "$port"
  logical_url="postgres://postgres@127.0.0.1:$port/postgres"
fi

# A MariaDB of the tests' own with a row-based binlog (full row images and column names), on a
# free port, for the change-stream tests (the machine's server has no binlog). Its data lives in
# /var/tmp/trigapi-binlog-mariadb and is throwaway.
binlog_dir=/var/tmp/trigapi-binlog-mariadb
binlog_port() { cat "$binlog_dir/port" 2>/dev/null; }
if command -v mariadbd >/dev/null; then
  if [ ! -f "$binlog_dir/port" ]; then
    as_root rm -rf "$binlog_dir"
    as_root mkdir -p "$binlog_dir/data"
    as_root chown -R mysql:mysql "$binlog_dir"
    as_root mariadb-install-db --user=mysql --datadir="$binlog_dir/data" \
      --auth-root-authentication-method=normal >/dev/null
    port=3307
    while port_open "$port"; do port=$((port + 1)); done
    echo "$port" | as_root tee "$binlog_dir/port" >/dev/null
  fi
  port=$(binlog_port)
  if ! port_open "$port"; then
    as_root mkdir -p /run/mysqld && as_root chown mysql:mysql /run/mysqld
    as_root setsid nohup /usr/sbin/mariadbd --no-defaults --user=mysql --datadir="$binlog_dir/data" \
      --port="$port" --bind-address=127.0.0.1 --socket="$binlog_dir/mariadbd.sock" \
      --pid-file="$binlog_dir/mariadbd.pid" --log-error="$binlog_dir/error.log" \
      --log-bin=binlog --binlog-format=ROW --binlog-row-image=FULL --binlog-row-metadata=FULL \
      --server-id=1 --innodb-flush-log-at-trx-commit=2 --sync-binlog=0 \
      --max-connections=500 </dev/null >/dev/null 2>&1 &
  fi
  wait_port "$port"
  binlog_url="mysql://root@127.0.0.1:$port/mysql"
fi

command -v redis-server >/dev/null || apt_install redis-server
command -v redis-cli >/dev/null || apt_install redis-tools
command -v openssl >/dev/null || apt_install openssl   # the TLS test makes a certificate

# moto, an S3-compatible server, for the photo-store test (it starts its own on a free port).
if ! python3 -c "import moto.server" 2>/dev/null; then
  command -v python3 >/dev/null && python3 -m pip --version >/dev/null 2>&1 || apt_install python3-pip
  python3 -m pip install --quiet "moto[server]" >&2 2>/dev/null \
    || python3 -m pip install --quiet --break-system-packages "moto[server]" >&2
fi

echo "export TEST_POSTGRES_URL=postgres://postgres@127.0.0.1:5432/postgres"
echo "export TEST_MYSQL_URL=mysql://root@127.0.0.1:3306/mysql"
[ -n "${logical_url:-}" ] && echo "export TEST_POSTGRES_LOGICAL_URL=$logical_url"
[ -n "${binlog_url:-}" ] && echo "export TEST_MYSQL_BINLOG_URL=$binlog_url"
echo "export TRIGAPI_REQUIRE_REDIS=1"
echo "export TRIGAPI_REQUIRE_S3=1"
