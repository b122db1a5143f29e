#!/usr/bin/env bash
# A PostgreSQL primary and a synchronous streaming standby on spare ports, made with Debian's tools
# (pg_createcluster, pg_basebackup -R), for the failover test; and their removal.
#   pg-ha.sh up NAME PRIMARY_PORT STANDBY_PORT DATABASE
#   pg-ha.sh down NAME            (whatever state they are in)
#   pg-ha.sh failover NAME        (primary stopped -m immediate, standby promoted)
# Needs root (CI and the developers' machines run as root). Never touches the main cluster.
set -euo pipefail
version=$(ls /etc/postgresql | sort -V | tail -1)
bin=/usr/lib/postgresql/$version/bin
ctl() { pg_ctlcluster --skip-systemctl-redirect "$version" "$@"; }

case "$1" in
up)
  name=$2 pport=$3 sport=$4 db=$5
  # Trust on 127.0.0.1 only, for the test's own clusters; replication connections included.
  pg_createcluster "$version" "${name}p" -p "$pport" -- --auth=trust >/dev/null
  cat >"/etc/postgresql/$version/${name}p/conf.d/ha.conf" <<CONF
listen_addresses = '127.0.0.1'
wal_level = replica
max_wal_senders = 4
ssl = off
shared_buffers = 32MB
CONF
  ctl "${name}p" start
  runuser -u postgres -- "$bin/psql" -h 127.0.0.1 -p "$pport" -U postgres -qc "create database $db" >/dev/null
  pg_createcluster "$version" "${name}s" -p "$sport" -- --auth=trust >/dev/null
  data=/var/lib/postgresql/$version/${name}s
  find "$data" -mindepth 1 -delete
  runuser -u postgres -- "$bin/pg_basebackup" -h 127.0.0.1 -p "$pport" -U postgres -D "$data" -R -X stream --checkpoint=fast
  cp "/etc/postgresql/$version/${name}p/conf.d/ha.conf" "/etc/postgresql/$version/${name}s/conf.d/ha.conf"
  ctl "${name}s" start
  # Synchronous only now, and only in the primary's own configuration: a promoted standby must
  # not wait for a standby of its own.
  echo "synchronous_standby_names = '*'" >>"/etc/postgresql/$version/${name}p/conf.d/ha.conf"
  ctl "${name}p" reload
  for _ in $(seq 1 100); do
    state=$(runuser -u postgres -- "$bin/psql" -h 127.0.0.1 -p "$pport" -U postgres -Atc "select sync_state from pg_stat_replication" 2>/dev/null || true)
    [ "$state" = sync ] && exit 0
    sleep 0.2
  done
  echo "the standby did not become synchronous (state: ${state:-none})" >&2
  exit 1
  ;;
failover)
  name=$2
  ctl "${name}p" stop -m immediate
  ctl "${name}s" promote
  ;;
down)
  name=$2
  for c in p s; do
    if [ -d "/etc/postgresql/$version/${name}$c" ]; then
      ctl "${name}$c" stop -m immediate >/dev/null 2>&1 || true
      pg_dropcluster "$version" "${name}$c" --stop >/dev/null 2>&1 || true
    fi
  done
  ;;
*)
  echo "usage: pg-ha.sh up NAME PRIMARY_PORT STANDBY_PORT DATABASE | failover NAME | down NAME" >&2
  exit 2
  ;;
esac
