// The main journey of issue #2, in a real browser: the customer logs in with the login
// certificate (PKCS#12), changes the initial password (R-L3), applies with a CSR made by
// `openssl req` (R-N1, R-A3), staff approve at the desk, the customer downloads the
// certificate (R-D1, R-D2), and `openssl verify` accepts it. Once for SR3.0 (OV, RSA)
// and once for EV2.0 (ECDSA). The downloaded files go to $E2E_OUT for pkilint.
//
// Needs: SHOMEI_BIN (the shomei binary), /usr/bin/chromium, openssl.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync, mkdirSync, existsSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import net from 'node:net';
import { chromium } from 'playwright-core';

const BIN = process.env.SHOMEI_BIN;
const OUT = process.env.E2E_OUT || mkdtempSync(join(tmpdir(), 'shomei-e2e-out-'));
const PORTS = { public: 18080, portal: 18443, desk: 18444, acme: 18445 };
// The validation engine's DNS server (Debian's pebble-challtestsrv: every name resolves
// to 127.0.0.1, TXT records set by the test) and the port http-01 checks connect to.
const DNS = { dns: 18053, management: 18055, http01: 18402 };
const PORTAL = `https://127.0.0.1:${PORTS.portal}`;
const DESK = `https://127.0.0.1:${PORTS.desk}`;
const NEW_CUSTOMER_PW = 'Sakura-2026-blossom';
const NEW_STAFF_PW = 'Review-2026-desk-pass';

const issued = {};
let server, serverLog = () => '', browser, dir, demo, customerPassword = null, staffPassword = null, challtestsrv;

function waitPort(port, ms = 60000) {
  const until = Date.now() + ms;
  return new Promise((resolve, reject) => {
    const tryOnce = () => {
      const s = net.connect(port, '127.0.0.1');
      s.on('connect', () => { s.destroy(); resolve(); });
      s.on('error', () => {
        s.destroy();
        if (Date.now() > until) reject(new Error(`port ${port} not open`));
        else setTimeout(tryOnce, 200);
      });
    };
    tryOnce();
  });
}

// Starts shomei on the e2e data dir (again after a stop: everything is reused), with
// extra environment (the debug build's SHOMEI_DEV_TIME_OFFSET_DAYS moves its clock).
let earlierLogs = '';
async function startServer(env = {}) {
  server = spawn(BIN, ['--data-dir', join(dir, 'data'), '--config', join(dir, 'shomei.toml'), 'serve'], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
  let log = '';
  server.stdout.on('data', (d) => { log += d; });
  server.stderr.on('data', (d) => { log += d; });
  serverLog = () => earlierLogs + log;
  server.on('exit', (code) => { if (code) console.error(`shomei exited ${code}:\n${log}`); });
  const until = Date.now() + 120000;
  while (!log.includes('Shomei is running.')) {
    assert.ok(server.exitCode === null, `shomei exited early:\n${log}`);
    assert.ok(Date.now() < until, `shomei did not start:\n${log}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  await Promise.all(Object.values(PORTS).map((p) => waitPort(p)));
}

async function stopServer() {
  earlierLogs = serverLog();
  const exited = new Promise((r) => server.once('exit', r));
  server.kill('SIGTERM');
  await exited;
}

before(async () => {
  assert.ok(BIN && existsSync(BIN), 'SHOMEI_BIN must point at the shomei binary');
  assert.ok(existsSync('/usr/bin/chromium'), 'Debian chromium must be installed (/usr/bin/chromium)');
  mkdirSync(OUT, { recursive: true });
  dir = mkdtempSync(join(tmpdir(), 'shomei-e2e-'));
  // Certificates carry a public-style base URL so pkilint accepts their AIA/CRL URLs.
  writeFileSync(join(dir, 'shomei.toml'), `[listen]
public = "127.0.0.1:${PORTS.public}"
portal = "127.0.0.1:${PORTS.portal}"
desk = "127.0.0.1:${PORTS.desk}"
acme = "127.0.0.1:${PORTS.acme}"
[pki]
public_base_url = "http://pki.example.jp"
[validation]
resolver = "127.0.0.1:${DNS.dns}"
http_port = ${DNS.http01}
# A laboratory: the primary perspective alone (.ci/acme-clients.sh runs five remote ones).
min_remote_perspectives = 0
${process.env.E2E_SMTP ? `[mail]\nsmtp_url = "${process.env.E2E_SMTP}"\n` : ''}`);
  challtestsrv = spawn('pebble-challtestsrv', ['-dns01', `127.0.0.1:${DNS.dns}`, '-http01', '', '-https01', '', '-tlsalpn01', '',
    '-management', `127.0.0.1:${DNS.management}`], { stdio: 'ignore' });
  await waitPort(DNS.management);
  await startServer();
  demo = JSON.parse(readFileSync(join(dir, 'data', 'demo', 'credentials.json'), 'utf8'));
  browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
});

after(async () => {
  if (browser) await browser.close();
  if (server) server.kill('SIGTERM');
  if (challtestsrv) challtestsrv.kill('SIGTERM');
  writeFileSync(join(OUT, 'server.log'), serverLog());
});

function customerContext() {
  return browser.newContext({
    ignoreHTTPSErrors: true,
    acceptDownloads: true,
    clientCertificates: [{ origin: PORTAL, pfxPath: demo.customer_p12, passphrase: demo.customer_p12_password }],
  });
}

function staffContext() {
  return browser.newContext({
    ignoreHTTPSErrors: true,
    clientCertificates: [{ origin: DESK, pfxPath: demo.staff_p12, passphrase: demo.staff_p12_password }],
  });
}

async function heading(page) {
  return (await page.locator('h1').innerText()).trim();
}

// Logs the customer in; the first time, changes the initial password (R-L3, R-P1).
async function customerLogin(page) {
  await page.goto(`${PORTAL}/`);
  assert.equal(await heading(page), 'ログイン');
  await page.getByLabel('アクセスキー').fill(demo.access_key);
  await page.getByLabel('パスワード', { exact: true }).fill(customerPassword ?? demo.customer_initial_password);
  await page.getByRole('button', { name: 'ログイン' }).click();
  if (customerPassword === null) {
    assert.equal(await heading(page), 'パスワード変更');
    await assert.doesNotReject(page.getByText('初期パスワードでログインしています').waitFor());
    // The menu is not offered until the password is changed.
    assert.equal(await page.getByRole('link', { name: '新規申請' }).count(), 0);
    await page.getByLabel('現在のパスワード').fill(demo.customer_initial_password);
    await page.getByLabel('パスワード', { exact: true }).fill(NEW_CUSTOMER_PW);
    await page.getByLabel('パスワード確認').fill(NEW_CUSTOMER_PW);
    await page.getByRole('button', { name: '変更' }).click();
    await page.getByText('パスワードを変更しました。').waitFor();
    // Issue #8 item 15: after the change, the way on to the top page.
    await page.getByRole('link', { name: 'トップページへ' }).waitFor();
    customerPassword = NEW_CUSTOMER_PW;
  }
}

async function staffLogin(page) {
  await page.goto(`${DESK}/`);
  await page.getByLabel('ログイン名').fill(demo.staff_login);
  await page.getByLabel('パスワード', { exact: true }).fill(staffPassword ?? demo.staff_initial_password);
  await page.getByRole('button', { name: 'ログイン' }).click();
  if (staffPassword === null) {
    assert.equal(await heading(page), 'パスワード変更');
    // Issue #8 item 15: staff wording on the desk's password page.
    const hint = await page.locator('#new-hint').innerText();
    assert.match(hint, /ログイン名を含めないこと/);
    assert.doesNotMatch(await page.locator('main').innerText(), /アクセスキー|弊社がアカウントに登録/);
    await page.getByLabel('現在のパスワード').fill(demo.staff_initial_password);
    await page.getByLabel('パスワード', { exact: true }).fill(NEW_STAFF_PW);
    await page.getByLabel('パスワード確認').fill(NEW_STAFF_PW);
    await page.getByRole('button', { name: '変更' }).click();
    await page.getByText('パスワードを変更しました。').waitFor();
    staffPassword = NEW_STAFF_PW;
    await page.goto(`${DESK}/`);
  }
  assert.equal(await heading(page), '審査待ち一覧');
}

function makeCsr(name, kind) {
  const key = join(OUT, `${name}.key`);
  const csr = join(OUT, `${name}.csr`);
  const newkey = kind === 'ec' ? ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256'] : ['-newkey', 'rsa:2048'];
  execFileSync('openssl', ['req', '-new', ...newkey, '-nodes', '-keyout', key, '-subj', `/CN=${name}`, '-addext', `subjectAltName=DNS:${name}`, '-out', csr], { stdio: 'pipe' });
  return readFileSync(csr, 'utf8');
}

// Clicks the submit button, then repeats the same POST (what a double click or a
// reload of the POST does); both must land on the same completion page (R-A4).
async function submitTwice(page, label) {
  const form = page.locator('form').filter({ has: page.getByRole('button', { name: label }) });
  const action = new URL(await form.getAttribute('action'), page.url()).toString();
  const csrf = await form.locator('input[name=csrf]').inputValue();
  await Promise.all([page.waitForURL(/\/applications\/\d+\/done$/), page.getByRole('button', { name: label }).click()]);
  const first = new URL(page.url()).pathname;
  const again = await page.request.post(action, { form: { csrf }, maxRedirects: 0 });
  assert.equal(again.status(), 303);
  assert.equal(again.headers()['location'], first, 'the repeated submit lands on the same record');
  return first.match(/applications\/(\d+)\/done/)[1];
}

// Fills the three contacts of an application form.
async function fillContacts(page) {
  for (const [p, n, m, t] of [['reg', '登録 太郎', 'reg@example.jp', '03-1234-5678'], ['tech', '技術 花子', 'tech@example.jp', '03-1234-5679'], ['admin', '事務 次郎', 'admin@example.jp', '03-1234-5670']]) {
    await page.locator(`#${p}_name`).fill(n);
    await page.locator(`#${p}_email`).fill(m);
    await page.locator(`#${p}_phone`).fill(t);
  }
}

async function apply(page, { service, label, csr, ev, name }) {
  await page.getByRole('navigation').getByRole('link', { name: '新規申請' }).click();
  assert.equal(await heading(page), '新規申請 サービス選択');
  await page.getByLabel(label).check();
  await page.getByLabel('契約期間').selectOption('1');
  await page.getByRole('button', { name: '次へ' }).click();
  assert.equal(await heading(page), '申請規約同意');
  await page.getByRole('button', { name: '同意する' }).click();
  assert.equal(await heading(page), '基本情報入力');

  // Everything filled in, but a bad CSR first: the server's message appears on the form
  // and the rest is kept (issue #2 "bad input").
  await page.getByLabel('CSR（PEM 形式を貼り付け）').fill('this is not a CSR');
  await page.getByLabel('サーバタイプ').selectOption('nginx');
  await page.getByLabel('申請組織名').fill('テスト株式会社');
  await page.locator('#org_country').selectOption('JP');
  await page.locator('#org_state').fill('Tokyo');
  await page.locator('#org_locality').fill('Shibuya-ku');
  await fillContacts(page);
  if (ev) {
    await page.getByLabel('組織の種類（businessCategory）').selectOption('Private Organization');
    await page.getByLabel('設立管轄国').selectOption('JP');
    await page.getByLabel('登記番号').fill('0110-01-012345');
  }
  await page.getByRole('button', { name: '次へ' }).click();
  await page.locator('#csr-error').waitFor();
  assert.match(await page.locator('#csr-error').innerText(), /CSR として読み取れません/);
  assert.equal(await page.getByLabel('申請組織名').inputValue(), 'テスト株式会社');
  assert.equal(await page.locator('#tech_email').inputValue(), 'tech@example.jp');

  await page.getByLabel('CSR（PEM 形式を貼り付け）').fill(csr);
  await page.getByRole('button', { name: '次へ' }).click();
  assert.equal(await heading(page), '入力内容確認');
  await page.getByText(service).first().waitFor();
  // Double submit (R-A4): submit, then send the very same POST again.
  const id = await submitTwice(page, '申込');
  assert.equal(await heading(page), '申請完了');
  // Back to the confirmation page of a submitted draft, and reload: still the same
  // completion page, no second application.
  await page.goBack();
  await page.reload();
  assert.match(page.url(), new RegExp(`/applications/${id}/done$`));
  // Issue #8 item 11: what happens next, how long, whom to ask; EV says what it needs.
  const steps = await page.locator('#next-steps').innerText();
  assert.match(steps, /営業日/);
  assert.match(steps, /TXT レコード/);
  if (ev) assert.match(steps, /申請責任者/); else assert.doesNotMatch(steps, /申請責任者/);
  await page.locator('#support a[href^="mailto:"]').waitFor();
  await page.goto(`${PORTAL}/applications/${id}`);
  assert.match(await page.locator('#status-help').innerText(), /審査の順番を待っています/);
  await page.goto(`${PORTAL}/applications`);
  assert.equal(await page.getByRole('row').filter({ hasText: name }).count(), 1, 'exactly one application for this CSR');
  return id;
}

async function approve(page, id, ev) {
  await page.goto(`${DESK}/`);
  await page.getByRole('row', { name: new RegExp(`^${id} `) }).getByRole('link', { name: '審査する' }).click();
  assert.equal(await heading(page), 'お申込み審査');
  // Issue #10: the domains are validated by the system, not attested: the random value
  // of each goes into a TXT record on the DNS server the validation engine asks, and
  // staff have the system check before choosing "DNS レコード".
  const rows = page.locator('#domain-checks tbody tr');
  for (let i = 0; i < await rows.count(); i++) {
    const domain = (await rows.nth(i).locator('td').nth(0).innerText()).trim();
    const value = (await rows.nth(i).locator('code').innerText()).trim();
    const r = await fetch(`http://127.0.0.1:${DNS.management}/set-txt`, { method: 'POST', body: JSON.stringify({ host: `_validation-shomei.${domain}.`, value }) });
    assert.ok(r.ok, 'TXT record set');
  }
  await page.getByRole('button', { name: 'ドメイン名を今すぐ確認する' }).click();
  await page.getByText('ドメイン名を確認しました。', { exact: false }).waitFor();
  for (const s of await page.locator('#domain-checks .domain-state').allInnerTexts()) assert.match(s, /^確認済み（DNS TXT/);
  await page.getByLabel(/組織の審査方法/).selectOption('registry');
  if (ev) await page.getByLabel('EV 情報の審査方法').selectOption('registry');
  const domains = page.getByLabel(/ドメインの審査方法/);
  for (let i = 0; i < await domains.count(); i++) await domains.nth(i).selectOption('dns-change');
  await page.getByRole('button', { name: '承認して発行する' }).click();
  await page.getByText('承認し、証明書を発行しました。').waitFor();
  assert.equal(await page.locator('#status').innerText(), '完了');
}

async function download(page, id, name) {
  await page.goto(`${PORTAL}/applications`);
  const row = page.getByRole('row').filter({ has: page.locator(`a[href="/applications/${id}"]`) });
  assert.match(await row.innerText(), /完了/);
  assert.match(await row.innerText(), /B\d{7}/, 'contract code (R-A2)');
  await row.getByRole('link', { name: '詳細' }).click();
  assert.equal(await heading(page), 'お申込情報詳細');
  await page.getByRole('link', { name: 'ダウンロードはこちら' }).click();
  const files = {};
  for (const [label, file, ext] of [
    ['証明書をダウンロード（PEM）', 'cert', 'pem'],
    ['中間CA証明書チェーンをダウンロード（PEM）', 'chain', 'pem'],
    ['証明書をダウンロード（DER）', 'der', 'der'],
    ['証明書＋チェーンをダウンロード（PKCS#7、IIS 向け）', 'p7b', 'p7b'],
  ]) {
    const [dl] = await Promise.all([page.waitForEvent('download'), page.getByRole('link', { name: label }).click()]);
    files[file] = join(OUT, `${name}-${file}.${ext}`);
    await dl.saveAs(files[file]);
  }
  // R-D1: web stickers, SVG and PNG in two sizes, linking to the public seal page.
  assert.ok(await page.getByRole('img', { name: 'Web ステッカー（見本）' }).evaluate((img) => img.complete && img.naturalWidth > 0), 'the sticker preview renders');
  for (const [label, file] of [['Web ステッカー 大（PNG）をダウンロード', 'seal-large.png'], ['Web ステッカー 小（SVG）をダウンロード', 'seal-small.svg']]) {
    const [dl] = await Promise.all([page.waitForEvent('download'), page.getByRole('link', { name: label }).click()]);
    files[file] = join(OUT, `${name}-${file}`);
    await dl.saveAs(files[file]);
  }
  assert.deepEqual([...readFileSync(files['seal-large.png']).subarray(1, 4)], [...Buffer.from('PNG')]);
  const sealUrl = await page.locator('a[href*="/seal/"]').first().getAttribute('href');
  assert.ok(readFileSync(files['seal-small.svg'], 'utf8').includes(sealUrl), 'the sticker links to the seal page');
  files.seal = sealUrl.replace('http://pki.example.jp', `http://127.0.0.1:${PORTS.public}`);
  // R-D1: the same certificate as DER, and as PKCS#7 with the whole chain.
  const fromDer = execFileSync('openssl', ['x509', '-inform', 'DER', '-in', files.der], { encoding: 'utf8' });
  assert.equal(fromDer.trim(), readFileSync(files.cert, 'utf8').trim());
  const p7 = execFileSync('openssl', ['pkcs7', '-inform', 'DER', '-in', files.p7b, '-print_certs'], { encoding: 'utf8' });
  assert.equal((p7.match(/BEGIN CERTIFICATE/g) || []).length, 3, 'leaf, issuing CA and root');
  return files;
}

test('a browser without a login certificate sees only how to get one (R-L1)', async () => {
  const ctx = await browser.newContext({ ignoreHTTPSErrors: true });
  const page = await ctx.newPage();
  await page.goto(`${PORTAL}/`);
  assert.equal(await heading(page), 'ログイン用電子証明書が必要です');
  assert.equal(await page.locator('input[type=password]').count(), 0);
  await ctx.close();
});

for (const c of [
  { name: 'www.e2e-ov.example.jp', service: 'セコムパスポート for Web SR3.0 1年', label: 'セコムパスポート for Web SR3.0', kind: 'rsa', ev: false, lint: 'ov' },
  { name: 'shop.e2e-ev.example.jp', service: 'セコムパスポート for Web EV2.0 1年', label: 'セコムパスポート for Web EV2.0', kind: 'ec', ev: true, lint: 'ev' },
]) {
  test(`journey ${c.lint.toUpperCase()}: login → apply → staff approve → download → openssl verify`, async () => {
    const cctx = await customerContext();
    const cpage = await cctx.newPage();
    await customerLogin(cpage);
    const id = await apply(cpage, { service: c.service, label: c.label, csr: makeCsr(c.name, c.kind), ev: c.ev, name: c.name });

    // Before 完了, no download (R-D2).
    const before = await cpage.request.get(`${PORTAL}/applications/${id}/certificate.pem`);
    assert.equal(before.status(), 404);

    const sctx = await staffContext();
    const spage = await sctx.newPage();
    await staffLogin(spage);
    await approve(spage, id, c.ev);
    await sctx.close();

    const files = await download(cpage, id, c.lint);
    const out = execFileSync('openssl', ['verify', '-CAfile', join(dir, 'data', 'pki', 'root.crt'), '-untrusted', files.chain, files.cert], { encoding: 'utf8' });
    assert.match(out, /: OK/);
    const text = execFileSync('openssl', ['x509', '-in', files.cert, '-noout', '-text'], { encoding: 'utf8' });
    assert.match(text, new RegExp(`DNS:${c.name.replace(/\./g, '\\.')}`));
    assert.match(text, c.ev ? /2\.23\.140\.1\.1\b/ : /2\.23\.140\.1\.2\.2/);
    writeFileSync(join(OUT, `${c.lint}-root.pem`), readFileSync(join(dir, 'data', 'pki', 'root.crt')));
    // The seal's verification page on the public listener: organisation, domain, live status.
    await cpage.goto(files.seal);
    assert.equal(await heading(cpage), '証明書の確認');
    assert.match(await cpage.getByRole('status').innerText(), /状態: 有効/);
    assert.match(await cpage.locator('dl.kv').innerText(), new RegExp(c.name.replace(/\./g, '\\.')));
    assert.match(await cpage.locator('dl.kv').innerText(), /テスト株式会社/);
    // Issue #8 item 18: a page for site visitors, with the certificate type stated.
    assert.doesNotMatch(await cpage.locator('header').innerText(), /お客様専用管理画面/);
    assert.match(await cpage.locator('header').innerText(), /サイトをご覧の方へ/);
    assert.match(await cpage.locator('#seal-type').innerText(), c.ev ? /^EV 証明書/ : /^OV 証明書/);
    issued[c.lint] = { id, files };
    await cctx.close();
  });
}

test('issue #8 items 3, 8, 12, 14, 16, 19: what a new customer and staff member read', async () => {
  const cctx = await customerContext();
  const page = await cctx.newPage();
  await customerLogin(page);
  // Item 8: service names without a stray 年, and terms in words.
  await page.getByRole('navigation').getByRole('link', { name: '新規申請' }).click();
  assert.doesNotMatch(await page.locator('main').innerText(), /SR3\.0 年|EV2\.0 年/);
  assert.equal(await page.getByLabel('契約期間').locator('option', { hasText: '1年' }).count(), 1);
  // Item 16: 更新のご案内メール left unselected reads 希望しない on the confirmation page.
  await page.getByLabel('セコムパスポート for Web SR3.0').check();
  await page.getByRole('button', { name: '次へ' }).click();
  await page.getByRole('button', { name: '同意する' }).click();
  await page.getByLabel('サーバタイプ').selectOption('apache');
  await page.getByLabel('申請組織名').fill('テスト株式会社');
  await page.locator('#org_country').selectOption('JP');
  await page.locator('#org_state').fill('Tokyo');
  await page.locator('#org_locality').fill('Shibuya-ku');
  await fillContacts(page);
  await page.getByLabel('CSR（PEM 形式を貼り付け）').fill(makeCsr('words.e2e.example.jp', 'ec'));
  await page.getByRole('button', { name: '次へ' }).click();
  assert.equal(await heading(page), '入力内容確認');
  assert.equal(await page.getByText('希望しない', { exact: true }).count(), 3, 'three contacts, each 希望しない');
  // Item 3: the action pull-down starts on 「---選択してください---」, not a destructive action.
  await page.goto(`${PORTAL}/applications/${issued.ov.id}`);
  // Item 9: the contract's period, its certificates and when the next one comes.
  assert.match(await page.locator('#contract-period').innerText(), /\d{4}\/\d{2}\/\d{2} – \d{4}\/\d{2}\/\d{2}（残り \d+ 日）/);
  assert.match(await page.locator('#coverage-certs').innerText(), /新規発行/);
  assert.match(await page.locator('#coverage-next').innerText(), /継続発行/);
  assert.equal(await page.locator('#action').inputValue(), '');
  assert.equal((await page.locator('#action option:checked').innerText()).trim(), '---選択してください---');
  // Item 12: a reversed date range is said as such; the active conditions are repeated.
  await page.goto(`${PORTAL}/applications?date=applied&from=2026-12-31&to=2026-01-01&kind=new`);
  await page.getByText('開始日が終了日より後になっています').waitFor();
  const conditions = await page.locator('#search-conditions').innerText();
  assert.match(conditions, /お申込日（日本時間）: 2026-12-31 – 2026-01-01/);
  assert.match(conditions, /申請区分: 新規発行/);
  // Item 19: an HTML snippet that shows the sticker and links to the seal page.
  await page.goto(`${PORTAL}/applications/${issued.ov.id}/download`);
  assert.match(await page.getByLabel('サイトに貼り付ける HTML').inputValue(), /^<a href="http:\/\/pki\.example\.jp\/seal\/[0-9a-f]+"[^>]*><img src="sticker-small\.png"/);
  await page.getByRole('link', { name: 'English' }).click();
  await page.getByLabel('HTML for your site').waitFor();
  await page.getByRole('navigation').getByRole('link', { name: 'New application' }).click();
  assert.doesNotMatch(await page.locator('main').innerText(), /year\(s\)/);
  await page.getByRole('link', { name: '日本語' }).click();
  await cctx.close();

  // Item 14: the desk shows validation kinds and account history in words.
  const sctx = await staffContext();
  const desk = await sctx.newPage();
  await staffLogin(desk);
  await desk.goto(`${DESK}/applications/${issued.ov.id}`);
  const record = await desk.locator('main').innerText();
  assert.match(record, /組織/);
  assert.doesNotMatch(record, /\borganization\b|\bdomain\b/);
  await desk.getByRole('navigation').getByRole('link', { name: 'アカウント管理' }).click();
  await desk.getByLabel('アクセスキー・組織名・E-mail').fill(demo.access_key);
  await desk.getByRole('button', { name: '検索' }).click();
  await desk.getByRole('row', { name: new RegExp(demo.access_key) }).getByRole('link', { name: '詳細' }).click();
  const history = await desk.locator('main').innerText();
  assert.match(history, /ログイン成功/);
  assert.doesNotMatch(history, /login\.success|審査日時/);
  await sctx.close();
});

// Asks the OCSP responder with the real client; saves the DER response for pkilint.
function ocsp(cert = issued.ov.files.cert) {
  const issuer = join(dir, 'data', 'pki', 'server-ca.crt');
  const out = execFileSync('openssl', ['ocsp', '-issuer', issuer, '-cert', cert, '-url', `http://127.0.0.1:${PORTS.public}/ocsp/server`,
    '-CAfile', issued.ov.files.chain, '-no_nonce', '-respout', join(OUT, 'ocsp.der')], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  assert.match(out, /Response verify OK|: (good|revoked)/);
  return out;
}

// Issue #11: the CRL of the certificate's shard, at the URL its CRL distribution point names.
async function fetchCrl(name, cert = issued.ov.files.cert) {
  const ext = execFileSync('openssl', ['x509', '-in', cert, '-noout', '-ext', 'crlDistributionPoints'], { encoding: 'utf8' });
  const url = ext.match(/URI:(\S+)/)[1];
  assert.match(url, /^http:\/\/pki\.example\.jp\/crl\/server\/\d+\.crl$/);
  const res = await fetch(url.replace('http://pki.example.jp', `http://127.0.0.1:${PORTS.public}`));
  assert.equal(res.status, 200);
  const file = join(OUT, name);
  writeFileSync(file, Buffer.from(await res.arrayBuffer()));
  return execFileSync('openssl', ['crl', '-inform', 'DER', '-in', file, '-CAfile', issued.ov.files.chain, '-noout', '-text'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

test('revocation R-V1..R-V4: request → warning → phone confirmation at the desk → CRL lists it', async () => {
  assert.ok(issued.ov, 'the OV journey ran first');
  const serial = execFileSync('openssl', ['x509', '-in', issued.ov.files.cert, '-noout', '-serial'], { encoding: 'utf8' }).trim().replace('serial=', '');
  const before = await fetchCrl('crl-before.der');
  assert.ok(!before.includes(serial), 'not on the CRL before the revocation');
  assert.match(ocsp(), /: good/, 'OCSP good before the revocation');

  const cctx = await customerContext();
  const page = await cctx.newPage();
  await customerLogin(page);
  await page.goto(`${PORTAL}/applications/${issued.ov.id}`);
  await page.getByLabel('手続き').selectOption({ label: '失効申請' });
  await page.getByRole('button', { name: '次へ' }).click();
  assert.equal(await heading(page), '失効申請規約同意');
  await page.getByRole('button', { name: '同意する' }).click();
  assert.equal(await heading(page), '失効申請 入力画面');
  await page.getByLabel('証明書の内容を変更するため').check();
  await page.getByRole('button', { name: '次へ' }).click();
  assert.equal(await heading(page), '失効申請 入力確認画面');
  await page.getByText('取消しはできません').first().waitFor(); // R-V3
  const revId = await submitTwice(page, '確認');
  assert.equal(await heading(page), '失効申請完了画面');
  // Issue #8 item 17: the contract's own record says a revocation is under way.
  await page.goto(`${PORTAL}/applications/${issued.ov.id}`);
  assert.equal(await page.locator('#status').innerText(), '完了（失効申請中）');
  assert.match(await page.locator('#status-help').innerText(), /失効（または解約）のお申込みを受け付けています/);
  // Still valid until the phone confirmation (R-V4).
  assert.ok(!(await fetchCrl('crl-pending.der')).includes(serial));

  const sctx = await staffContext();
  const desk = await sctx.newPage();
  await staffLogin(desk);
  const row = desk.getByRole('row', { name: new RegExp(`^${revId} `) });
  assert.match(await row.innerText(), /電話確認待ち/);
  await row.getByRole('link', { name: '審査する' }).click();
  // Issue #8 item 7: the time left has its units; the other outcomes of the call.
  assert.match(await desk.locator('#rev-deadline').innerText(), /残り \d+時間\d+分/);
  await desk.getByLabel('登録担当者に連絡がつかなかった（期限内にかけ直します）').check();
  await desk.getByLabel('記録（日時・相手・内容など）').fill('10:05 留守番電話');
  await desk.getByRole('button', { name: '結果を記録する' }).click();
  await desk.getByText('連絡がつかなかったことを記録しました').waitFor();
  assert.match(await desk.locator('#rev-attempts').innerText(), /10:05 留守番電話/);
  assert.match(await desk.locator('#rev-deadline').innerText(), /残り \d+時間\d+分/, 'the deadline stays visible');
  assert.equal(await desk.locator('#status').innerText(), '電話確認待ち');
  await desk.getByRole('button', { name: '電話確認を記録して失効する' }).click();
  await desk.getByText('証明書を失効しました').waitFor();
  await sctx.close();

  const status = ocsp();
  assert.match(status, /: revoked/, 'OCSP revoked after the confirmation');
  assert.match(status, /Reason: superseded/);
  const after = await fetchCrl('crl.der');
  assert.ok(after.includes(serial), `serial ${serial} on the CRL`);
  assert.match(after, /Superseded/);
  // The record shows the revocation; revoking again is no longer offered (R-A5).
  await page.goto(`${PORTAL}/applications/${issued.ov.id}`);
  await page.getByText('に失効しました').waitFor();
  assert.equal(await page.locator('option', { hasText: '失効申請' }).count(), 0, 'revocation no longer offered (R-A5)');
  writeFileSync(join(OUT, 'crl-serial.txt'), serial);
  // The seal page says so too (R-D1: live status).
  await page.goto(issued.ov.files.seal);
  assert.match(await page.getByRole('status').innerText(), /状態: 失効済み/);
  await cctx.close();
});

// The notice mails (issue #3): through the SMTP server CI runs (E2E_SMTP + E2E_MAILDIR),
// or the outbox directory without one. Japanese first, then English.
function readMails() {
  const dirs = process.env.E2E_MAILDIR ? [join(process.env.E2E_MAILDIR, 'new'), join(process.env.E2E_MAILDIR, 'cur')] : [join(dir, 'data', 'outbox')];
  const bodies = [];
  for (const d of dirs) {
    if (!existsSync(d)) continue;
    for (const f of readdirSync(d)) {
      const text = readFileSync(join(d, f), 'utf8');
      const [, body = ''] = text.split(/\r?\n\r?\n/, 2).length > 1 ? [null, text.slice(text.search(/\r?\n\r?\n/)).trim()] : [];
      bodies.push(Buffer.from(body.replace(/\s+/g, ''), 'base64').toString('utf8'));
    }
  }
  return bodies;
}

test('notices by mail: new application and revocation request to staff, issuance and revocation to the customer', async () => {
  const want = [/新しいお申込みがあります/, /証明書を発行しました/, /失効申請があります/, /証明書を失効しました/];
  const until = Date.now() + 20000;
  let bodies = [];
  while (Date.now() < until) {
    bodies = readMails();
    if (want.every((re) => bodies.some((b) => re.test(b))) && bodies.length >= 6) break;
    await new Promise((r) => setTimeout(r, 250));
  }
  for (const re of want) assert.ok(bodies.some((b) => re.test(b)), `a mail matching ${re} (got ${bodies.length} mails)`);
  assert.ok(bodies.every((b) => b.includes('---- English ----')), 'every mail has an English part');
  assert.equal(bodies.filter((b) => /新しいお申込みがあります/.test(b)).length, 2, 'one staff notice per application (OV, EV)');
});

// Fills the (prefilled) input page of a renewal or reissue: only a new CSR is needed.
async function continuation(page, id, action, heading_, csr, extra = async () => {}) {
  await page.goto(`${PORTAL}/applications/${id}`);
  await page.getByLabel('手続き').selectOption({ label: action });
  await page.getByRole('button', { name: '次へ' }).click();
  // Issue #8 item 10: every heading says which procedure this is.
  assert.equal(await heading(page), `${action} 申請規約同意`);
  await page.getByRole('button', { name: '同意する' }).click();
  assert.equal(await heading(page), `${action} 基本情報入力`);
  assert.equal(await page.getByLabel('申請組織名').inputValue(), 'テスト株式会社', 'prefilled from the previous application (R-R3, R-RI5)');
  assert.equal(await page.getByLabel('CSR（PEM 形式を貼り付け）').inputValue(), '', 'a new CSR is required');
  await extra();
  await page.getByLabel('CSR（PEM 形式を貼り付け）').fill(csr);
  await page.getByRole('button', { name: '次へ' }).click();
  assert.equal(await heading(page), `${action} 入力内容確認`);
  return submitTwice(page, '申込');
}

test('reissue R-RI1..R-RI5 and renewal R-R1..R-R3 of the EV certificate', async () => {
  assert.ok(issued.ev, 'the EV journey ran first');
  const cctx = await customerContext();
  const page = await cctx.newPage();
  await customerLogin(page);

  // 再発行: the old certificate is revoked when the new one is issued (R-RI4).
  const reId = await continuation(page, issued.ev.id, '再発行申請', '基本情報入力', makeCsr('shop.e2e-ev.example.jp', 'ec'), async () => {
    await page.getByLabel('再発行と同時に失効する').check();
  });
  const sctx = await staffContext();
  const desk = await sctx.newPage();
  await staffLogin(desk);
  await approve(desk, reId, true);
  const re = await download(page, reId, 'ev-reissue');
  assert.match(ocsp(issued.ev.files.cert), /: revoked/, 'the old certificate is revoked (R-RI4)');
  assert.match(ocsp(re.cert), /: good/);
  // EV2.0 is reissued once only (R-RI3): not offered again.
  await page.goto(`${PORTAL}/applications/${reId}`);
  assert.equal(await page.locator('option', { hasText: '再発行申請' }).count(), 0);

  // 更新 from the reissued record: same data, new CSR; a new contract term (R-R1).
  const renId = await continuation(page, reId, '更新申請', '基本情報入力', makeCsr('shop.e2e-ev.example.jp', 'ec'));
  await approve(desk, renId, true);
  const ren = await download(page, renId, 'ev-renewal');
  issued.evRenewal = { id: renId, files: ren };
  assert.match(ocsp(ren.cert), /: good/);
  await sctx.close();
  await cctx.close();
});

test('service switch R-R5: an SR2.0 contract imported by staff moves to SR3.0 with its data', async () => {
  // Staff import the old contract from the command line (SR2.0 is no longer sold).
  const name = 'old.e2e-switch.example.jp';
  makeCsr(name, 'rsa');
  const data = join(OUT, 'sr20.json');
  writeFileSync(data, JSON.stringify({
    service: 'SR2.0', term: '1', server_type: 'apache', org_name: 'テスト株式会社', org_country: 'JP', org_state: 'Tokyo', org_locality: 'Shibuya-ku',
    reg_name: '登録 太郎', reg_email: 'reg@example.jp', reg_phone: '03-1234-5678', tech_name: '技術 花子', tech_email: 'tech@example.jp', tech_phone: '03-1234-5679',
    admin_name: '事務 次郎', admin_email: 'admin@example.jp', admin_phone: '03-1234-5670',
  }));
  const out = execFileSync(BIN, ['--data-dir', join(dir, 'data'), '--config', join(dir, 'shomei.toml'), 'contract', 'import',
    '--access-key', demo.access_key, '--staff', demo.staff_login, '--file', data, '--csr', join(OUT, `${name}.csr`)], { encoding: 'utf8' });
  const imported = JSON.parse(out);
  assert.match(imported.contract_code, /^B\d{7}$/);

  const cctx = await customerContext();
  const page = await cctx.newPage();
  await customerLogin(page);
  await page.goto(`${PORTAL}/applications/${imported.application_id}`);
  assert.equal(await page.locator('option', { hasText: '更新申請' }).count(), 0, 'SR2.0 is not renewed as such');
  await page.getByRole('link', { name: '別サービスへ切り替えて申請' }).click();
  assert.equal(await heading(page), '別サービスへ切り替えて申請');
  assert.equal(await page.getByLabel('セコムパスポート for Web SR2.0').count(), 0);
  await page.getByLabel('セコムパスポート for Web SR3.0').check();
  await page.getByLabel('契約期間').selectOption('1');
  await page.getByRole('button', { name: '次へ' }).click();
  assert.equal(await heading(page), '別サービスへ切り替えて申請 申請規約同意');
  await page.getByRole('button', { name: '同意する' }).click();
  assert.equal(await heading(page), '別サービスへ切り替えて申請 基本情報入力');
  assert.equal(await page.getByLabel('申請組織名').inputValue(), 'テスト株式会社', 'the contract data is taken over');
  await page.getByLabel('CSR（PEM 形式を貼り付け）').fill(makeCsr(name, 'ec'));
  await page.getByRole('button', { name: '次へ' }).click();
  assert.equal(await heading(page), '別サービスへ切り替えて申請 入力内容確認');
  await page.getByText('サービス切替').first().waitFor();
  await page.getByText('14日後に失効').waitFor();
  const id = await submitTwice(page, '申込');

  const sctx = await staffContext();
  const desk = await sctx.newPage();
  await staffLogin(desk);
  await approve(desk, id, false);
  await sctx.close();
  const files = await download(page, id, 'ov-switch');
  assert.match(ocsp(files.cert), /: good/);
  issued.switch = { id, files };
  // The old contract ended: nothing more to do from it but what its live certificate allows.
  await page.goto(`${PORTAL}/applications/${imported.application_id}`);
  assert.equal(await page.getByRole('link', { name: '別サービスへ切り替えて申請' }).count(), 0);
  await cctx.close();
});

// Picks a procedure from the detail page's pull-down (R-A5).
async function pick(page, id, label) {
  await page.goto(`${PORTAL}/applications/${id}`);
  await page.getByLabel('手続き').selectOption({ label });
  await page.getByRole('button', { name: '次へ' }).click();
}

test('coupons R-CP1, R-R4: staff issue one for the dealer code; the customer sees it and uses it in a renewal', async () => {
  assert.ok(issued.switch, 'the service switch ran first');
  const sctx = await staffContext();
  const desk = await sctx.newPage();
  await staffLogin(desk);
  await desk.getByRole('navigation').getByRole('link', { name: 'クーポン発行' }).click();
  assert.equal(await heading(desk), 'クーポン発行');
  await desk.getByLabel('サービス').selectOption('SR3.0');
  await desk.getByLabel('契約期間').selectOption('1');
  await desk.getByLabel('特約店コード').fill('ディーラー');
  await desk.getByLabel('有効期限').fill('2099-12-31');
  await desk.getByLabel('枚数（1〜100）').fill('1');
  await desk.getByRole('button', { name: 'クーポンを発行する' }).click();
  await desk.locator('#dealer_code-error').waitFor();
  assert.equal(await desk.getByLabel('有効期限').inputValue(), '2099-12-31', 'input kept');
  await desk.getByLabel('特約店コード').fill('DEMO-001');
  await desk.getByRole('button', { name: 'クーポンを発行する' }).click();
  await desk.getByText('次のクーポンを発行しました。').waitFor();
  const number = (await desk.locator('[role=status] code').first().innerText()).trim();
  assert.match(number, /^[A-Z2-9]{4}-[A-Z2-9]{4}-[A-Z2-9]{4}$/);
  // A reload of the result page issues nothing more.
  await desk.reload();
  assert.equal(await desk.getByRole('row').filter({ hasText: 'DEMO-001' }).count(), 1);
  // Issue #8 item 5: the form again (a new one, as after going back) and 発行 with the
  // same data: asked first, nothing issued.
  await desk.getByRole('navigation').getByRole('link', { name: 'クーポン発行' }).click();
  await desk.getByLabel('サービス').selectOption('SR3.0');
  await desk.getByLabel('契約期間').selectOption('1');
  await desk.getByLabel('特約店コード').fill('DEMO-001');
  await desk.getByLabel('有効期限').fill('2099-12-31');
  await desk.getByLabel('枚数（1〜100）').fill('1');
  await desk.getByRole('button', { name: 'クーポンを発行する' }).click();
  await desk.locator('#coupon-warnings').getByText('同じ内容のクーポンを10分以内に発行しています').waitFor();
  assert.equal(await desk.getByRole('row').filter({ hasText: 'DEMO-001' }).count(), 1, 'no second batch');
  // A dealer code no account has (a typo): asked first; confirmed, issued.
  await desk.getByRole('navigation').getByRole('link', { name: 'クーポン発行' }).click();
  await desk.getByLabel('サービス').selectOption('SR3.0');
  await desk.getByLabel('契約期間').selectOption('1');
  await desk.getByLabel('有効期限').fill('2099-12-31');
  await desk.getByLabel('枚数（1〜100）').fill('1');
  await desk.getByLabel('特約店コード').fill('DEMO-01');
  await desk.getByRole('button', { name: 'クーポンを発行する' }).click();
  await desk.locator('#coupon-warnings').getByText('この特約店コードのアカウントはありません').waitFor();
  assert.equal(await desk.getByRole('row').filter({ hasText: 'DEMO-01 ' }).count(), 0);
  await desk.getByLabel('内容を確認しました。このまま発行します').check();
  await desk.getByRole('button', { name: 'クーポンを発行する' }).click();
  await desk.getByText('次のクーポンを発行しました。').waitFor();
  await sctx.close();

  const cctx = await customerContext();
  const page = await cctx.newPage();
  await customerLogin(page);
  await page.getByRole('navigation').getByRole('link', { name: 'クーポン管理' }).click();
  assert.match(await page.getByRole('row').filter({ hasText: number }).innerText(), /未使用/);
  const renId = await continuation(page, issued.switch.id, '更新申請', '基本情報入力', makeCsr('old.e2e-switch.example.jp', 'ec'), async () => {
    await page.getByLabel('クーポン番号').selectOption(number);
  });
  assert.ok(renId);
  await page.goto(`${PORTAL}/coupons`);
  assert.match(await page.getByRole('row').filter({ hasText: number }).innerText(), /使用済み/);
  await cctx.close();
});

test('documents pending "!" (R-LS3) and withdrawal 申請取消 (R-A5)', async () => {
  const cctx = await customerContext();
  const page = await cctx.newPage();
  await customerLogin(page);
  const name = 'docs.e2e.example.jp';
  const id = await apply(page, { service: 'セコムパスポート for Web SR3.0 1年', label: 'セコムパスポート for Web SR3.0', csr: makeCsr(name, 'ec'), ev: false, name });

  const sctx = await staffContext();
  const desk = await sctx.newPage();
  await staffLogin(desk);
  await desk.getByRole('row', { name: new RegExp(`^${id} `) }).getByRole('link', { name: '審査する' }).click();
  await desk.getByLabel('不足している書類（お客様に表示されます）').fill('登記事項証明書（3か月以内）');
  await desk.getByRole('button', { name: '書類提出待ちにする' }).click();
  await desk.getByText('書類提出待ちにしました。').waitFor();

  await page.goto(`${PORTAL}/applications`);
  const row = page.getByRole('row').filter({ has: page.locator(`a[href="/applications/${id}"]`) });
  assert.match(await row.innerText(), /!/, 'the "!" mark (R-LS3)');
  // Issue #8 item 21: the mark leads the row, where it is seen, not after 詳細.
  assert.equal((await row.locator('td').first().innerText()).trim(), '!');
  assert.match(await row.innerText(), /書類提出待ち/);
  await row.getByRole('link', { name: '詳細' }).click();
  assert.match(await page.getByRole('alert').first().innerText(), /登記事項証明書（3か月以内）/);
  // Issue #8 item 2: the customer submits the document on the detail page; a file that
  // is not PDF/PNG/JPEG is explained; the desk sees and downloads the PDF.
  const notPdf = join(OUT, 'not-a-pdf.pdf');
  writeFileSync(notPdf, '<html>not a pdf</html>');
  await page.getByLabel('提出する書類のファイル').setInputFiles(notPdf);
  await page.getByRole('button', { name: '書類を提出する' }).click();
  assert.match(await page.locator('#upload-error').innerText(), /PDF・PNG・JPEG/);
  const pdf = join(OUT, '登記事項証明書.pdf');
  writeFileSync(pdf, '%PDF-1.4\n% Shomei e2e document\n%%EOF\n');
  await page.getByLabel('提出する書類のファイル').setInputFiles(pdf);
  await page.getByRole('button', { name: '書類を提出する' }).click();
  await page.getByText('書類を受け付けました。').waitFor();
  assert.match(await page.locator('#documents').innerText(), /登記事項証明書\.pdf/);
  await desk.reload();
  const docLink = desk.locator('#documents a').first();
  assert.equal(await docLink.innerText(), '登記事項証明書.pdf');
  const got = await desk.request.get(new URL(await docLink.getAttribute('href'), desk.url()).toString());
  assert.equal(got.headers()['content-type'], 'application/pdf');
  assert.match(got.headers()['content-disposition'], /^attachment/);
  assert.ok((await got.body()).toString().startsWith('%PDF-1.4'));

  await desk.getByRole('button', { name: '書類を受領した（審査に戻す）' }).click();
  await desk.getByText('書類を受領し、申込受付に戻しました。').waitFor();
  await sctx.close();
  // The mark and the upload form are gone once staff received the documents.
  await page.goto(`${PORTAL}/applications/${id}`);
  assert.equal(await page.locator('#documents-upload').count(), 0);
  assert.doesNotMatch(await page.locator('main').innerText(), /登記事項証明書（3か月以内）/);

  await pick(page, id, '申請取消');
  assert.equal(await heading(page), '申請取消');
  await page.getByText('元に戻せません').waitFor();
  await page.getByRole('button', { name: '取り消す' }).click();
  await page.getByText('お申込みを取り消しました。').waitFor();
  assert.equal(await page.locator('#status').innerText(), '取消');
  assert.equal(await page.locator('option', { hasText: '申請取消' }).count(), 0, 'not offered twice');
  await cctx.close();
});

test('contact change 担当者変更 (R-C1) and cancellation 解約 of the switched contract', async () => {
  assert.ok(issued.switch, 'the service switch ran first');
  const { id } = issued.switch;
  const cctx = await customerContext();
  const page = await cctx.newPage();
  await customerLogin(page);
  await pick(page, id, '担当者変更申請');
  assert.equal(await heading(page), '担当者変更申請規約同意');
  await page.getByRole('button', { name: '同意する' }).click();
  assert.equal(await heading(page), '担当者変更申請 入力画面');
  assert.equal(await page.getByLabel('申請組織名').count(), 0, 'only the contacts can be edited');
  await page.locator('#tech_name').fill('新任 技術');
  await page.locator('#tech_email').fill('new-tech@example.jp');
  await page.locator('#tech_phone').fill('phone?');
  await page.getByRole('button', { name: '次へ' }).click();
  await page.locator('#tech_phone-error').waitFor();
  assert.equal(await page.locator('#tech_name').inputValue(), '新任 技術', 'the input is kept');
  await page.locator('#tech_phone').fill('03-5555-0000');
  await page.getByRole('button', { name: '次へ' }).click();
  assert.equal(await heading(page), '担当者変更申請 入力確認画面');
  await page.getByText('新任 技術').waitFor();
  // Issue #8 item 17: what changed is marked; what did not, is not.
  assert.equal(await page.locator('dd.changed').count(), 3, 'the technical contact: name, e-mail, phone');
  assert.match(await page.locator('dd.changed').first().innerText(), /新任 技術\s*変更/);
  const ccId = await submitTwice(page, '申込');
  assert.equal(await heading(page), '担当者変更申請完了');

  const sctx = await staffContext();
  const desk = await sctx.newPage();
  await staffLogin(desk);
  await desk.getByRole('row', { name: new RegExp(`^${ccId} `) }).getByRole('link', { name: '審査する' }).click();
  await desk.getByRole('button', { name: '担当者変更を完了する' }).click();
  await desk.getByText('担当者変更を完了し、契約の担当者情報を更新しました。').waitFor();
  await page.goto(`${PORTAL}/applications/${id}`);
  await page.getByText('new-tech@example.jp').first().waitFor();

  // 解約: the warning, its own record, the desk confirms: the certificate is revoked
  // with cessationOfOperation.
  await pick(page, id, '解約');
  assert.equal(await heading(page), '解約申請');
  await page.getByText('取消しはできません').waitFor();
  const cancelId = await submitTwice(page, '解約を申し込む');
  assert.equal(await heading(page), '解約申請完了');
  assert.match(ocsp(issued.switch.files.cert), /: good/, 'valid until staff confirm');
  await desk.goto(`${DESK}/`);
  await desk.getByRole('row', { name: new RegExp(`^${cancelId} `) }).getByRole('link', { name: '審査する' }).click();
  await desk.getByRole('button', { name: '解約を確定して失効する' }).click();
  await desk.getByText('証明書を失効しました').waitFor();
  await sctx.close();
  const status = ocsp(issued.switch.files.cert);
  assert.match(status, /: revoked/);
  assert.match(status, /Reason: cessationOfOperation/);
  await page.goto(`${PORTAL}/applications/${id}`);
  assert.equal(await page.locator('option', { hasText: '解約' }).count(), 0);
  await cctx.close();
});

test('account information R-AI1..R-AI4 and its prefill in a new application (R-N3); language switch', async () => {
  const cctx = await customerContext();
  const page = await cctx.newPage();
  await customerLogin(page);
  await page.getByRole('navigation').getByRole('link', { name: 'アカウント情報登録' }).click();
  await page.getByRole('link', { name: 'アカウント情報を登録・変更する' }).click();
  assert.equal(await heading(page), 'アカウント情報登録 入力画面');
  assert.equal(await page.getByLabel('特約店コード').inputValue(), 'DEMO-001', 'the dealer code is kept');
  await page.getByLabel('法人名', { exact: true }).fill('Demo Inc.');
  // Issue #8 item 13: half-width kana, a postal code without its hyphen and
  // full-width digits are accepted and written in their usual form.
  await page.getByLabel('法人名（カナ）').fill('ﾃﾞﾓｶﾌﾞｼｷｶﾞｲｼｬ');
  await page.locator('#corp_postal').fill('1500041');
  await page.getByLabel('登記番号').fill('０１１００１９９９９９９');
  // Issue #8 item 20: the organisation's country, state and locality, as an
  // application needs them.
  await page.locator('#corp_country').selectOption('JP');
  await page.locator('#corp_state').fill('東京都');
  await page.locator('#corp_locality').fill('ｼﾌﾞﾔ区');
  await page.locator('#technical_name').fill('技術 四郎');
  await page.locator('#technical_email').fill('shiro@example.jp');
  await page.locator('#technical_phone').fill('03-4444-0000');
  await page.locator('#technical_fax').fill('03-4444-0001');
  await page.locator('#technical_postal').fill('1500042');
  // Item 20: 現住所 and its postal code, a contact's 部署, the 契約責任者 (A-3).
  await page.locator('#current_address').fill('東京都渋谷区道玄坂一丁目');
  await page.locator('#current_postal').fill('1500043');
  await page.locator('#technical_dept').fill('情報システム部');
  await page.locator('#officer_name').fill('責任 五郎');
  await page.locator('#officer_dept').fill('総務部');
  await page.locator('#officer_email').fill('goro@example.jp');
  await page.locator('#officer_phone').fill('03-5555-0000');
  await page.getByRole('button', { name: '次へ' }).click();
  await page.locator('#corp_name-error').waitFor();
  assert.match(await page.locator('#corp_name-error').innerText(), /全角/);
  assert.equal(await page.getByLabel('法人名（カナ）').inputValue(), 'ﾃﾞﾓｶﾌﾞｼｷｶﾞｲｼｬ', 'input kept');
  assert.notEqual((await page.locator('#corp_name-error').innerText()).trim(), (await page.locator('#corp_name-hint').innerText()).trim(), 'the error does not repeat the hint');
  await page.getByLabel('法人名', { exact: true }).fill('デモ株式会社');
  await page.getByRole('button', { name: '次へ' }).click();
  assert.equal(await heading(page), 'アカウント情報登録 確認画面');
  const confirmed = await page.locator('main').innerText();
  assert.match(confirmed, /デモカブシキガイシャ/);
  assert.match(confirmed, /150-0041/);
  assert.match(confirmed, /0110-01-999999/);
  await page.getByRole('button', { name: '登録' }).click();
  await page.getByText('アカウント情報を登録しました。').waitFor();

  // R-N3: a new application's blocks filled from it, keeping what was typed elsewhere.
  await page.getByRole('navigation').getByRole('link', { name: '新規申請' }).click();
  await page.getByLabel('セコムパスポート for Web SR3.0').check();
  await page.getByRole('button', { name: '次へ' }).click();
  await page.getByRole('button', { name: '同意する' }).click();
  assert.equal(await heading(page), '基本情報入力');
  await page.locator('#reg_name').fill('登録 太郎');
  await page.getByRole('button', { name: '技術担当者をアカウント情報から入力' }).click();
  assert.equal(await heading(page), '基本情報入力');
  assert.equal(await page.locator('#tech_name').inputValue(), '技術 四郎');
  assert.equal(await page.locator('#tech_email').inputValue(), 'shiro@example.jp');
  // Issue #8 item 20: the contacts' FAX and postal code come along.
  assert.equal(await page.locator('#tech_fax').inputValue(), '03-4444-0001');
  assert.equal(await page.locator('#tech_postal').inputValue(), '150-0042');
  assert.equal(await page.locator('#reg_name').inputValue(), '登録 太郎', 'typed input kept');
  // Item 20: the fill buttons come first on the form; the organisation block fills
  // name, country, state and locality.
  assert.ok(await page.locator('#fill').evaluate((el) => el.compareDocumentPosition(document.querySelector('#org_name')) & Node.DOCUMENT_POSITION_FOLLOWING), 'the fill buttons come before the fields');
  await page.getByRole('button', { name: '申請組織情報をアカウント情報から入力' }).click();
  assert.equal(await page.getByLabel('申請組織名').inputValue(), 'デモ株式会社');
  assert.equal(await page.locator('#org_country').inputValue(), 'JP');
  assert.equal(await page.locator('#org_state').inputValue(), '東京都');
  assert.equal(await page.locator('#org_locality').inputValue(), 'シブヤ区');
  // The application form carries the kana, postal code and address account information
  // has (R-AI2), filled from it too.
  assert.equal(await page.locator('#org_kana').inputValue(), 'デモカブシキガイシャ');
  assert.equal(await page.locator('#org_postal').inputValue(), '150-0041');
  // Item 20 (rest): 登記番号 (OV; EV asks for it with the EV data), 現住所 and its
  // postal code, each contact's 部署, and the 契約責任者 block of A-3 contracts.
  assert.equal(await page.getByLabel('登記番号').inputValue(), '0110-01-999999');
  assert.equal(await page.getByLabel('現住所', { exact: true }).inputValue(), '東京都渋谷区道玄坂一丁目');
  assert.equal(await page.getByLabel('現住所の郵便番号').inputValue(), '150-0043');
  assert.equal(await page.locator('#tech_dept').inputValue(), '情報システム部');
  assert.equal(await page.locator('label[for=tech_dept]').innerText(), '部署');
  // The 契約責任者 block is optional, but once begun it needs its e-mail and phone.
  await page.locator('#officer_name').fill('責任 五郎');
  await page.getByLabel('サーバタイプ').selectOption('nginx');
  await page.locator('#reg_email').fill('reg@example.jp');
  await page.locator('#reg_phone').fill('03-1234-5678');
  await page.locator('#admin_name').fill('事務 次郎');
  await page.locator('#admin_email').fill('admin@example.jp');
  await page.locator('#admin_phone').fill('03-1234-5670');
  const aiName = 'ai.e2e.example.jp';
  await page.getByLabel('CSR（PEM 形式を貼り付け）').fill(makeCsr(aiName, 'ec'));
  await page.getByRole('button', { name: '次へ' }).click();
  assert.equal(await heading(page), '基本情報入力');
  await page.locator('#officer_email-error').waitFor();
  await page.getByRole('button', { name: '契約責任者をアカウント情報から入力' }).click();
  assert.equal(await page.locator('#officer_email').inputValue(), 'goro@example.jp');
  assert.equal(await page.locator('#officer_dept').inputValue(), '総務部');
  await page.getByRole('button', { name: '次へ' }).click();
  assert.equal(await heading(page), '入力内容確認');
  for (const shown of ['0110-01-999999', '東京都渋谷区道玄坂一丁目', '150-0043', '情報システム部', '責任 五郎', '総務部', 'goro@example.jp']) {
    await page.getByText(shown, { exact: true }).first().waitFor();
  }
  const aiId = await submitTwice(page, '申込');
  // The record keeps them: the detail page and the desk show them.
  await page.goto(`${PORTAL}/applications/${aiId}`);
  for (const shown of ['0110-01-999999', '東京都渋谷区道玄坂一丁目', '情報システム部', '責任 五郎']) {
    await page.getByText(shown, { exact: true }).first().waitFor();
  }
  {
    const sctx = await staffContext();
    const desk = await sctx.newPage();
    await staffLogin(desk);
    await desk.goto(`${DESK}/applications/${aiId}`);
    await desk.getByText('責任 五郎', { exact: true }).first().waitFor();
    await desk.getByText('情報システム部', { exact: true }).first().waitFor();
    await desk.getByLabel('却下理由（お客様に表示されます）').fill('テスト');
    await desk.getByRole('button', { name: '却下する' }).click();
    await sctx.close();
  }

  // Japanese by default; English on request, for this session; and back.
  await page.getByRole('link', { name: 'English' }).click();
  assert.equal(await page.locator('html').getAttribute('lang'), 'en');
  await page.goto(`${PORTAL}/applications`);
  assert.equal(await heading(page), 'Applications');
  await page.getByRole('link', { name: '日本語' }).click();
  assert.equal(await heading(page), 'お申込一覧');
  await cctx.close();
});

test('issue #8 item 1: subject data is normalised and checked; confirmation and desk show the certificate subject', async () => {
  const cctx = await customerContext();
  const page = await cctx.newPage();
  await customerLogin(page);
  const name = 'norm.e2e.example.jp';
  await page.getByRole('navigation').getByRole('link', { name: '新規申請' }).click();
  await page.getByLabel('セコムパスポート for Web SR3.0').check();
  await page.getByRole('button', { name: '次へ' }).click();
  await page.getByRole('button', { name: '同意する' }).click();
  assert.equal(await heading(page), '基本情報入力');
  // The country is a pull-down of ISO 3166-1 codes with their names, Japan first.
  assert.equal(await page.locator('#org_country option[value="JA"]').count(), 0);
  assert.equal(await page.locator('#org_country option').nth(1).innerText(), '日本 (JP)');
  await page.getByLabel('サーバタイプ').selectOption('nginx');
  await page.getByLabel('申請組織名').fill('ﾃﾞﾓｶﾌﾞｼｷｶﾞｲｼｬ');
  await page.locator('#org_country').selectOption('JP');
  await page.locator('#org_state').fill('Ｔｏｋｙｏ');
  await page.locator('#org_locality').fill('ｼﾌﾞﾔ区');
  await fillContacts(page);
  await page.getByLabel('CSR（PEM 形式を貼り付け）').fill(makeCsr(name, 'ec'));
  await page.getByRole('button', { name: '次へ' }).click();
  assert.equal(await heading(page), '入力内容確認');
  const subject = 'C=JP, ST=Tokyo, L=シブヤ区, O=デモカブシキガイシャ';
  assert.equal(await page.locator('#cert-subject').innerText(), subject);
  await page.getByText('デモカブシキガイシャ', { exact: true }).waitFor();
  assert.equal(await page.getByText('ﾃﾞﾓｶﾌﾞｼｷｶﾞｲｼｬ').count(), 0, 'half-width kana normalised');
  // Back to the form: the normalised values are what it now holds.
  await page.getByRole('link', { name: '戻る' }).click();
  assert.equal(await page.getByLabel('申請組織名').inputValue(), 'デモカブシキガイシャ');
  await page.getByRole('button', { name: '次へ' }).click();
  const id = await submitTwice(page, '申込');
  // The desk sees the same subject, and rejects this test application.
  const sctx = await staffContext();
  const desk = await sctx.newPage();
  await staffLogin(desk);
  await desk.goto(`${DESK}/applications/${id}`);
  assert.equal(await desk.locator('#cert-subject').innerText(), subject);
  await desk.getByLabel('却下理由（お客様に表示されます）').fill('テスト');
  await desk.getByRole('button', { name: '却下する' }).click();
  await sctx.close();
  // Issue #8 item 4: the rejected application stays in the list, and can be applied
  // for again with its data.
  await page.goto(`${PORTAL}/applications`);
  assert.equal(await page.getByRole('row').filter({ hasText: name }).filter({ hasText: '却下' }).count(), 1);
  await page.goto(`${PORTAL}/applications/${id}`);
  await page.getByText('却下理由: テスト').waitFor();
  await page.getByLabel('手続き').selectOption({ label: 'この内容で新規申請する' });
  await page.getByRole('button', { name: '次へ' }).click();
  assert.equal(await heading(page), '申請規約同意');
  await page.getByRole('button', { name: '同意する' }).click();
  assert.equal(await heading(page), '基本情報入力');
  assert.equal(await page.getByLabel('申請組織名').inputValue(), 'デモカブシキガイシャ');
  assert.match(await page.getByLabel('CSR（PEM 形式を貼り付け）').inputValue(), /BEGIN CERTIFICATE REQUEST/);
  // English: the same pull-down in English.
  await page.getByRole('link', { name: 'English' }).click();
  await page.getByRole('navigation').getByRole('link', { name: 'New application' }).click();
  await page.getByLabel('SECOM Passport for Web SR3.0').check();
  await page.getByRole('button', { name: 'Next' }).click();
  await page.getByRole('button', { name: 'I agree' }).click();
  assert.equal(await page.locator('#org_country option').nth(1).innerText(), 'Japan (JP)');
  await page.getByRole('link', { name: '日本語' }).click();
  await cctx.close();
});

test('search R-LS5: two conditions joined by かつ and a sort, kept across the list; CSV with a BOM', async () => {
  const cctx = await customerContext();
  const page = await cctx.newPage();
  await customerLogin(page);
  await page.getByRole('navigation').getByRole('link', { name: 'お申込一覧' }).click();
  await page.getByRole('link', { name: '検索', exact: true }).click();
  assert.equal(await heading(page), '申込情報検索 検索条件入力画面');
  await page.getByLabel('絞込条件1の項目').selectOption('org');
  await page.getByLabel('絞込条件1の文字列').fill('テスト');
  await page.getByLabel('絞込条件2の項目').selectOption('server');
  await page.getByLabel('絞込条件2の文字列').fill('e2e-ev');
  await page.getByLabel('ソート条件').selectOption('applied');
  await page.getByLabel('並び順').selectOption('asc');
  await page.getByRole('button', { name: '検索' }).click();
  assert.equal(await heading(page), 'お申込一覧');
  const count = await page.locator('#list-count').innerText();
  const n = Number(count.match(/(\d+)件数/)[1]);
  assert.ok(n >= 3, `the EV records (new, reissue, renewal, continuation): ${count}`);
  const rows = page.locator('tbody tr');
  assert.equal(await rows.count(), n);
  for (let i = 0; i < n; i++) assert.match(await rows.nth(i).innerText(), /shop\.e2e-ev\.example\.jp/);
  const dates = [];
  for (let i = 0; i < n; i++) dates.push((await rows.nth(i).locator('td').nth(1).innerText()).trim());
  assert.deepEqual(dates, [...dates].sort(), 'ascending by お申込日');
  // Clicking the sorted column reverses it; the conditions stay.
  await page.getByRole('columnheader', { name: /お申込日/ }).getByRole('link').click();
  assert.equal(await page.getByRole('columnheader', { name: /お申込日/ }).getAttribute('aria-sort'), 'descending');
  assert.equal(await page.locator('#list-count').innerText(), count);
  // The same results as CSV, UTF-8 with a BOM.
  const [dl] = await Promise.all([page.waitForEvent('download'), page.getByRole('link', { name: '検索結果を CSV でダウンロード' }).click()]);
  const file = join(OUT, 'search.csv');
  await dl.saveAs(file);
  const csv = readFileSync(file);
  assert.deepEqual([...csv.subarray(0, 3)], [0xef, 0xbb, 0xbf], 'UTF-8 BOM');
  const lines = csv.toString('utf8').trim().split('\r\n');
  assert.equal(lines.length, n + 1);
  assert.match(lines[0], /申請組織名/);
  await cctx.close();
});

test('R-L5: a new login certificate for a new person; the old one is refused and on the login CA\'s CRL', async () => {
  const cli = (...args) => JSON.parse(execFileSync(BIN, ['--data-dir', join(dir, 'data'), '--config', join(dir, 'shomei.toml'), ...args], { encoding: 'utf8' }));
  const acct = cli('account', 'create', '--org', 'R-L5 株式会社', '--email', 'rl5@example.jp', '--out', join(OUT, 'rl5-old'));
  const ctxFor = (p12, pw) => browser.newContext({ ignoreHTTPSErrors: true, clientCertificates: [{ origin: PORTAL, pfxPath: p12, passphrase: pw }] });
  const loginWith = async (page, pw) => {
    await page.goto(`${PORTAL}/`);
    await page.getByLabel('アクセスキー').fill(acct.access_key);
    await page.getByLabel('パスワード', { exact: true }).fill(pw);
    await page.getByRole('button', { name: 'ログイン' }).click();
  };
  const oldCtx = await ctxFor(acct.p12, acct.p12_password);
  const oldPage = await oldCtx.newPage();
  await loginWith(oldPage, acct.initial_password);
  assert.equal(await heading(oldPage), 'パスワード変更');
  await oldPage.getByLabel('現在のパスワード').fill(acct.initial_password);
  await oldPage.getByLabel('パスワード', { exact: true }).fill(NEW_CUSTOMER_PW);
  await oldPage.getByLabel('パスワード確認').fill(NEW_CUSTOMER_PW);
  await oldPage.getByRole('button', { name: '変更' }).click();
  await oldPage.getByText('パスワードを変更しました。').waitFor();
  const oldSerial = execFileSync('openssl', ['x509', '-in', join(OUT, 'rl5-old', 'login.crt'), '-noout', '-serial'], { encoding: 'utf8' }).trim().replace('serial=', '');

  const fresh = cli('account', 'new-cert', '--access-key', acct.access_key, '--out', join(OUT, 'rl5-new'));
  // The old certificate's session ended, and it no longer opens the account.
  await oldPage.goto(`${PORTAL}/applications`);
  assert.equal(await heading(oldPage), 'ログイン');
  await loginWith(oldPage, NEW_CUSTOMER_PW);
  await oldPage.getByText('ログインできませんでした').waitFor();
  await oldCtx.close();
  const newCtx = await ctxFor(fresh.p12, fresh.p12_password);
  const newPage = await newCtx.newPage();
  await loginWith(newPage, NEW_CUSTOMER_PW);
  assert.equal(await heading(newPage), 'トップページ');
  await newCtx.close();

  // The login CA's CRL, verified with the real tool, lists the old serial.
  const res = await fetch(`http://127.0.0.1:${PORTS.public}/crl/login.crl`);
  assert.equal(res.status, 200);
  const file = join(OUT, 'login-crl.der');
  writeFileSync(file, Buffer.from(await res.arrayBuffer()));
  const text = execFileSync('openssl', ['crl', '-inform', 'DER', '-in', file, '-CAfile', join(dir, 'data', 'pki', 'login-ca.crt'), '-verify', '-noout', '-text'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  assert.ok(text.includes(oldSerial), `serial ${oldSerial} on the login CRL`);
  assert.match(text, /Affiliation Changed/);
});

test('R-L6: one-time-password login without a certificate (mailed code), set up by staff at the desk', async () => {
  const cli = (...args) => JSON.parse(execFileSync(BIN, ['--data-dir', join(dir, 'data'), '--config', join(dir, 'shomei.toml'), ...args], { encoding: 'utf8' }));
  const acct = cli('account', 'create', '--org', 'OTP 株式会社', '--email', 'otp-owner@example.jp', '--out', join(OUT, 'otp-acct'));
  const sctx = await staffContext();
  const desk = await sctx.newPage();
  await staffLogin(desk);
  await desk.getByRole('navigation').getByRole('link', { name: 'アカウント管理' }).click();
  await desk.getByLabel('アクセスキー・組織名・E-mail').fill(acct.access_key);
  await desk.getByRole('button', { name: '検索' }).click();
  await desk.getByRole('row', { name: new RegExp(acct.access_key) }).getByRole('link', { name: '詳細' }).click();
  await desk.getByLabel('ログイン方式').selectOption('otp_mail');
  await desk.getByLabel('ワンタイムパスワード送付先メールアドレス').fill('otp-user@example.jp');
  await desk.getByRole('button', { name: 'ログイン方式を変更する' }).click();
  await desk.getByText('ログイン方式を変更しました。').waitFor();
  await sctx.close();

  // A browser without any login certificate.
  const ctx = await browser.newContext({ ignoreHTTPSErrors: true });
  const page = await ctx.newPage();
  await page.goto(`${PORTAL}/`);
  await page.getByRole('link', { name: 'ワンタイムパスワードでログイン' }).first().click();
  assert.equal(await heading(page), 'ワンタイムパスワードご利用のお客様');
  const before = new Set(readMails());
  await page.getByLabel('アクセスキー').fill(acct.access_key);
  await page.getByLabel('パスワード', { exact: true }).fill(acct.initial_password);
  await page.getByRole('button', { name: '次へ' }).click();
  assert.equal(await heading(page), 'ワンタイムパスワードの入力');
  let code = null;
  for (const until = Date.now() + 20000; !code && Date.now() < until; await new Promise((r) => setTimeout(r, 300))) {
    const m = readMails().filter((b) => !before.has(b)).map((b) => b.match(/ワンタイムパスワード: (\d{6})/)).find(Boolean);
    if (m) code = m[1];
  }
  assert.ok(code, 'the one-time password arrived by mail');
  await page.getByLabel('ワンタイムパスワード（6桁）').fill(code === '000000' ? '111111' : '000000');
  await page.getByRole('button', { name: 'ログイン' }).click();
  await page.getByText('ワンタイムパスワードが正しくありません。').waitFor();
  await page.getByLabel('ワンタイムパスワード（6桁）').fill(code);
  await page.getByRole('button', { name: 'ログイン' }).click();
  assert.equal(await heading(page), 'パスワード変更', 'logged in; the initial password is changed first (R-L3)');
  await page.getByLabel('現在のパスワード').fill(acct.initial_password);
  await page.getByLabel('パスワード', { exact: true }).fill(NEW_CUSTOMER_PW);
  await page.getByLabel('パスワード確認').fill(NEW_CUSTOMER_PW);
  await page.getByRole('button', { name: '変更' }).click();
  await page.getByText('パスワードを変更しました。').waitFor();
  await page.goto(`${PORTAL}/`);
  assert.equal(await heading(page), 'トップページ');
  await ctx.close();
});

test('continuation 継続発行 (SC-081): 175 days later the renewed EV contract gets its next certificate, in the same contract', async () => {
  assert.ok(issued.evRenewal, 'the EV renewal ran first');
  // Restart with the clock 175 days ahead (debug build only): the renewed EV
  // certificate ends within 30 days while its contract runs on.
  await stopServer();
  await startServer({ SHOMEI_DEV_TIME_OFFSET_DAYS: '175' });
  const cctx = await customerContext();
  const page = await cctx.newPage();
  await customerLogin(page);
  const contract = await page.goto(`${PORTAL}/applications/${issued.evRenewal.id}`).then(() => page.locator('main').innerText());
  // Issue #8 item 9: the coverage says the next certificate is due now (継続発行).
  assert.match(await page.locator('#coverage-next').innerText(), /継続発行/);
  const code = contract.match(/B\d{7}/)[0];
  const id = await continuation(page, issued.evRenewal.id, '継続発行', '基本情報入力', makeCsr('shop.e2e-ev.example.jp', 'ec'));
  // 175 days on it is after 2027-03-15, when SC-081 cuts domain validation reuse to 100
  // days: the organisation and EV data could be reused, the domain not, so staff decide.
  await page.goto(`${PORTAL}/applications/${id}`);
  assert.equal(await page.locator('#status').innerText(), '申込受付');
  const sctx = await staffContext();
  const desk = await sctx.newPage();
  await staffLogin(desk);
  await approve(desk, id, true);
  await sctx.close();
  await page.goto(`${PORTAL}/applications/${id}`);
  assert.equal(await page.locator('#status').innerText(), '完了');
  assert.match(await page.locator('main').innerText(), new RegExp(code), 'the same contract');
  // Item 9: the contract's timeline lists the renewal's certificate and this one.
  assert.match(await page.locator('#coverage-certs').innerText(), /更新[\s\S]*継続発行/);
  const files = await download(page, id, 'ev-continuation');
  const text = execFileSync('openssl', ['x509', '-in', files.cert, '-noout', '-serial', '-enddate'], { encoding: 'utf8' });
  const old = execFileSync('openssl', ['x509', '-in', issued.evRenewal.files.cert, '-noout', '-serial'], { encoding: 'utf8' });
  assert.notEqual(text.split('\n')[0], old.trim(), 'a new certificate');
  issued.evContinuation = { id, files };
  await cctx.close();
  await stopServer();
  await startServer();
});

test('issue #8 item 6: staff create a customer account at the desk; a repeated press is asked about', async () => {
  const sctx = await staffContext();
  const desk = await sctx.newPage();
  await staffLogin(desk);
  await desk.getByRole('navigation').getByRole('link', { name: 'アカウント管理' }).click();
  await desk.getByRole('link', { name: '新規アカウント作成' }).click();
  assert.equal(await heading(desk), '新規アカウント作成');
  await desk.getByLabel('申請組織名').fill('デスク作成株式会社');
  await desk.getByLabel('E-mail').fill('desk-made@example.jp');
  await desk.getByLabel('特約店コード').fill('DEMO-001');
  const form = desk.locator('form[action="/accounts/new"]');
  const csrf = await form.locator('input[name=csrf]').inputValue();
  await desk.getByRole('button', { name: 'アカウントを作成する' }).click();
  assert.equal(await heading(desk), 'アカウントを作成しました');
  const accessKey = (await desk.locator('#access-key').innerText()).trim();
  assert.match(accessKey, /^[A-Z0-9]{8}$/);
  const p12Password = (await desk.locator('#p12-password').innerText()).trim();
  const [dl] = await Promise.all([desk.waitForEvent('download'), desk.getByRole('link', { name: 'PKCS#12 ファイル（login.p12）をダウンロード' }).click()]);
  const p12 = join(OUT, 'desk-made.p12');
  await dl.saveAs(p12);
  execFileSync('openssl', ['pkcs12', '-in', p12, '-passin', `pass:${p12Password}`, '-nokeys', '-out', join(OUT, 'desk-made.pem')], { stdio: 'pipe' });
  // The same press again (a reload of the POST): asked first, no second account.
  const again = await desk.request.post(`${DESK}/accounts/new`, { form: { csrf, org: 'デスク作成株式会社', email: 'desk-made@example.jp', dealer_code: 'DEMO-001' }, maxRedirects: 0 });
  assert.equal(again.status(), 409);
  assert.match(await again.text(), new RegExp(accessKey));
  await desk.goto(`${DESK}/accounts?q=desk-made`);
  assert.equal(await desk.getByRole('row').filter({ hasText: 'desk-made@example.jp' }).count(), 1);
  await sctx.close();
});

test('issue #10: the customer makes an ACME credential (EAB) on a contract; certbot registers with it and obtains a certificate, which appears in お申込一覧 under the contract as ACME 発行; the page shows the credential in use; it can be disabled (ja/en)', async () => {
  const name = 'acme.e2e.example.jp';
  makeCsr(name, 'ec');
  const data = join(OUT, 'acme-ov.json');
  writeFileSync(data, JSON.stringify({
    service: 'SR3.0', term: '1', server_type: 'nginx', org_name: 'テスト株式会社', org_country: 'JP', org_state: 'Tokyo', org_locality: 'Shibuya-ku',
    reg_name: '登録 太郎', reg_email: 'reg@example.jp', reg_phone: '03-1234-5678', tech_name: '技術 花子', tech_email: 'tech@example.jp', tech_phone: '03-1234-5679',
    admin_name: '事務 次郎', admin_email: 'admin@example.jp', admin_phone: '03-1234-5670',
  }));
  const imported = JSON.parse(execFileSync(BIN, ['--data-dir', join(dir, 'data'), '--config', join(dir, 'shomei.toml'), 'contract', 'import',
    '--access-key', demo.access_key, '--staff', demo.staff_login, '--file', data, '--csr', join(OUT, `${name}.csr`)], { encoding: 'utf8' }));

  const cctx = await customerContext();
  const page = await cctx.newPage();
  await customerLogin(page);
  await page.goto(`${PORTAL}/applications/${imported.application_id}`);
  await page.getByRole('heading', { name: '自動更新（ACME）' }).waitFor();
  assert.equal(await page.locator('#acme-credentials').count(), 0, 'no credential yet');
  await page.getByRole('button', { name: 'ACME 用の認証情報（EAB）を発行する' }).click();
  assert.equal(await heading(page), 'ACME 用の認証情報（EAB）');
  await page.getByText('HMAC 鍵はこの画面でのみ表示されます', { exact: false }).waitFor();
  const kid = (await page.locator('#eab-kid').innerText()).trim();
  const hmac = (await page.locator('#eab-hmac').innerText()).trim();
  const directory = (await page.locator('#eab-directory').innerText()).trim();
  assert.equal(directory, `https://127.0.0.1:${PORTS.acme}/acme/directory`);
  assert.ok((await page.locator('#eab-certbot').innerText()).includes(`--eab-kid=${kid} --eab-hmac-key=${hmac}`));
  assert.ok((await page.locator('#eab-lego').innerText()).includes(`--kid=${kid} --hmac=${hmac}`));

  // A real ACME client registers with it.
  const cb = join(OUT, 'certbot-e2e');
  const said = execFileSync('certbot', ['register', '--server', directory, '--config-dir', join(cb, 'c'), '--work-dir', join(cb, 'w'), '--logs-dir', join(cb, 'l'),
    '--non-interactive', '--agree-tos', '-m', 'ops@example.jp', '--no-eff-email', `--eab-kid=${kid}`, `--eab-hmac-key=${hmac}`],
  { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, REQUESTS_CA_BUNDLE: join(dir, 'data', 'pki', 'root.crt') } });
  assert.match(said, /Account registered/);
  // ... and obtains a certificate for the contract's domain (http-01, checked by the
  // validation engine).
  execFileSync('certbot', ['certonly', '--standalone', '--http-01-port', String(DNS.http01), '--http-01-address', '127.0.0.1',
    '-d', name, '--cert-name', 'e2e', '--server', directory, '--config-dir', join(cb, 'c'), '--work-dir', join(cb, 'w'), '--logs-dir', join(cb, 'l'),
    '--non-interactive', '--agree-tos', '-m', 'ops@example.jp', '--no-eff-email'],
  { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, REQUESTS_CA_BUNDLE: join(dir, 'data', 'pki', 'root.crt') } });
  // The certificate appears in お申込一覧 under the contract, as ACME 発行, with its
  // predecessor on its page.
  await page.goto(`${PORTAL}/applications`);
  const acmeRow = page.locator('tbody tr').filter({ hasText: 'ACME 発行' }).filter({ hasText: imported.contract_code });
  assert.equal(await acmeRow.count(), 1, 'one ACME record under the contract');
  assert.ok((await acmeRow.innerText()).includes(name));
  await acmeRow.getByRole('link').click();
  await page.locator('#lineage-previous').waitFor();
  assert.ok((await page.locator('#lineage-previous').innerText()).includes(String(imported.application_id)));
  await page.goto(`${PORTAL}/applications/${imported.application_id}`);
  assert.ok((await page.locator('#lineage-next').innerText()).includes('ACME 発行'));

  const row = page.locator('#acme-credentials tr').filter({ hasText: kid });
  assert.equal((await row.locator('td').nth(2).innerText()).trim(), '使用中（ACME アカウントに登録済み）');
  // The same in English.
  await page.getByRole('link', { name: 'English' }).click();
  await page.getByRole('heading', { name: 'Automatic renewal (ACME)' }).waitFor();
  assert.equal((await row.locator('td').nth(2).innerText()).trim(), 'In use (bound to an ACME account)');
  await page.getByRole('link', { name: '日本語' }).click();
  // Disabled: the credential and the ACME account bound with it end.
  await row.getByRole('button', { name: '無効にする' }).click();
  await page.getByText('認証情報を無効にしました。', { exact: false }).waitFor();
  assert.equal((await row.locator('td').nth(2).innerText()).trim(), '無効');
  assert.equal(await row.getByRole('button', { name: '無効にする' }).count(), 0);
  // A second credential, which staff disable from the desk's account page.
  await page.getByRole('button', { name: 'ACME 用の認証情報（EAB）を発行する' }).click();
  const kid2 = (await page.locator('#eab-kid').innerText()).trim();
  await cctx.close();
  const sctx = await staffContext();
  const desk = await sctx.newPage();
  await staffLogin(desk);
  await desk.goto(`${DESK}/accounts?q=${demo.access_key}`);
  await desk.getByRole('row').filter({ hasText: demo.access_key }).getByRole('link').first().click();
  const staffRow = desk.locator('#acme-credentials tr').filter({ hasText: kid2 });
  assert.equal((await staffRow.locator('td').nth(3).innerText()).trim(), '未使用');
  assert.equal((await desk.locator('#acme-credentials tr').filter({ hasText: kid }).locator('td').nth(3).innerText()).trim(), '無効');
  await staffRow.getByRole('button', { name: '無効にする' }).click();
  await desk.getByText('ACME 用の認証情報を無効にしました。', { exact: false }).waitFor();
  assert.equal((await desk.locator('#acme-credentials tr').filter({ hasText: kid2 }).locator('td').nth(3).innerText()).trim(), '無効');
  // ARI: staff ask ACME clients to renew this contract's certificates now.
  await desk.goto(`${DESK}/applications/${imported.application_id}`);
  await desk.getByRole('button', { name: 'この契約の証明書の更新を今すぐ促す' }).click();
  await desk.getByText('この契約の発行済み証明書の更新時期を過去に移しました。', { exact: false }).waitFor();
  await sctx.close();
});

test('issue #11 item 3: 一括失効 at the desk — a pasted list is checked (the unknown serial named), confirmed twice but run once; OCSP and the shard CRL then say revoked (keyCompromise)', async () => {
  assert.ok(issued.evContinuation, 'the continuation ran first');
  const cert = issued.evContinuation.files.cert;
  const serial = execFileSync('openssl', ['x509', '-in', cert, '-noout', '-serial'], { encoding: 'utf8' }).trim().replace('serial=', '');
  assert.match(ocsp(cert), /: good/);
  const sctx = await staffContext();
  const desk = await sctx.newPage();
  await staffLogin(desk);
  await desk.getByRole('link', { name: '一括失効' }).click();
  assert.equal(await heading(desk), '一括失効');
  await desk.getByLabel('指定方法').selectOption({ label: 'シリアル番号の一覧' });
  // As openssl prints it, with colons; and one this CA never issued.
  const withColons = serial.match(/../g).join(':');
  await desk.getByLabel('シリアル番号', { exact: false }).first().fill(`${withColons}\n7D00000000000000000000000000000BAD\nnot-hex!`);
  await desk.getByLabel('失効理由').selectOption({ label: '鍵の危殆化（keyCompromise）' });
  await desk.getByLabel('経緯（監査ログに記録）').fill('e2e: 鍵の流出の報告');
  await desk.getByRole('button', { name: '対象を確認する' }).click();
  // Bad input: the form again, with the token named and what was typed kept.
  await desk.getByText('シリアル番号として読めないものがあります: not-hex!').waitFor();
  const typed = await desk.locator('textarea#serials').inputValue();
  assert.match(typed, /7D00000000000000000000000000000BAD/);
  await desk.locator('textarea#serials').fill(typed.replace('\nnot-hex!', ''));
  await desk.getByRole('button', { name: '対象を確認する' }).click();
  assert.equal(await heading(desk), '一括失効の内容');
  assert.equal(await desk.locator('#preview-live').innerText(), '1');
  assert.equal(await desk.locator('#preview-unknown').innerText(), '1');
  assert.match(await desk.locator('main').innerText(), /7d00000000000000000000000000000bad/);
  const page = desk.url();
  const form = desk.locator('form[action$="/start"]');
  const action = new URL(await form.getAttribute('action'), page).toString();
  const csrf = await form.locator('input[name=csrf]').inputValue();
  await desk.getByRole('button', { name: '失効を実行する' }).click();
  // The same confirmation sent again (a double submit, or back and submit): it runs once.
  const again = await desk.request.post(action, { form: { csrf }, maxRedirects: 0 });
  assert.equal(again.status(), 303);
  assert.equal(new URL(again.headers()['location'], page).toString(), page);
  for (let i = 0; i < 40; i++) {
    await desk.goto(page);
    if ((await desk.locator('#mass-status').innerText()) === '完了') break;
    await new Promise((r) => setTimeout(r, 500));
  }
  assert.equal(await desk.locator('#mass-status').innerText(), '完了');
  assert.equal(await desk.locator('#mass-revoked').innerText(), '1');
  await sctx.close();
  const status = ocsp(cert);
  assert.match(status, /: revoked/);
  assert.match(status, /Reason: keyCompromise/);
  const crl = await fetchCrl('crl-mass.der', cert);
  assert.ok(crl.includes(serial), `serial ${serial} on its shard's CRL`);
  assert.match(crl, /Key Compromise/);
});
