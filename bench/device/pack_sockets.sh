#!/usr/bin/env bash
# Packs what bench:sockets needs on a many-core machine of the device tool (no network, no
# Postgres there), into .device-sockets/ at the project root (ignored by git), so the edge gets
# a core of its own while the clients, the scripted worker and Postgres have cores of theirs
# (on this project's 2-core machine they all share the second core):
# - deno.xz: this machine's Deno;
# - node_modules.tar.xz: the packages the edge and the bench load (not ONNX Runtime, PGlite,
#   esbuild, the browser or the LiveKit/OpenAI comparisons);
# - postgres.tar.xz: Debian's PostgreSQL 15 (server, initdb) and the shared libraries it
#   links, in Debian's own layout under a root of its own (its paths are relative), and
#   libopus.so.0 (the edge's native codec).
# The models/ directory still travels with the working tree: move the trained model out of
# the tree for the call (the whole carry must stay under the device tool's 64 MiB).
# Then on the machine: bash bench/device/setup_sockets.sh (carry .device-sockets).
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
out="$root/.device-sockets"
mkdir -p "$out"
exclude=$(git -C "$root" rev-parse --git-path info/exclude)
grep -qx '/.device-sockets/' "$root/$exclude" 2>/dev/null || echo '/.device-sockets/' >>"$root/$exclude"
# The Deno that `npx -y deno@2.9.6` installed (as ../shared/device/pack.sh finds it), else PATH's.
deno_bin=$(find ~/.npm/_npx -path '*@deno/linux-x64-glibc/deno' -type f 2>/dev/null | head -1)
deno_bin=${deno_bin:-$(command -v deno)}
[ -f "$out/deno.xz" ] || xz -T0 -9 -c "$deno_bin" >"$out/deno.xz"
cd "$root"
[ -d node_modules/.deno ] || { echo "no node_modules: run the test task once first"; exit 1; }
skip='^(onnxruntime-node|onnx-proto|protobufjs|@protobufjs|long@|@types\+long|@electric-sql|esbuild|@esbuild|@img|sharp|@livekit|openai|@openai|playwright|@jjhbw|fast-check|@modelcontextprotocol\+server-everything|zod@3)'
packages=$(ls node_modules/.deno | grep -v -E "$skip" | grep -v '^\.' | sed 's#^#node_modules/.deno/#')
links=$(ls -A node_modules | grep -v '^\.deno$' | sed 's#^#node_modules/#')
tar -cf - $packages $links | xz -T0 -9 >"$out/node_modules.tar.xz"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
bin=/usr/lib/postgresql/15/bin
mkdir -p "$work/pg$bin" "$work/pg/usr/share/postgresql" "$work/pg/lib" "$work/opus"
cp "$bin/postgres" "$bin/initdb" "$bin/pg_ctl" "$work/pg$bin/"
cp -r /usr/lib/postgresql/15/lib "$work/pg/usr/lib/postgresql/15/"
rm -rf "$work/pg/usr/lib/postgresql/15/lib/bitcode"
cp -r /usr/share/postgresql/15 "$work/pg/usr/share/postgresql/"
rm -rf "$work/pg/usr/share/postgresql/15/man"
for lib in $(ldd "$bin/postgres" "$bin/initdb" | awk '/=>/ {print $3}' | sort -u); do
  case $(basename "$lib") in
  libc.so* | libm.so* | libpthread* | libdl* | librt* | ld-linux* | libgcc_s* | libstdc++*) ;;
  *) cp -L "$lib" "$work/pg/lib/" ;;
  esac
done
cp -L /usr/lib/x86_64-linux-gnu/libopus.so.0 "$work/opus/"
tar -C "$work" -cf - pg opus | xz -T0 -9 >"$out/postgres.tar.xz"
du -sh "$out"/*
