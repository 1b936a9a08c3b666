#!/usr/bin/env bash
# Issue #11 benchmark (not a test: it asserts nothing about speed). Starts the release
# `shomei serve` and its peers on loopback in one run on this machine and prints one
# table of figures and ratios against the peers:
#   - OCSP: Shomei (GET and POST, answered from memory) against nginx serving the same
#     response bytes as a static file (the ceiling of this machine), at 8 and 64
#     keep-alive connections (wrk), and against `openssl ocsp -multi 2` as a responder
#     (8 connections, one request each: it hangs on keep-alive);
#   - memory (peak RSS of `shomei serve` after the loads) and start-up time (a second
#     start on the same data directory, until the public listener answers OCSP);
#   - CRLs: every shard signed against `openssl ca -gencrl`, the same revoked entries;
#   - issuance: `cfssl serve` (in memory, and with its SQLite certdb) against Shomei's
#     durable issuance, 32 at once;
#   - ACME: seconds per lego order against pebble (.ci/bench-acme.sh).
# A wrong answer (anything but "good" for the issued certificate, a CRL short of
# entries, an issuance error) fails the run.
# Usage: .ci/bench.sh SHOMEI_BIN [--short]   (--short: 2-second runs, as CI does;
#        docs/performance.md has the full figures and the commands)
set -euo pipefail
BIN=$(realpath "$1")
SHORT=${2:-}
DUR=10s
[ "$SHORT" = "--short" ] && DUR=2s

need=()
for t in wrk:wrk nginx:nginx openssl:openssl curl:curl; do
  command -v "${t%%:*}" >/dev/null 2>&1 || [ -x "/usr/sbin/${t%%:*}" ] || need+=("${t#*:}")
done
# Installs the Debian packages in "need" (as root), else stops and names them.
install_needed() {
  [ ${#need[@]} -gt 0 ] || return 0
  if [ "$(id -u)" = 0 ]; then
    apt-get install -y "${need[@]}" >/dev/null 2>&1 || { apt-get update >/dev/null && apt-get install -y "${need[@]}" >/dev/null; }
  else
    echo "bench: missing ${need[*]} (apt-get install -y ${need[*]})"; exit 1
  fi
}
install_needed
NGINX=$(command -v nginx || echo /usr/sbin/nginx)

W=$(mktemp -d)
chmod 755 "$W"
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  pkill -f "openssl ocsp -index $W/index.txt" 2>/dev/null || true
  wait 2>/dev/null || true
}
trap cleanup EXIT
wait_port() { for _ in $(seq 1 300); do (exec 3<>/dev/tcp/127.0.0.1/"$1") 2>/dev/null && return 0; sleep 0.05; done; echo "port $1 never opened"; return 1; }
PUB=38180; STATIC=38190; OPENSSL_OCSP=38170
RESULTS="$W/results.tsv"
: >"$RESULTS"

# --- Shomei: one account, one issued certificate (contract import) --------------------
cat >"$W/shomei.toml" <<TOML
[listen]
public = "127.0.0.1:$PUB"
portal = "127.0.0.1:38443"
desk = "127.0.0.1:38444"
acme = "127.0.0.1:38445"
[pki]
public_base_url = "http://pki.example.jp"
TOML
S=("$BIN" --data-dir "$W/data" --config "$W/shomei.toml")
"${S[@]}" account create --org "ベンチ株式会社" --email ops@example.jp --out "$W/acct" >"$W/acct.json" 2>/dev/null
"${S[@]}" staff create --name "審査 太郎" --email s@example.jp --login bench --out "$W/staff" >/dev/null 2>&1
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
  -addext "subjectAltName=DNS:bench.example.jp" -out "$W/c.csr" 2>/dev/null
KEY=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["access_key"])' "$W/acct.json")
"${S[@]}" contract import --access-key "$KEY" --staff bench --contract-type fixed --file "$W/app.json" --csr "$W/c.csr" >"$W/import.json" 2>/dev/null
SERIAL=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["serial"])' "$W/import.json")
PKI="$W/data/pki"

start_shomei() {
  "${S[@]}" serve >"$W/serve.log" 2>&1 &
  SHOMEI_PID=$!
  PIDS+=("$SHOMEI_PID")
}
start_shomei
wait_port $PUB

# The request and the response bytes (checked: good, signed by the delegated responder).
openssl ocsp -issuer "$PKI/server-ca.crt" -serial "0x$SERIAL" -no_nonce -reqout "$W/req.der" >/dev/null 2>&1
curl -sf --data-binary @"$W/req.der" -H 'Content-Type: application/ocsp-request' "http://127.0.0.1:$PUB/ocsp/server" -o "$W/resp.der"
cat "$PKI/server-ca.crt" "$PKI/root.crt" >"$W/chain.pem"
check_good() {
  openssl ocsp -respin "$1" -issuer "$PKI/server-ca.crt" -CAfile "$W/chain.pem" -serial "0x$SERIAL" 2>&1 | grep -q ": good" \
    || { echo "bench: $2 did not answer good"; openssl ocsp -respin "$1" -resp_text -noverify | head -20; exit 1; }
}
check_good "$W/resp.der" "Shomei (POST)"
GET_PATH="/ocsp/server/$(python3 -c 'import base64,sys,urllib.parse; print(urllib.parse.quote(base64.b64encode(open(sys.argv[1],"rb").read()).decode(), safe=""))' "$W/req.der")"
curl -sf "http://127.0.0.1:$PUB$GET_PATH" -o "$W/resp-get.der"
check_good "$W/resp-get.der" "Shomei (GET)"

# --- Peers -----------------------------------------------------------------------------
# nginx: the same response bytes as a static file.
mkdir -p "$W/static" "$W/nginx-tmp"
cp "$W/resp.der" "$W/static/resp.der"
chmod -R a+rX "$W/static"
cat >"$W/nginx.conf" <<CONF
worker_processes auto;
pid $W/nginx.pid;
error_log $W/nginx-error.log;
daemon off;
events { worker_connections 4096; }
http {
  access_log off;
  keepalive_requests 10000000;
  client_body_temp_path $W/nginx-tmp; proxy_temp_path $W/nginx-tmp; fastcgi_temp_path $W/nginx-tmp;
  uwsgi_temp_path $W/nginx-tmp; scgi_temp_path $W/nginx-tmp;
  default_type application/ocsp-response;
  server { listen 127.0.0.1:$STATIC; root $W/static; }
}
CONF
"$NGINX" -p "$W" -c "$W/nginx.conf" -e "$W/nginx-error.log" &
PIDS+=($!)
wait_port $STATIC
curl -sf "http://127.0.0.1:$STATIC/resp.der" -o "$W/resp-nginx.der"; cmp -s "$W/resp-nginx.der" "$W/resp.der"
# openssl ocsp: an index with the certificate, the same responder certificate and key.
# It can only listen on every interface, so it runs (with its wrk) in a network
# namespace of its own, with nothing but a loopback.
EXP=$(openssl x509 -in "$PKI/ocsp.crt" -noout -enddate | cut -d= -f2)
printf 'V\t%s\t\t%s\tunknown\t/CN=bench.example.jp\n' "$(date -u -d "$EXP" +%y%m%d%H%M%SZ)" "${SERIAL^^}" >"$W/index.txt"

cat >"$W/post.lua" <<LUA
local f = io.open("$W/req.der", "rb")
wrk.method = "POST"
wrk.body = f:read("*a")
f:close()
wrk.headers["Content-Type"] = "application/ocsp-request"
LUA

# One wrk run: label, connections, extra wrk args..., URL. Appends "label rps p99_ms errors".
load() {
  local label=$1 conns=$2; shift 2
  local out
  out=$(wrk -t2 -c"$conns" -d"$DUR" --latency "$@" 2>&1)
  printf '%s\n' "$out" >"$W/wrk-${label// /_}.txt"
  python3 - "$label" "$RESULTS" <<PY "$out"
import re, sys
label, results = sys.argv[1], sys.argv[2]
out = sys.argv[3]
rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
m = re.search(r"^\s+99%\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
p99 = float(m.group(1)) * {"us": 0.001, "ms": 1, "s": 1000}[m.group(2)] if m else float("nan")
errs = 0
for pat in (r"Non-2xx or 3xx responses:\s+(\d+)", r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)"):
    mm = re.search(pat, out)
    if mm:
        errs += sum(int(g) for g in mm.groups())
open(results, "a").write(f"{label}\t{rps:.0f}\t{p99:.2f}\t{errs}\n")
PY
}

for c in 8 64; do
  load "ocsp nginx static c=$c" $c "http://127.0.0.1:$STATIC/resp.der"
  load "ocsp shomei GET c=$c" $c "http://127.0.0.1:$PUB$GET_PATH"
  load "ocsp shomei POST c=$c" $c -s "$W/post.lua" "http://127.0.0.1:$PUB/ocsp/server"
done
export -f load check_good
export W RESULTS DUR PKI SERIAL OPENSSL_OCSP
unshare -n bash -c '
  set -euo pipefail
  ip link set lo up
  openssl ocsp -index "$W/index.txt" -port "$OPENSSL_OCSP" -rsigner "$PKI/ocsp.crt" -rkey "$PKI/ocsp.key" \
    -CA "$PKI/server-ca.crt" -multi 2 -nmin 5 -timeout 2 >"$W/openssl-ocsp.log" 2>&1 &
  # (Polled with real requests: a connection that sends nothing holds a responder
  # process until its timeout.)
  for _ in $(seq 1 100); do
    curl -sf --data-binary @"$W/req.der" -H "Content-Type: application/ocsp-request" -H "Connection: close" \
      "http://127.0.0.1:$OPENSSL_OCSP/" -o "$W/resp-openssl.der" 2>/dev/null && break
    sleep 0.1
  done
  check_good "$W/resp-openssl.der" "openssl ocsp"
  # One request per connection (it hangs on keep-alive); at 64 connections it stalls.
  load "ocsp openssl c=8" 8 -s "$W/post.lua" -H "Connection: close" "http://127.0.0.1:$OPENSSL_OCSP/"
'

# Still the right answer after the load.
curl -sf "http://127.0.0.1:$PUB$GET_PATH" -o "$W/resp-after.der"
check_good "$W/resp-after.der" "Shomei after the load"
RSS_KB=$(awk '/VmHWM/ {print $2}' "/proc/$SHOMEI_PID/status")

# Start-up: a second start on the same data directory, until OCSP answers.
kill "$SHOMEI_PID"; wait "$SHOMEI_PID" 2>/dev/null || true
T0=$(date +%s.%N)
start_shomei
for _ in $(seq 1 1000); do
  curl -sf --data-binary @"$W/req.der" "http://127.0.0.1:$PUB/ocsp/server" -o "$W/resp-start.der" 2>/dev/null && break
  sleep 0.01
done
T1=$(date +%s.%N)
check_good "$W/resp-start.der" "Shomei after a restart"

python3 - "$RESULTS" "$RSS_KB" "$T0" "$T1" "$DUR" <<'PY'
import sys
results, rss_kb, t0, t1, dur = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4]), sys.argv[5]
rows = {}
for line in open(results):
    label, rps, p99, errs = line.rstrip("\n").split("\t")
    rows[label] = (float(rps), float(p99), int(errs))
print(f"\nIssue #11 benchmark ({dur} per run, wrk -t2, all on this machine)\n")
print(f"{'load':<28} {'req/s':>9} {'p99 ms':>8} {'errors':>7}   ratio")
for label, (rps, p99, errs) in rows.items():
    ratio = ""
    c = label.split("c=")[-1]
    ceiling = rows.get(f"ocsp nginx static c={c}")
    if "shomei" in label and ceiling:
        ratio = f"{rps / ceiling[0]:.2f} × nginx static"
        peer = rows.get("ocsp openssl c=8")
        if peer and peer[0] > 0:
            ratio += f", {rps / peer[0]:.1f} × openssl ocsp"
    print(f"{label:<28} {rps:>9.0f} {p99:>8.2f} {errs:>7}   {ratio}")
print(f"\nshomei serve peak RSS after the loads: {rss_kb / 1024:.1f} MB")
print(f"shomei serve second start until OCSP answers: {t1 - t0:.2f} s")
PY

# The OCSP servers stop here: the restarted Shomei (its background OCSP and CRL work),
# nginx and openssl ocsp would otherwise share the CPU with the CRL and issuance runs
# below (an issuance run beside them did 630/s against 3,131/s alone, 2026-12-07).
cleanup
PIDS=()

# --- CRL: openssl ca -gencrl against Shomei's shard builder, same N revoked entries -----
# openssl signs one CRL from an index.txt of N revoked entries with a P-256 CA key;
# Shomei's CRL bench (crates/ra/benches/crl.rs) signs all 16 shards (and the other 2
# CRLs) from the store. Time and peak memory of each; Shomei's memory is what the build
# added over its process's baseline (the test PKI, the runtime, the fill).
if [ ! -x /usr/bin/time ] && [ "$(id -u)" = 0 ]; then apt-get install -y time >/dev/null 2>&1 || true; fi
[ -x /usr/bin/time ] || { echo "bench: /usr/bin/time missing (apt-get install -y time)"; exit 1; }
CRL_SIZES="100000 1000000"; CRL_PROFILE=(--profile bench)
[ "$SHORT" = "--short" ] && { CRL_SIZES="20000"; CRL_PROFILE=(--profile dev); }
ROOT=$(cd "$(dirname "$0")/.." && pwd)
C="$W/openssl-ca"; mkdir -p "$C"
openssl req -x509 -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$C/ca.key" \
  -out "$C/ca.crt" -subj "/CN=Bench CRL CA" -days 3650 2>/dev/null
cat >"$C/ca.cnf" <<CNF
[ca]
default_ca = bench
[bench]
database = $C/index.txt
crlnumber = $C/crlnumber
certificate = $C/ca.crt
private_key = $C/ca.key
default_md = sha256
default_crl_days = 7
crl_extensions = crl_ext
[crl_ext]
authorityKeyIdentifier = keyid:always
CNF
printf "\nCRL build: openssl ca -gencrl (one CRL) against Shomei (16 shards + 2), same revoked entries\n\n"
printf "%-10s %11s %11s %11s %11s   %s\n" "entries" "openssl s" "openssl MB" "shomei s" "shomei MB" "ratio"
for n in $CRL_SIZES; do
  python3 - "$C/index.txt" "$n" <<'PY'
import sys
path, n = sys.argv[1], int(sys.argv[2])
reasons = ["keyCompromise", "superseded", "cessationOfOperation", "affiliationChanged"]
with open(path, "w") as f:
    for k in range(n):
        f.write(f"R\t301231000000Z\t261129000000Z,{reasons[k % 4]}\t7F{k:030X}\tunknown\t/CN=c{k}\n")
PY
  echo 1000 >"$C/crlnumber"
  /usr/bin/time -o "$C/time.txt" -f "%e %M" openssl ca -gencrl -config "$C/ca.cnf" -out "$C/crl.pem" 2>/dev/null
  OUT_T=$(tail -1 "$C/time.txt")
  GOT=$(openssl crl -in "$C/crl.pem" -noout -text | grep -c "Serial Number" || true)
  [ "$GOT" = "$n" ] || { echo "bench: openssl's CRL lists $GOT entries, not $n"; exit 1; }
  SH=$(cd "$ROOT" && cargo bench -q -p shomei-ra --bench crl "${CRL_PROFILE[@]}" -- "$n" 2>/dev/null | grep '^sqlite' | head -1 || true)
  [ -n "$SH" ] || { echo "bench: Shomei's CRL bench printed nothing"; exit 1; }
  python3 - "$n" "$OUT_T" "$SH" <<'PY'
import re, sys
n, ot, sh = sys.argv[1], sys.argv[2].split(), sys.argv[3]
o_s, o_mb = float(ot[0]), int(ot[1]) / 1024
m = re.search(r"signed in ([0-9.]+) s.*RSS before ([0-9.]+) MB, peak ([0-9.]+) MB", sh)
s_s, s_mb = float(m.group(1)), float(m.group(3)) - float(m.group(2))
print(f"{n:<10} {o_s:>11.2f} {o_mb:>11.0f} {s_s:>11.2f} {s_mb:>11.0f}   openssl ÷ {o_s / max(s_s, 0.001):.1f} in time, ÷ {o_mb / max(s_mb, 1):.1f} in memory")
PY
done

# --- Issuance: cfssl serve (in memory, and with its SQLite certdb) against Shomei -------
# cfssl signs the CSR of each POST /api/v1/cfssl/sign (wrk, 32 connections); Shomei's
# issuance bench (crates/ra/benches/issuance.rs) issues N approved applications through
# Ra::issue, 32 at once: CSR and key checks, serial and linted TBS committed, signature,
# certificate + contract + 完了 + audit + notice + first OCSP response committed. The
# same RSA-2048 CSR for both; certificates per second and p99 of each.
need=()
command -v cfssl >/dev/null 2>&1 || need+=(golang-cfssl)
command -v sqlite3 >/dev/null 2>&1 || need+=(sqlite3)
install_needed
F="$W/cfssl"; mkdir -p "$F"; CFSSL_PORT=38160
openssl req -x509 -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$F/ca-key.pem" \
  -out "$F/ca.pem" -subj "/CN=Bench cfssl CA" -days 3650 2>/dev/null
cat >"$F/config.json" <<'JSON'
{"signing": {"default": {"expiry": "2160h", "usages": ["digital signature", "key encipherment", "server auth"]}}}
JSON
printf '{"driver": "sqlite3", "data_source": "%s"}\n' "$F/certs.db" >"$F/db.json"
# cfssl's certdb schema (certdb/sqlite/migrations: the columns of every release's
# insert), in SQLite's default journal mode, as cfssl's own set-up makes it.
sqlite3 "$F/certs.db" <<'SQL'
CREATE TABLE certificates (serial_number blob NOT NULL, authority_key_identifier blob NOT NULL,
  ca_label blob, status blob NOT NULL, reason int, created_at timestamp, expiry timestamp,
  revoked_at timestamp, pem blob NOT NULL, issued_at timestamp, not_before timestamp,
  originating_host text, sans text, tags text, common_name text, filename text,
  application_name text, metadata text, PRIMARY KEY (serial_number, authority_key_identifier));
CREATE TABLE ocsp_responses (serial_number blob NOT NULL, authority_key_identifier blob NOT NULL,
  body blob NOT NULL, expiry timestamp, PRIMARY KEY (serial_number, authority_key_identifier));
SQL
python3 - "$ROOT/crates/ca/tests/data/rsa2048.csr" "$F" <<'PY'
import json, sys
csr, d = open(sys.argv[1]).read(), sys.argv[2]
body = json.dumps({"certificate_request": csr})
open(f"{d}/body.json", "w").write(body)
open(f"{d}/sign.lua", "w").write(
    'wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\nwrk.body = '
    + json.dumps(body) + "\n")
PY
for mode in memory sqlite; do
  extra=(); [ "$mode" = sqlite ] && extra=(-db-config "$F/db.json")
  cfssl serve -address 127.0.0.1 -port "$CFSSL_PORT" -ca "$F/ca.pem" -ca-key "$F/ca-key.pem" \
    -config "$F/config.json" "${extra[@]}" >"$F/serve-$mode.log" 2>&1 &
  CFSSL_PID=$!; PIDS+=("$CFSSL_PID")
  wait_port "$CFSSL_PORT"
  curl -sf -d @"$F/body.json" "http://127.0.0.1:$CFSSL_PORT/api/v1/cfssl/sign" | grep -q '"success":true' \
    || { cat "$F/serve-$mode.log"; echo "bench: cfssl ($mode) signs nothing"; exit 1; }
  load "issuance cfssl $mode c=32" 32 -s "$F/sign.lua" "http://127.0.0.1:$CFSSL_PORT/api/v1/cfssl/sign"
  kill "$CFSSL_PID"; wait "$CFSSL_PID" 2>/dev/null || true
done
STORED=$(sqlite3 "$F/certs.db" "SELECT COUNT(*) FROM certificates")
[ "$STORED" -gt 0 ] || { echo "bench: cfssl's certdb holds no certificate"; exit 1; }
ISSUE_N=20000; ISSUE_PROFILE=(--profile bench)
[ "$SHORT" = "--short" ] && { ISSUE_N=500; ISSUE_PROFILE=(--profile dev); }
SH=$(cd "$ROOT" && cargo bench -q -p shomei-ra --bench issuance "${ISSUE_PROFILE[@]}" -- "$ISSUE_N" 32 2>/dev/null | grep '^sqlite' | head -1 || true)
[ -n "$SH" ] || { echo "bench: Shomei's issuance bench printed nothing (or a wrong answer)"; exit 1; }
python3 - "$RESULTS" "$SH" "$STORED" <<'PY'
import re, sys
rows = {}
for line in open(sys.argv[1]):
    label, rps, p99, errs = line.rstrip("\n").split("\t")
    rows[label] = (float(rps), float(p99), int(errs))
m = re.search(r"([0-9.]+) certificates/s.*p99 ([0-9.]+) ms", sys.argv[2])
shomei = (float(m.group(1)), float(m.group(2)))
print("\nIssuance, 32 at once: cfssl serve (wrk POST /api/v1/cfssl/sign) against Shomei (Ra::issue, durable)\n")
print(f"{'issuer':<30} {'certs/s':>9} {'p99 ms':>8} {'errors':>7}   ratio")
for mode in ("memory", "sqlite"):
    rps, p99, errs = rows[f"issuance cfssl {mode} c=32"]
    print(f"{'cfssl serve, ' + ('in memory' if mode == 'memory' else 'SQLite certdb'):<30} {rps:>9.0f} {p99:>8.2f} {errs:>7}")
peer = rows["issuance cfssl sqlite c=32"][0]
print(f"{'shomei, SQLite (group commit)':<30} {shomei[0]:>9.0f} {shomei[1]:>8.2f} {0:>7}   {shomei[0] / max(peer, 1):.1f} × cfssl with its SQLite certdb")
print(f"(cfssl's certdb holds {sys.argv[3]} certificates after its run)")
PY

# --- ACME: seconds per lego order, Shomei against pebble (.ci/bench-acme.sh) -------------
need=()
command -v lego >/dev/null 2>&1 || need+=(lego)
command -v pebble >/dev/null 2>&1 || need+=(pebble)
install_needed
ACME_N=20; [ "$SHORT" = "--short" ] && ACME_N=3
bash "$ROOT/.ci/bench-acme.sh" "$BIN" "$ACME_N" >"$W/acme.txt" 2>&1 || { cat "$W/acme.txt"; echo "bench: the ACME comparison failed"; exit 1; }
python3 - "$W/acme.txt" <<'PY'
import re, sys
rows = [(m.group(1).strip(), int(m.group(2)), float(m.group(3)))
        for m in re.finditer(r"^(.*?)\s+(\d+) orders\s+([0-9.]+) s/order", open(sys.argv[1]).read(), re.M)]
if not any(r[0] == "pebble" for r in rows) or len(rows) < 2:
    sys.exit("bench: the ACME comparison printed no figures")
pebble = next(r[2] for r in rows if r[0] == "pebble")
print("\nACME orders with lego (http-01, a new name each, process start included): Shomei against pebble\n")
print(f"{'server':<40} {'orders':>6} {'s/order':>8}   ratio")
for label, n, s in rows:
    ratio = "" if label == "pebble" else f"{pebble / max(s, 0.001):.1f} × faster than pebble"
    print(f"{label:<40} {n:>6} {s:>8.3f}   {ratio}")
PY
