#!/usr/bin/env bash
# Gateway vs nginx on the same fast upstream, loopback only, bounded runs (about 3 minutes per round).
#
#   ./mvnw -B -q package -pl gateway -am -DskipTests && benchmarks/gateway/run.sh
#
# Needs wrk and nginx (Debian: apt-get install -y wrk nginx). The upstream is the provider simulator (from the
# gateway jar) with no limits and no added latency, or with UPSTREAM=static a fixed answer served by a separate nginx
# (static.conf; steadier: the simulator's own pauses reach its p99, and its JVM takes CPU from the proxies). For each of direct / nginx / gateway: a warm-up ($WARMUP, default 15 s), a latency run
# at 1 connection (p50/p99 from wrk --latency) and a throughput run at $CONNECTIONS connections. Added latency is the
# proxy's p50/p99 minus the direct p50/p99. For each proxy, its CPU time (user + system, from /proc) per request of the
# throughput run: on a machine it shares with wrk and the upstream, that is what bounds its requests/s. The gateway
# JVM gets $GATEWAY_JAVA_OPTS (default -XX:+UseParallelGC), and with TRANSPORT=io_uring|epoll|nio that
# server.transport (default auto: io_uring where the kernel offers it).
# Prints to stdout; writes nothing but a temporary directory it removes.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
HERE="$ROOT/benchmarks/gateway"
JAR=$(ls "$ROOT"/gateway/target/gateway-*-all.jar | head -1)
DURATION=${DURATION:-10s}
CONNECTIONS=${CONNECTIONS:-32}
THREADS=${THREADS:-2}
UP=${UP_PORT:-18091}
NG=${NGINX_PORT:-18092}
GW=${GATEWAY_PORT:-18093}
ST=${STATIC_PORT:-18094}
TMP=$(mktemp -d)
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$TMP"
}
trap cleanup EXIT

wait_port() {
  for _ in $(seq 1 100); do
    if (exec 3<>/dev/tcp/127.0.0.1/"$1") 2>/dev/null; then return 0; fi
    sleep 0.2
  done
  echo "port $1 did not open" >&2
  exit 1
}

if [ "${UPSTREAM:-simulator}" = static ]; then
  TARGET=$ST
  mkdir -p "$TMP/static"
  sed -e "s#@STATIC_PORT@#$ST#g" -e "s#@PREFIX@#$TMP/static#g" "$HERE/static.conf" > "$TMP/static.conf"
  nginx -p "$TMP/static" -c "$TMP/static.conf" -e stderr > "$TMP/static.log" 2>&1 &
  PIDS+=($!)
  wait_port "$ST"
else
  TARGET=$UP
  java -Xmx512m -cp "$JAR" dev.sluice.testkit.simulator.ProviderSimulator --port "$UP" --rpm 0 --tpm 0 \
    --latency 0ms > "$TMP/upstream.log" 2>&1 &
  PIDS+=($!)
  wait_port "$UP"
fi

mkdir -p "$TMP/nginx"
sed -e "s#@UPSTREAM_PORT@#$TARGET#g" -e "s#@NGINX_PORT@#$NG#g" -e "s#@PREFIX@#$TMP/nginx#g" \
  "$HERE/nginx.conf" > "$TMP/nginx.conf"
nginx -p "$TMP/nginx" -c "$TMP/nginx.conf" -e stderr > "$TMP/nginx.log" 2>&1 &
PIDS+=($!)
NGINX_PID=$!
wait_port "$NG"

sed -e "s#@UPSTREAM_PORT@#$TARGET#g" -e "s#@GATEWAY_PORT@#$GW#g" -e "s#@TRANSPORT@#${TRANSPORT:-auto}#g" \
  "$HERE/gateway.yaml" > "$TMP/gateway.yaml"
java -Xmx512m ${GATEWAY_JAVA_OPTS--XX:+UseParallelGC} -jar "$JAR" "$TMP/gateway.yaml" > "$TMP/gateway.log" 2>&1 &
PIDS+=($!)
GATEWAY_PID=$!
wait_port "$GW"

TICK=$(getconf CLK_TCK)
cpu_ticks() { # user and system clock ticks of the processes given (all their threads), summed
  local p
  for p in "$@"; do
    # utime and stime are fields 14 and 15; the name before them is in parentheses and may hold spaces
    sed 's/.*) //' /proc/"$p"/stat 2>/dev/null | cut -d' ' -f12,13 || true
  done | awk '{u+=$1; s+=$2} END{print u+0, s+0}'
}

run() { # name port [pids of the proxy]
  local name=$1 url="http://127.0.0.1:$2/v1/chat/completions"
  shift 2
  # JIT warm-up at the measured concurrency (the JVMs need it; nginx does not mind)
  wrk -t"$THREADS" -c"$CONNECTIONS" -d"${WARMUP:-15s}" -s "$HERE/chat.lua" "$url" > /dev/null
  local lat thr
  lat=$(wrk -t1 -c1 -d"$DURATION" --latency -s "$HERE/chat.lua" "$url")
  local before after cpu=-
  before=$(cpu_ticks "$@")
  thr=$(wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency -s "$HERE/chat.lua" "$url")
  after=$(cpu_ticks "$@")
  if [ $# -gt 0 ]; then
    cpu=$(echo "$before $after $(echo "$thr" | awk '/requests in/{print $1}')" | awk -v hz="$TICK" \
      '$5 > 0 {printf "%.1f+%.1fus", ($3-$1)*1e6/hz/$5, ($4-$2)*1e6/hz/$5}')
  fi
  local p50 p99 rps rps1 non2xx
  p50=$(echo "$lat" | awk '$1=="50%"{print $2}')
  p99=$(echo "$lat" | awk '$1=="99%"{print $2}')
  rps1=$(echo "$lat" | awk '/Requests\/sec/{print $2}')
  rps=$(echo "$thr" | awk '/Requests\/sec/{print $2}')
  non2xx=$(echo "$lat$thr" | awk '/Non-2xx/{s+=$NF} END{print s+0}')
  printf '%-8s p50=%-9s p99=%-9s req/s@1conn=%-9s req/s@%sconn=%-9s cpu/req=%-13s non-2xx=%s\n' \
    "$name" "$p50" "$p99" "$rps1" "$CONNECTIONS" "$rps" "$cpu" "$non2xx"
  LAST_RPS=$rps
}

echo "upstream: ${UPSTREAM:-simulator} (port $TARGET), no limits, no latency; duration $DURATION per run; $(nproc) cores;" \
  "load average $(cut -d' ' -f1-3 /proc/loadavg); gateway on $(grep -o '[a-z_]* I/O' "$TMP/gateway.log" | head -1)"
RATIOS=()
for round in $(seq 1 "${ROUNDS:-1}"); do
  run direct "$TARGET"
  run nginx "$NG" $(pgrep -P "$NGINX_PID")
  nginx_rps=$LAST_RPS
  run gateway "$GW" "$GATEWAY_PID"
  RATIOS+=("$(awk -v g="$LAST_RPS" -v n="$nginx_rps" 'BEGIN{printf "%.3f", (n > 0) ? g / n : 0}')")
done
# rounds on a shared machine vary; the median is the figure to quote, with the spread beside it
printf 'gateway / nginx requests/s at %s connections, per round: %s; median %s\n' "$CONNECTIONS" "${RATIOS[*]}" \
  "$(printf '%s\n' "${RATIOS[@]}" | sort -n | awk '{v[NR]=$1} END{print NR % 2 ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2}')"
