#!/bin/sh
# PgBouncer's configuration from the environment, written to /tmp (tmpfs), then pgbouncer itself.
# The password goes into the user list (mode 0600), never onto a command line.
#   DB_HOST DB_PORT DB_NAME DB_USER DB_PASSWORD   the PostgreSQL server and the applications' role
#   POOL_MODE                                     session (default) or transaction
#   OPENWEBUI_REPLICAS CELERY_CONCURRENCY         the clients, for the sizing below
# PGBOUNCER_RENDER_ONLY=1 prints the configuration (without the user list) instead of starting.
# Outside the image (test/stack/pgbouncer.test.ts runs this script with Debian's pgbouncer on the
# host): PGBOUNCER_LISTEN_ADDR (0.0.0.0), PGBOUNCER_LISTEN_PORT (6432), PGBOUNCER_RUN_DIR (/tmp/pgbouncer).
set -eu
: "${DB_NAME:?DB_NAME is required}" "${DB_USER:?DB_USER is required}" "${DB_PASSWORD:?DB_PASSWORD is required}"
case "${POOL_MODE:-session}" in session|transaction) ;; *) echo "POOL_MODE must be session or transaction (got ${POOL_MODE})" >&2; exit 2 ;; esac
replicas=${OPENWEBUI_REPLICAS:-1}
workers=${CELERY_CONCURRENCY:-2}
# Clients: each Open WebUI replica opens up to 100 connections (one per request thread, it pools
# nothing itself); GraphRAG's API, beat and each Celery worker process up to 10.
max_client_conn=$(( replicas * 100 + (workers + 2) * 10 + 20 ))
# Server connections: 20 per Open WebUI replica, 5 per GraphRAG process, within what PostgreSQL
# gives the applications (max_connections 200, 20 kept for backups, the exporter and admins).
pool=$(( replicas * 20 + (workers + 2) * 5 ))
[ "$pool" -le 180 ] || pool=180
dir=${PGBOUNCER_RUN_DIR:-/tmp/pgbouncer}
mkdir -p "$dir"
umask 077
conf="[databases]
${DB_NAME} = host=${DB_HOST:-postgres} port=${DB_PORT:-5432} dbname=${DB_NAME}

[pgbouncer]
listen_addr = ${PGBOUNCER_LISTEN_ADDR:-0.0.0.0}
listen_port = ${PGBOUNCER_LISTEN_PORT:-6432}
unix_socket_dir =
pidfile =
logfile =
auth_type = scram-sha-256
auth_file = ${dir}/userlist.txt
pool_mode = ${POOL_MODE:-session}
max_client_conn = ${max_client_conn}
default_pool_size = ${pool}
max_db_connections = ${pool}
reserve_pool_size = 0
server_reset_query = DISCARD ALL
server_check_query = select 1
ignore_startup_parameters = extra_float_digits,options
stats_users = ${DB_USER}
log_connections = 0
log_disconnections = 0"
if [ "${PGBOUNCER_RENDER_ONLY:-}" = 1 ]; then printf '%s\n' "$conf"; exit 0; fi
printf '%s\n' "$conf" > "$dir/pgbouncer.ini"
printf '"%s" "%s"\n' "$DB_USER" "$DB_PASSWORD" > "$dir/userlist.txt"
exec pgbouncer "$dir/pgbouncer.ini"
