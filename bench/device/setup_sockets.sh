#!/usr/bin/env bash
# On the device machine, from the project root, after bench/device/pack_sockets.sh filled
# .device-sockets/ here: Deno in /opt/deno, the packed node_modules (used as they are:
# deno.json's nodeModulesDir becomes "manual" in this throwaway copy), libopus in /opt/opus,
# and Debian's PostgreSQL 15 started on 127.0.0.1:5432 as user `pgbench`, pinned to the cores
# in PG_CPUS (default: the upper half), database `postgres`, role `ci` without a password.
# Then: export PATH=/opt/deno:$PATH LD_LIBRARY_PATH=/opt/opus \
#   BENCH_DATABASE_URL=postgres://ci@127.0.0.1:5432/postgres; deno task bench:sockets ...
set -euo pipefail
pack=.device-sockets
mkdir -p /opt/deno /opt/pgroot
xz -dc "$pack/deno.xz" >/opt/deno/deno && chmod +x /opt/deno/deno
[ -d node_modules ] || tar -xJf "$pack/node_modules.tar.xz"
sed -i 's/"nodeModulesDir": "auto"/"nodeModulesDir": "manual"/' deno.json
tar -xJf "$pack/postgres.tar.xz" -C /opt/pgroot
rm -rf /opt/opus && mv /opt/pgroot/opus /opt/opus
id pgbench >/dev/null 2>&1 || useradd -M -s /bin/sh pgbench
data=/tmp/pgdata
bin=/opt/pgroot/pg/usr/lib/postgresql/15/bin
as_pg() { runuser -u pgbench -- env LD_LIBRARY_PATH=/opt/pgroot/pg/lib "$@"; }
# A machine still warm from an earlier call may still run the server this script started.
[ -f "$data/postmaster.pid" ] && as_pg "$bin/pg_ctl" -D "$data" -m fast -w stop >/dev/null
rm -rf "$data" && mkdir -p "$data" && chown pgbench "$data"
as_pg "$bin/initdb" -D "$data" -U ci --auth=trust >/dev/null
cores=$(nproc)
pg_cpus=${PG_CPUS:-$((cores / 2))-$((cores - 1))}
as_pg taskset -c "$pg_cpus" "$bin/pg_ctl" -D "$data" -l /tmp/pg.log -w -o \
  "-c listen_addresses=127.0.0.1 -c unix_socket_directories=/tmp" start >/dev/null
echo "postgres on cores $pg_cpus; $(lscpu | grep 'Model name' | sed 's/  */ /g'); $cores cores"
