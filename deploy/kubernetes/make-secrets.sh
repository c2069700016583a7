#!/usr/bin/env bash
# Writes the files deploy/kubernetes/app's secretGenerator reads, unless they
# exist: a random admin API token, a random token for the NATS server the
# routers sync through, and a self-signed ECDSA certificate for the public
# endpoint (replace app/secrets/tls.crt and tls.key with your own).
#   deploy/kubernetes/make-secrets.sh [DNS name, default sglang-router.sglang.svc]
set -euo pipefail
dir=$(cd "$(dirname "$0")" && pwd)/app/secrets
name=${1:-sglang-router.sglang.svc}
mkdir -p "$dir"
umask 077
if [ ! -s "$dir/admin-token" ]; then
  openssl rand -hex 32 | tr -d '\n' >"$dir/admin-token"
  echo "make-secrets: wrote $dir/admin-token"
fi
if [ ! -s "$dir/nats-token" ]; then
  openssl rand -hex 32 | tr -d '\n' >"$dir/nats-token"
  echo "make-secrets: wrote $dir/nats-token"
fi
if [ ! -s "$dir/tls.crt" ] || [ ! -s "$dir/tls.key" ]; then
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 365 -subj "/CN=$name" \
    -addext "subjectAltName=DNS:$name,DNS:sglang-router" -keyout "$dir/tls.key" -out "$dir/tls.crt" 2>/dev/null
  echo "make-secrets: wrote a self-signed certificate for $name to $dir/tls.crt"
fi
