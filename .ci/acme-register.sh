#!/usr/bin/env bash
# Issue #10 (first part): a real ACME client, certbot, against a freshly started Shomei.
# certbot registers an account with the external account binding credential that
# `shomei acme eab create` made for a running contract; without a credential, and with
# one already bound, it is refused with the server's explanation.
# Usage: .ci/acme-register.sh SHOMEI_BIN
set -euo pipefail
BIN=$1
W=$(mktemp -d)
cat >"$W/shomei.toml" <<'TOML'
[listen]
public = "127.0.0.1:28080"
portal = "127.0.0.1:28443"
desk = "127.0.0.1:28444"
acme = "127.0.0.1:28445"
[pki]
public_base_url = "http://pki.example.jp"
TOML
S=("$BIN" --data-dir "$W/data" --config "$W/shomei.toml")
"${S[@]}" account create --org "テスト株式会社" --email ops@example.jp --out "$W/acct" >"$W/acct.json"
"${S[@]}" staff create --name "審査 太郎" --email s@example.jp --login acme --out "$W/staff" >/dev/null
python3 - "$W" <<'PY'
import json, sys
w = sys.argv[1]
json.dump({"service": "SR3.0", "term": "1", "server_type": "nginx", "org_name": "テスト株式会社",
           "org_country": "JP", "org_state": "Tokyo", "org_locality": "Chiyoda-ku",
           "reg_name": "登録 太郎", "reg_email": "reg@example.jp", "reg_phone": "03-1234-5678",
           "tech_name": "技術 花子", "tech_email": "tech@example.jp", "tech_phone": "03-1234-5679",
           "admin_name": "事務 次郎", "admin_email": "admin@example.jp", "admin_phone": "03-1234-5670"},
          open(f"{w}/app.json", "w"), ensure_ascii=False)
PY
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$W/k.pem" \
  -subj /CN=acme.example.jp -addext subjectAltName=DNS:acme.example.jp -out "$W/c.csr" 2>/dev/null
KEY=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["access_key"])' "$W/acct.json")
"${S[@]}" contract import --access-key "$KEY" --staff acme --contract-type fixed --file "$W/app.json" --csr "$W/c.csr" >"$W/import.json"
CODE=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["contract_code"])' "$W/import.json")
"${S[@]}" acme eab create --contract "$CODE" >"$W/eab.json"
KID=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["kid"])' "$W/eab.json")
HMAC=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["hmac"])' "$W/eab.json")
if "${S[@]}" acme eab create --contract B0000000 >/dev/null 2>"$W/nocontract.err"; then
  echo "a credential was made for a contract that does not exist"; exit 1
fi
"${S[@]}" serve >"$W/serve.log" 2>&1 &
PID=$!
trap 'kill $PID 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do (exec 3<>/dev/tcp/127.0.0.1/28445) 2>/dev/null && break; sleep 0.2; done
export REQUESTS_CA_BUNDLE="$W/data/pki/root.crt"
DIR=https://127.0.0.1:28445/acme/directory
cb() { certbot register --server "$DIR" --config-dir "$W/$1/c" --work-dir "$W/$1/w" --logs-dir "$W/$1/l" \
  --non-interactive --agree-tos -m ops@example.jp --no-eff-email "${@:2}"; }
cb with-eab --eab-kid="$KID" --eab-hmac-key="$HMAC" 2>&1 | tee "$W/ok.txt"
grep -q "Account registered" "$W/ok.txt" || { cat "$W/serve.log"; echo "certbot could not register with EAB"; exit 1; }
if cb without-eab >"$W/noeab.txt" 2>&1; then echo "registered without EAB"; exit 1; fi
grep -q "external account binding" "$W/noeab.txt" || { cat "$W/noeab.txt"; exit 1; }
if cb reused --eab-kid="$KID" --eab-hmac-key="$HMAC" >"$W/reuse.txt" 2>&1; then echo "a credential bound twice"; exit 1; fi
grep -q "already bound" "$W/reuse.txt" || { cat "$W/reuse.txt"; exit 1; }
echo "certbot: registered with EAB; refused without it and with a credential already bound"
