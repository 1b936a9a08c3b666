#!/usr/bin/env python3
"""Pushes the differential CSR corpus (gen.py) through Shomei's real issuance path —
`shomei contract import`, which checks the form and the CSR, records the application,
approves it and issues through Ra::issue — and checks every outcome:

  * a case marked "issued" must be issued, and its certificate must pass pkilint
    (lint_cabf_serverauth_cert, OV or EV final certificate) with no ERROR or FATAL;
  * a case marked with a message key must be refused, and the command must print that
    key's English sentence (crates/web/messages/en.toml), not the key.

    run.py SHOMEI_BIN CORPUS_DIR WORK_DIR

Prints the counts and exits non-zero on any mismatch.
"""
import json
import os
import re
import subprocess
import sys
import tomllib

BIN, CORPUS, WORK = sys.argv[1:4]
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
with open(os.path.join(ROOT, "crates/web/messages/en.toml"), "rb") as f:
    EN = tomllib.load(f)

os.makedirs(WORK, exist_ok=True)
config = os.path.join(WORK, "shomei.toml")
with open(config, "w") as f:
    f.write(
        '[pki]\npublic_base_url = "http://pki.example.jp"\noperator = "Shomei Corpus CA"\n'
        f'weak_keys_dir = "{os.path.join(CORPUS, "weak-keys")}"\n'
    )
base = [BIN, "--data-dir", os.path.join(WORK, "data"), "--config", config]


def cli(*args):
    return json.loads(subprocess.run(base + list(args), check=True, capture_output=True, text=True).stdout)


account = cli("account", "create", "--org", "コーパス株式会社", "--email", "ops@example.jp", "--out", os.path.join(WORK, "acct"))
staff = cli("staff", "create", "--name", "審査 太郎", "--email", "staff@example.jp", "--login", "corpus", "--out", os.path.join(WORK, "staff"))

common = {
    "term": "1", "server_type": "apache", "org_name": "コーパス株式会社", "org_country": "JP",
    "org_state": "Tokyo", "org_locality": "Chiyoda-ku",
    "reg_name": "登録 太郎", "reg_email": "reg@example.jp", "reg_phone": "03-1234-5678",
    "tech_name": "技術 花子", "tech_email": "tech@example.jp", "tech_phone": "03-1234-5679",
    "admin_name": "事務 次郎", "admin_email": "admin@example.jp", "admin_phone": "03-1234-5670",
}
ov = dict(common, service="SR3.0")
ev = dict(common, service="EV2.0", ev_business_category="Private Organization",
          ev_jurisdiction_country="JP", ev_registration_number="0110-01-012345")
for name, data in (("ov", ov), ("ev", ev)):
    with open(os.path.join(WORK, f"{name}.json"), "w") as f:
        json.dump(data, f, ensure_ascii=False)

with open(os.path.join(CORPUS, "manifest.json")) as f:
    manifest = json.load(f)
certs = os.path.join(WORK, "certs")
os.makedirs(certs, exist_ok=True)
issued, refused, failures = [], [], []
for case in manifest:
    kind = "ev" if case["name"].startswith("ev-") else "ov"
    out = os.path.join(certs, case["name"] + ".pem")
    r = subprocess.run(
        base + ["contract", "import", "--access-key", account["access_key"], "--staff", staff["login"],
                "--contract-type", "fixed", "--file", os.path.join(WORK, f"{kind}.json"),
                "--csr", case["csr"], "--cert-out", out],
        capture_output=True, text=True,
    )
    expect = case["expect"]
    if expect == "issued":
        if r.returncode != 0:
            failures.append(f"{case['name']}: expected issued, refused: {r.stderr.strip()}")
            continue
        lint = subprocess.run(
            ["lint_cabf_serverauth_cert", "lint", "-t", f"{kind.upper()}-FINAL-CERTIFICATE", "-s", "ERROR", out],
            capture_output=True, text=True,
        )
        if lint.returncode != 0:
            failures.append(f"{case['name']}: pkilint ERROR/FATAL:\n{lint.stdout}{lint.stderr}")
            continue
        issued.append(case["name"])
    else:
        if r.returncode == 0:
            failures.append(f"{case['name']}: expected refusal {expect}, issued: {r.stdout.strip()}")
            continue
        sentence = EN.get(expect)
        if sentence is None:
            failures.append(f"{case['name']}: no English sentence for {expect}")
            continue
        # The sentence with its detail put in: every fixed part must be printed.
        parts = [p for p in sentence.split("{}") if p.strip()]
        if not all(p in r.stderr for p in parts) or re.search(r"\bcsr\.[a-z_0-9]+\b", r.stderr):
            failures.append(f"{case['name']}: expected the sentence of {expect!r}, got: {r.stderr.strip()}")
            continue
        refused.append(case["name"])
        print(f"  refused {case['name']}: {r.stderr.strip().splitlines()[-1][:200]}")

print(f"corpus: {len(manifest)} cases — {len(issued)} issued and pkilint-clean, "
      f"{len(refused)} refused with their message, {len(failures)} mismatches")
for f in failures:
    print("MISMATCH", f)
sys.exit(1 if failures else 0)
