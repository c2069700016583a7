#!/usr/bin/env bash
# tls_bench.sh: the public port over TLS, sglang-router against nginx as an
# HTTPS reverse proxy, side by side in one run, in front of the same two
# simulated workers (--zero-latency), with the same certificate (ECDSA
# P-256, made here with openssl).
#
#   tests/bench/tls_bench.sh [--duration SECONDS] [--rounds N] [--smoke]
#
# A small POST /generate: (1) wrk (1 thread), 64 keep-alive HTTPS/1.1
# connections: requests/s through TLS; (2) wrk, 16 connections that close
# after every request: TLS handshakes/s (each request a full handshake);
# (3) h2load over TLS + HTTP/2 (ALPN h2), 16 connections x 10 concurrent
# streams: requests/s. nginx listens with "ssl http2". Rounds alternate the
# targets; figures are medians. Prints BENCH lines and the ratios against
# nginx. Needs wrk, h2load (nghttp2-client), nginx-light, openssl, curl
# (deploy/scripts/install-deps.sh).
set -euo pipefail

duration=5
rounds=3
while [ $# -gt 0 ]; do
  case "$1" in
    --duration) duration=$2; shift 2 ;;
    --rounds) rounds=$2; shift 2 ;;
    --smoke) duration=1; rounds=1; shift ;;
    *) echo "usage: $0 [--duration SECONDS] [--rounds N] [--smoke]" >&2; exit 2 ;;
  esac
done

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
bin=${SR_BIN_DIR:-$root/build/bin}
source "$here/lib.sh"
need wrk h2load nginx curl openssl
ulimit -n 65536 2>/dev/null || true

# --- certificate and workers -------------------------------------------------------
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
  -subj "/CN=localhost" -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" \
  -keyout "$tmp/key.pem" -out "$tmp/cert.pem" 2>/dev/null
start_sims 2 --zero-latency

# --- targets ------------------------------------------------------------------------
nginx_port=$(free_port)
start_nginx "listen 127.0.0.1:$nginx_port ssl http2; ssl_certificate $tmp/cert.pem; ssl_certificate_key $tmp/key.pem; ssl_protocols TLSv1.2 TLSv1.3;" \
  "${worker_urls[@]}"
wait_https "https://localhost:$nginx_port/health" "$tmp/cert.pem"

ours_port=$(free_port)
"$bin/sglang-router" --port "$ours_port" --policy round_robin --prometheus-port -1 \
  --tls-cert-path "$tmp/cert.pem" --tls-key-path "$tmp/key.pem" \
  --worker-urls "${worker_urls[@]}" >"$tmp/ours.log" 2>&1 &
pids+=($!)
wait_https "https://localhost:$ours_port/readiness" "$tmp/cert.pem"

cat >"$tmp/small.lua" <<'LUA'
wrk.method = "POST"
wrk.body = '{"text":"The capital of France is","sampling_params":{"max_new_tokens":8}}'
wrk.headers["Content-Type"] = "application/json"
LUA
cat >"$tmp/handshake.lua" <<'LUA'
wrk.method = "POST"
wrk.body = '{"text":"The capital of France is","sampling_params":{"max_new_tokens":8}}'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Connection"] = "close"
LUA

printf '%s' '{"text":"The capital of France is","sampling_params":{"max_new_tokens":8}}' >"$tmp/body.json"

declare -A RPS ERR
run() { # NAME PORT SCRIPT CONNECTIONS
  local out rps
  out=$(wrk -t1 -c"$4" -d"${duration}s" -s "$tmp/$3.lua" "https://localhost:$2/generate")
  rps=$(awk '/^Requests\/sec:/ { print $2 }' <<<"$out")
  RPS[$1.$3]+="$rps "
  if grep -qE "Non-2xx" <<<"$out"; then ERR[$1.$3]=1; fi
}
run_h2() { # NAME PORT
  local out rps
  out=$(h2load -c 16 -m 10 -D "$duration" -d "$tmp/body.json" -H "content-type: application/json" \
    "https://localhost:$2/generate" 2>&1)
  rps=$(awk '/^finished in/ { gsub(",", "", $4); print $4 }' <<<"$out")
  RPS[$1.h2]+="${rps:-0} "
  if ! grep -q "Application protocol: h2" <<<"$out" || grep -qE " [1-9][0-9]* failed" <<<"$out"; then
    ERR[$1.h2]=1
  fi
}
median() { tr ' ' '\n' | awk 'NF' | sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

for _ in $(seq "$rounds"); do
  for target in nginx:$nginx_port ours:$ours_port; do
    run "${target%%:*}" "${target#*:}" small 64
    run "${target%%:*}" "${target#*:}" handshake 16
    run_h2 "${target%%:*}" "${target#*:}"
  done
done

for name in nginx ours; do
  echo "BENCH ${name}_https_keepalive_rps $(median <<<"${RPS[$name.small]}") req/s"
  echo "BENCH ${name}_https_handshakes_per_sec $(median <<<"${RPS[$name.handshake]}") /s"
  echo "BENCH ${name}_h2_tls_rps $(median <<<"${RPS[$name.h2]}") req/s"
  for s in small handshake h2; do
    [ -z "${ERR[$name.$s]:-}" ] || echo "BENCH ${name}_${s}_errors non-2xx answers seen"
  done
done
ratio() {
  awk -v a="$2" -v b="$3" -v n="$1" 'BEGIN { if (b > 0) printf "BENCH %s %.3f\n", n, a / b }'
}
ratio https_rps_ratio_vs_nginx "$(median <<<"${RPS[ours.small]}")" "$(median <<<"${RPS[nginx.small]}")"
ratio https_handshake_ratio_vs_nginx "$(median <<<"${RPS[ours.handshake]}")" \
  "$(median <<<"${RPS[nginx.handshake]}")"
ratio h2_tls_rps_ratio_vs_nginx "$(median <<<"${RPS[ours.h2]}")" "$(median <<<"${RPS[nginx.h2]}")"
if [ -n "${ERR[ours.small]:-}${ERR[ours.handshake]:-}${ERR[ours.h2]:-}" ]; then exit 1; fi
