#!/usr/bin/env bash
# Issue #10 benchmark (not a test): seconds per order with lego against Shomei and
# against Debian's pebble, in the same run on this machine. Each order is a new name
# (a new authorization): new order, http-01 validated for real through
# pebble-challtestsrv's DNS, finalize, download. Pebble runs with its validation sleeps
# off (PEBBLE_VA_NOSLEEP) and EAB on; Shomei with five `shomei perspective`s
# (BR 3.2.2.9), as in production, and again with the primary perspective alone.
# Prints the figures; asserts nothing.
# Usage: .ci/bench-acme.sh SHOMEI_BIN [ORDERS]   (docs/performance.md: 20 orders)
set -euo pipefail
BIN=$1
N=${2:-20}
W=$(mktemp -d)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT
wait_port() { for _ in $(seq 1 150); do (exec 3<>/dev/tcp/127.0.0.1/"$1") 2>/dev/null && return 0; sleep 0.2; done; echo "port $1 never opened"; return 1; }
DNS=38053; MGMT=38055; HTTP01=38402

pebble-challtestsrv -dns01 "127.0.0.1:$DNS" -defaultIPv6 "" -http01 "" -https01 "" -tlsalpn01 "" -management "127.0.0.1:$MGMT" >"$W/challtestsrv.log" 2>&1 &
PIDS+=($!)

# Pebble: its own TLS certificate, EAB required, no validation sleeps.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=localhost \
  -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" -keyout "$W/pebble.key" -out "$W/pebble.crt" 2>/dev/null
# Pebble on its default ports, below the ephemeral range (32768–60999): at 35000 an
# outgoing connection of an earlier step once held the port and pebble exited.
cat >"$W/pebble.json" <<JSON
{"pebble": {"listenAddress": "127.0.0.1:14000", "managementListenAddress": "127.0.0.1:15000",
  "certificate": "$W/pebble.crt", "privateKey": "$W/pebble.key", "httpPort": $HTTP01, "tlsPort": 38401,
  "ocspResponderURL": "", "externalAccountBindingRequired": true,
  "externalAccountMACKeys": {"bench": "zWNDZM6eQGHWpSRTPal5eIUYFTu7EajVIoguysqZ9wG44nMEtx3MUAsUDkMTQ12W"}}}
JSON
PEBBLE_VA_NOSLEEP=1 PEBBLE_WFE_NONCEREJECT=0 PEBBLE_AUTHZREUSE=0 pebble -config "$W/pebble.json" -dnsserver "127.0.0.1:$DNS" >"$W/pebble.log" 2>&1 &
PIDS+=($!)

# Shomei: a contract covering *.bench.example.jp, five perspectives.
shomei_config() {
  cat <<TOML
[listen]
public = "127.0.0.1:3808$1"
portal = "127.0.0.1:3844$1"
desk = "127.0.0.1:3846$1"
acme = "127.0.0.1:3848$1"
[pki]
public_base_url = "http://pki.example.jp"
[validation]
resolver = "127.0.0.1:$DNS"
http_port = $HTTP01
$2
TOML
}
shomei_config 0 'perspectives = ["https://127.0.0.1:39601", "https://127.0.0.1:39602", "https://127.0.0.1:39603", "https://127.0.0.1:39604", "https://127.0.0.1:39605"]' >"$W/shomei.toml"
shomei_config 1 'min_remote_perspectives = 0' >"$W/shomei-single.toml"
S=("$BIN" --data-dir "$W/data" --config "$W/shomei.toml")
"${S[@]}" account create --org "ベンチ株式会社" --email ops@example.jp --out "$W/acct" >"$W/acct.json"
"${S[@]}" staff create --name "審査 太郎" --email s@example.jp --login bench --out "$W/staff" >/dev/null
python3 - "$W" <<'PY'
import json, sys
w = sys.argv[1]
json.dump({"service": "SR3.0", "term": "1", "server_type": "nginx", "org_name": "ベンチ株式会社",
           "org_country": "JP", "org_state": "Tokyo", "org_locality": "Chiyoda-ku",
           "reg_name": "登録 太郎", "reg_email": "reg@example.jp", "reg_phone": "03-1234-5678",
           "tech_name": "技術 花子", "tech_email": "tech@example.jp", "tech_phone": "03-1234-5679",
           "admin_name": "事務 次郎", "admin_email": "admin@example.jp", "admin_phone": "03-1234-5670"},
          open(f"{w}/app.json", "w"), ensure_ascii=False)
PY
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$W/k.pem" -subj /CN=bench.example.jp \
  -addext "subjectAltName=DNS:bench.example.jp,DNS:*.bench.example.jp" -out "$W/c.csr" 2>/dev/null
KEY=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["access_key"])' "$W/acct.json")
"${S[@]}" contract import --access-key "$KEY" --staff bench --contract-type fixed --file "$W/app.json" --csr "$W/c.csr" >"$W/import.json"
CODE=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["contract_code"])' "$W/import.json")
for p in 39601 39602 39603 39604 39605; do "${S[@]}" perspective --listen "127.0.0.1:$p" >"$W/perspective-$p.log" 2>&1 & PIDS+=($!); done
wait_port "$MGMT"; wait_port 14000; for p in 39601 39602 39603 39604 39605; do wait_port $p; done
export LEGO_CA_CERTIFICATES="$W/data/pki/root.crt:$W/pebble.crt"

# One series: N orders of new names through lego; prints seconds per order.
series() {
  local label=$1 dir=$2 kid=$3 hmac=$4 prefix=$5
  local path="$W/lego-$label"
  lego --server "$dir" --accept-tos --email ops@example.jp --path "$path" --eab --kid "$kid" --hmac "$hmac" \
    --domains "warmup-$prefix.bench.example.jp" --http --http.port "127.0.0.1:$HTTP01" run >"$W/$label-warmup.log" 2>&1
  local start end
  start=$(date +%s.%N)
  for i in $(seq 1 "$N"); do
    lego --server "$dir" --accept-tos --email ops@example.jp --path "$path" --eab --kid "$kid" --hmac "$hmac" \
      --domains "o$i-$prefix.bench.example.jp" --http --http.port "127.0.0.1:$HTTP01" run >>"$W/$label.log" 2>&1 \
      || { echo "$label: order $i failed"; tail -20 "$W/$label.log"; exit 1; }
  done
  end=$(date +%s.%N)
  python3 -c "import sys; print(f'{sys.argv[1]:<40} {sys.argv[2]} orders  {(float(sys.argv[4])-float(sys.argv[3]))/int(sys.argv[2]):.3f} s/order')" "$label" "$N" "$start" "$end"
}

echo "lego orders with http-01, one new name each ($(nproc) cores):"
series pebble https://127.0.0.1:14000/dir bench zWNDZM6eQGHWpSRTPal5eIUYFTu7EajVIoguysqZ9wG44nMEtx3MUAsUDkMTQ12W p
"${S[@]}" serve >"$W/serve.log" 2>&1 & SERVE=$!; PIDS+=($SERVE)
wait_port 38480
"${S[@]}" acme eab create --contract "$CODE" >"$W/eab.json"
KID=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["kid"])' "$W/eab.json")
HMAC=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["hmac"])' "$W/eab.json")
series "shomei (5 remote perspectives)" https://127.0.0.1:38480/acme/directory "$KID" "$HMAC" s5
kill $SERVE; wait $SERVE 2>/dev/null || true
"$BIN" --data-dir "$W/data" --config "$W/shomei-single.toml" serve >"$W/serve1.log" 2>&1 & PIDS+=($!)
wait_port 38481
"${S[@]}" acme eab create --contract "$CODE" >"$W/eab1.json"
KID=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["kid"])' "$W/eab1.json")
HMAC=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["hmac"])' "$W/eab1.json")
series "shomei (primary perspective only)" https://127.0.0.1:38481/acme/directory "$KID" "$HMAC" s1
