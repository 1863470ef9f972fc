#!/usr/bin/env bash
# The ceiling for RedisTryAcquireBenchmark: redis-benchmark running Sluice's own script (one GCRA acquire per call,
# never denied) with N connections against a private redis-server on a free loopback port, twice: as the Redis
# function RedisBackend uses on Redis 7+ (FCALL), and through EVALSHA (older servers).
# Usage: benchmarks/redis-ceiling.sh [connections=16] [requests=300000]
set -euo pipefail
cd "$(dirname "$0")/.."
connections="${1:-16}"
requests="${2:-300000}"
script=backend-redis/src/main/resources/dev/sluice/redis/limiter.lua
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')
[ "$port" != 6379 ] || { echo "refusing port 6379" >&2; exit 1; }
dir=$(mktemp -d)
redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no --dir "$dir" --daemonize yes \
  --logfile "$dir/redis.log" --pidfile "$dir/redis.pid"
trap 'redis-cli -p "$port" shutdown nosave >/dev/null 2>&1 || true; rm -rf "$dir"' EXIT
for _ in $(seq 50); do redis-cli -p "$port" ping >/dev/null 2>&1 && break; sleep 0.1; done
sha=$(redis-cli -p "$port" script load "$(cat "$script")")
# The library as RedisBackend builds it: the script with its last line (the EVALSHA entry) replaced.
redis-cli -p "$port" function load "$(printf '#!lua name=sluice_ceiling\n'; sed '$d' "$script";
  echo "redis.register_function('sluice_ceiling', main)")" >/dev/null
# KEYS: 1 key; ARGV: now ('' = Redis TIME), 1 spec, the spec, one request: acquire, key 1, spec 1, cost 1.
args=(1 '{k:bench}' '' 1 'requests:G:1000000000:1000000:1000000000;' '1 1 1 1')
echo -n "fcall:   "
redis-benchmark -p "$port" -c "$connections" -n "$requests" -q fcall sluice_ceiling "${args[@]}" | tr '\r' '\n' | tail -1
echo -n "evalsha: "
redis-benchmark -p "$port" -c "$connections" -n "$requests" -q evalsha "$sha" "${args[@]}" | tr '\r' '\n' | tail -1
