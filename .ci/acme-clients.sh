#!/usr/bin/env bash
# Issue #10: real ACME clients against a freshly started Shomei with its validation
# engine pointed at a local DNS server (Debian's pebble-challtestsrv) and five remote
# network perspectives (`shomei perspective`, BR 3.2.2.9) on loopback.
#   certbot: registers with the EAB credential `shomei acme eab create` made; is refused
#            without one and with one already bound; obtains with http-01 (standalone)
#            and dns-01 (manual hooks setting TXT records on the DNS server), renews,
#            revokes; an order outside the contract is refused; a disabled credential
#            can do nothing more.
#   lego:    obtains with http-01 and tls-alpn-01, revokes.
#   pkilint: lints a certificate from each client.
# Usage: .ci/acme-clients.sh SHOMEI_BIN
set -euo pipefail
BIN=$1
W=$(mktemp -d)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT
wait_port() { for _ in $(seq 1 150); do (exec 3<>/dev/tcp/127.0.0.1/"$1") 2>/dev/null && return 0; sleep 0.2; done; echo "port $1 never opened"; return 1; }

DNS=28053; MGMT=28055; HTTP01=28402; TLSALPN=28401
cat >"$W/shomei.toml" <<TOML
[listen]
public = "127.0.0.1:28080"
portal = "127.0.0.1:28443"
desk = "127.0.0.1:28444"
acme = "127.0.0.1:28445"
[pki]
public_base_url = "http://pki.example.jp"
[validation]
resolver = "127.0.0.1:$DNS"
http_port = $HTTP01
tls_port = $TLSALPN
caa_identities = ["shomei.example"]
perspectives = ["https://127.0.0.1:29601", "https://127.0.0.1:29602", "https://127.0.0.1:29603", "https://127.0.0.1:29604", "https://127.0.0.1:29605"]
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
# The contract names acme.example.jp, www.example.jp and *.wild.example.jp.
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$W/k.pem" \
  -subj /CN=acme.example.jp -addext "subjectAltName=DNS:acme.example.jp,DNS:www.example.jp,DNS:*.wild.example.jp" \
  -out "$W/c.csr" 2>/dev/null
KEY=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["access_key"])' "$W/acct.json")
"${S[@]}" contract import --access-key "$KEY" --staff acme --contract-type fixed --file "$W/app.json" --csr "$W/c.csr" >"$W/import.json"
CODE=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["contract_code"])' "$W/import.json")
eab() { "${S[@]}" acme eab create --contract "$CODE" >"$W/eab-$1.json"; }
kid() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["kid"])' "$W/eab-$1.json"; }
hmac() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["hmac"])' "$W/eab-$1.json"; }
eab certbot; eab lego; eab disabled
if "${S[@]}" acme eab create --contract B0000000 >/dev/null 2>"$W/nocontract.err"; then
  echo "a credential was made for a contract that does not exist"; exit 1
fi

pebble-challtestsrv -dns01 "127.0.0.1:$DNS" -http01 "" -https01 "" -tlsalpn01 "" \
  -management "127.0.0.1:$MGMT" >"$W/challtestsrv.log" 2>&1 &
PIDS+=($!)
for p in 29601 29602 29603 29604 29605; do
  "${S[@]}" perspective --listen "127.0.0.1:$p" >"$W/perspective-$p.log" 2>&1 &
  PIDS+=($!)
done
"${S[@]}" serve >"$W/serve.log" 2>&1 &
PIDS+=($!)
wait_port 28445; wait_port "$MGMT"; for p in 29601 29602 29603 29604 29605; do wait_port $p; done
on_fail() { echo "---- serve.log"; tail -50 "$W/serve.log"; echo "---- perspective"; tail -5 "$W/perspective-29601.log"; }
trap 'on_fail; cleanup' ERR

export REQUESTS_CA_BUNDLE="$W/data/pki/root.crt"
DIR=https://127.0.0.1:28445/acme/directory
cb() { local who=$1; shift; certbot "$@" --server "$DIR" --config-dir "$W/$who/c" --work-dir "$W/$who/w" --logs-dir "$W/$who/l" \
  --non-interactive --agree-tos -m ops@example.jp --no-eff-email; }

# Registration.
cb certbot register --eab-kid="$(kid certbot)" --eab-hmac-key="$(hmac certbot)" 2>&1 | tee "$W/ok.txt"
grep -q "Account registered" "$W/ok.txt" || { echo "certbot could not register with EAB"; exit 1; }
if cb without register >"$W/noeab.txt" 2>&1; then echo "registered without EAB"; exit 1; fi
grep -q "external account binding" "$W/noeab.txt" || { cat "$W/noeab.txt"; exit 1; }
if cb reused register --eab-kid="$(kid certbot)" --eab-hmac-key="$(hmac certbot)" >"$W/reuse.txt" 2>&1; then echo "a credential bound twice"; exit 1; fi
grep -q "already bound" "$W/reuse.txt" || { cat "$W/reuse.txt"; exit 1; }
echo "certbot: registered with EAB; refused without it and with a credential already bound"

# http-01, standalone on the port the validator connects to.
cb certbot certonly --standalone --http-01-port "$HTTP01" --http-01-address 127.0.0.1 -d acme.example.jp --cert-name http
openssl verify -CAfile "$W/data/pki/root.crt" -untrusted "$W/certbot/c/live/http/chain.pem" "$W/certbot/c/live/http/cert.pem"
cp "$W/certbot/c/live/http/cert.pem" "$W/certbot-http.pem"
echo "certbot: obtained with http-01"

# dns-01, manual hooks that set and clear the TXT record on the DNS server.
cat >"$W/auth-hook.sh" <<HOOK
#!/bin/sh
curl -s -X POST -d "{\"host\":\"_acme-challenge.\$CERTBOT_DOMAIN.\",\"value\":\"\$CERTBOT_VALIDATION\"}" http://127.0.0.1:$MGMT/set-txt
HOOK
cat >"$W/cleanup-hook.sh" <<HOOK
#!/bin/sh
curl -s -X POST -d "{\"host\":\"_acme-challenge.\$CERTBOT_DOMAIN.\"}" http://127.0.0.1:$MGMT/clear-txt
HOOK
chmod +x "$W/auth-hook.sh" "$W/cleanup-hook.sh"
cb certbot certonly --manual --preferred-challenges dns --manual-auth-hook "$W/auth-hook.sh" \
  --manual-cleanup-hook "$W/cleanup-hook.sh" -d www.example.jp -d '*.wild.example.jp' --cert-name dns
openssl x509 -in "$W/certbot/c/live/dns/cert.pem" -noout -ext subjectAltName | grep -q '\*.wild.example.jp'
echo "certbot: obtained with dns-01 (www.example.jp and *.wild.example.jp)"

# Renewal (the validation is reused within the SC-081 period: no new challenge).
cb certbot renew --cert-name http --force-renewal --no-random-sleep-on-renew
test "$(openssl x509 -in "$W/certbot/c/live/http/cert.pem" -noout -serial)" != "$(openssl x509 -in "$W/certbot-http.pem" -noout -serial)"
echo "certbot: renewed"

# Outside the contract.
if cb certbot certonly --standalone --http-01-port "$HTTP01" --http-01-address 127.0.0.1 -d other.example.jp --cert-name other >"$W/other.txt" 2>&1; then
  echo "issued for a name outside the contract"; exit 1
fi
# (Debian's certbot 2.1 prints the server's problem only to its log: its own display
# of errors fails on Python 3.11.)
grep -q "rejectedIdentifier.*not a domain of contract $CODE" "$W/other.txt" "$W/certbot/l/letsencrypt.log" || { cat "$W/other.txt"; exit 1; }
echo "certbot: an order outside the contract is refused (rejectedIdentifier naming $CODE)"

# Revocation by the account, with a reason.
cb certbot revoke --cert-path "$W/certbot-http.pem" --reason superseded --no-delete-after-revoke
OCSP_URL=$(openssl x509 -noout -ocsp_uri -in "$W/certbot-http.pem" | sed 's|http://pki.example.jp|http://127.0.0.1:28080|')
openssl ocsp -issuer "$W/certbot/c/live/dns/chain.pem" -cert "$W/certbot-http.pem" -url "$OCSP_URL" \
  -CAfile "$W/data/pki/root.crt" -no_nonce >"$W/ocsp.txt" 2>&1 || true
grep -q "revoked" "$W/ocsp.txt" || { cat "$W/ocsp.txt"; exit 1; }
echo "certbot: revoked (OCSP says revoked)"

# lego: http-01, tls-alpn-01, revoke.
export LEGO_CA_CERTIFICATES="$W/data/pki/root.crt"
lg() { lego --server "$DIR" --accept-tos --email ops@example.jp --path "$W/lego" \
  --eab --kid "$(kid lego)" --hmac "$(hmac lego)" "$@"; }
# Names under the contract's wildcard that nothing validated yet: the challenges run.
lg --domains http.wild.example.jp --http --http.port "127.0.0.1:$HTTP01" run 2>&1 | tee "$W/lego-http.txt"
grep -q "Trying to solve HTTP-01" "$W/lego-http.txt" || { echo "lego did not solve http-01"; exit 1; }
lg --domains tls.wild.example.jp --tls --tls.port "127.0.0.1:$TLSALPN" run 2>&1 | tee "$W/lego-tls.txt"
grep -q "Trying to solve TLS-ALPN-01" "$W/lego-tls.txt" || { echo "lego did not solve tls-alpn-01"; exit 1; }
# OV: the subject is the contract's validated organisation, not what the CSR said.
openssl x509 -in "$W/lego/certificates/tls.wild.example.jp.crt" -noout -subject -nameopt utf8 | grep -q "テスト株式会社"
lg --domains tls.wild.example.jp revoke
echo "lego: obtained with http-01 and tls-alpn-01, revoked"

# A disabled credential: the account bound with it can do nothing more.
cb disabled register --eab-kid="$(kid disabled)" --eab-hmac-key="$(hmac disabled)" >/dev/null 2>&1
"${S[@]}" acme eab disable --kid "$(kid disabled)" >/dev/null
if cb disabled certonly --standalone --http-01-port "$HTTP01" --http-01-address 127.0.0.1 -d acme.example.jp --cert-name x >"$W/disabled.txt" 2>&1; then
  echo "a disabled credential's account obtained a certificate"; exit 1
fi
grep -q "this account is revoked" "$W/disabled.txt" "$W/disabled/l/letsencrypt.log" || { cat "$W/disabled.txt"; exit 1; }
echo "certbot: the account of a disabled credential is refused"

# pkilint on a certificate from each client.
# (lego's .crt is the certificate with its issuer: lint the first.)
openssl x509 -in "$W/lego/certificates/http.wild.example.jp.crt" -out "$W/lego-leaf.pem"
for c in "$W/certbot/c/live/dns/cert.pem" "$W/lego-leaf.pem"; do
  lint_cabf_serverauth_cert lint -t OV-FINAL-CERTIFICATE -s WARNING "$c" || true
  lint_cabf_serverauth_cert lint -t OV-FINAL-CERTIFICATE -s ERROR "$c" || { echo "pkilint: ERROR or FATAL in $c"; exit 1; }
done
echo "pkilint: certificates from certbot and lego pass (no ERROR/FATAL)"
echo "ACME clients: all checks passed"
