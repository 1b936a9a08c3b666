//! What the benchmarks of the real `shomei serve` share: a data directory with one
//! account, one staff member and one certificate issued through `contract import`, the
//! server as a child process, and HTTP/1.1 requests on keep-alive connections.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

pub const BIN: &str = env!("CARGO_BIN_EXE_shomei");

/// A free loopback port, never the same twice in this process (tests run in parallel
/// threads: a port handed to one server must not be handed to another before it binds).
pub fn free_port() -> u16 {
    static GIVEN: std::sync::Mutex<Vec<u16>> = std::sync::Mutex::new(Vec::new());
    loop {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .unwrap_or(0);
        let Ok(mut given) = GIVEN.lock() else {
            return port;
        };
        if port != 0 && !given.contains(&port) {
            given.push(port);
            return port;
        }
    }
}

/// Runs `shomei ARGS` on the bench's data directory; returns its standard output.
pub fn run(dir: &Path, args: &[&str]) -> String {
    let out = Command::new(BIN)
        .arg("--data-dir")
        .arg(dir.join("data"))
        .arg("--config")
        .arg(dir.join("shomei.toml"))
        .args(args)
        .stderr(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("{BIN}: {e}"));
    assert!(out.status.success(), "shomei {args:?} failed");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn json_field(json: &str, key: &str) -> String {
    let v: serde_json::Value = serde_json::from_str(json).unwrap_or_default();
    v[key].as_str().unwrap_or_default().to_owned()
}

/// One HTTP/1.1 request on a keep-alive connection; returns the status and the body.
pub async fn request<S: AsyncRead + AsyncWrite + Unpin>(
    s: &mut S,
    head: &str,
    body: &[u8],
) -> Option<(u16, Vec<u8>)> {
    // One write: a request split in two would wait for the peer's delayed ACK.
    let mut msg = Vec::with_capacity(head.len() + body.len());
    msg.extend_from_slice(head.as_bytes());
    msg.extend_from_slice(body);
    s.write_all(&msg).await.ok()?;
    s.flush().await.ok()?;
    let mut buf = Vec::with_capacity(4096);
    let mut tmp = [0u8; 4096];
    let header_end = loop {
        let n = s.read(&mut tmp).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&tmp[..n]);
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
    };
    let head = String::from_utf8_lossy(&buf[..header_end]).to_lowercase();
    let status = head.get(9..12)?.parse().ok()?;
    let len: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    while buf.len() < header_end + len {
        let n = s.read(&mut tmp).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&tmp[..n]);
    }
    Some((status, buf[header_end..header_end + len].to_vec()))
}

/// The server; killed when dropped.
pub struct Server(pub Child);
impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The application `contract import` records in these tests and benchmarks.
pub const APP_JSON: &str = r#"{"service":"SR3.0","term":"1","server_type":"apache","org_name":"ベンチ株式会社","org_country":"JP","org_state":"Tokyo","org_locality":"Chiyoda-ku","reg_name":"登録 太郎","reg_email":"reg@example.jp","reg_phone":"03-1234-5678","tech_name":"技術 花子","tech_email":"tech@example.jp","tech_phone":"03-1234-5679","admin_name":"事務 次郎","admin_email":"admin@example.jp","admin_phone":"03-1234-5670"}"#;

/// The test CSR (RSA 2048) every import uses.
pub fn test_csr() -> PathBuf {
    [
        env!("CARGO_MANIFEST_DIR"),
        "..",
        "ca",
        "tests",
        "data",
        "rsa2048.csr",
    ]
    .iter()
    .collect()
}

/// `contract import` of `d/app.json` with the test CSR for the account `access_key`,
/// attested by the staff member `bench`, a fixed-term contract.
pub fn import_args(d: &Path, access_key: &str) -> Vec<String> {
    [
        "contract",
        "import",
        "--access-key",
        access_key,
        "--staff",
        "bench",
        "--contract-type",
        "fixed",
        "--file",
        &d.join("app.json").display().to_string(),
        "--csr",
        &test_csr().display().to_string(),
    ]
    .map(String::from)
    .to_vec()
}

/// A data directory ready to serve.
pub struct Setup {
    pub public: u16,
    pub portal: u16,
    pub desk: u16,
    pub acme: u16,
    /// `account create`'s JSON.
    pub account: String,
    /// The certificate `contract import` issued, PEM.
    pub cert: PathBuf,
}

/// In `d`: a configuration on free loopback ports, an account, a staff member (login
/// `bench`) and one certificate through `contract import`.
pub fn setup(d: &Path) -> Setup {
    setup_with(d, "")
}

/// As [`setup`], with `head` (top-level settings such as `database_url`) at the top of
/// the configuration.
pub fn setup_with(d: &Path, head: &str) -> Setup {
    let (public, portal, desk, acme) = (free_port(), free_port(), free_port(), free_port());
    std::fs::write(
        d.join("shomei.toml"),
        format!("{head}[listen]\npublic = \"127.0.0.1:{public}\"\nportal = \"127.0.0.1:{portal}\"\ndesk = \"127.0.0.1:{desk}\"\nacme = \"127.0.0.1:{acme}\"\n[pki]\npublic_base_url = \"http://pki.example.jp\"\n"),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let account = run(
        d,
        &[
            "account",
            "create",
            "--org",
            "ベンチ株式会社",
            "--email",
            "b@example.jp",
            "--out",
            &d.join("acct").display().to_string(),
        ],
    );
    run(
        d,
        &[
            "staff",
            "create",
            "--name",
            "審査 太郎",
            "--email",
            "s@example.jp",
            "--login",
            "bench",
            "--out",
            &d.join("staff").display().to_string(),
        ],
    );
    std::fs::write(d.join("app.json"), APP_JSON).unwrap_or_else(|e| panic!("{e}"));
    let cert = d.join("cert.pem");
    let mut args = import_args(d, &json_field(&account, "access_key"));
    args.extend(["--cert-out".into(), cert.display().to_string()]);
    run(d, &args.iter().map(String::as_str).collect::<Vec<_>>());
    Setup {
        public,
        portal,
        desk,
        acme,
        account,
        cert,
    }
}

/// Starts `shomei serve` on the data directory, its log (`RUST_LOG`) to `log`.
pub fn serve(d: &Path, rust_log: &str, log: &Path) -> Server {
    let file = std::fs::File::create(log).unwrap_or_else(|e| panic!("{e}"));
    Server(
        Command::new(BIN)
            .arg("--data-dir")
            .arg(d.join("data"))
            .arg("--config")
            .arg(d.join("shomei.toml"))
            .arg("serve")
            .env("RUST_LOG", rust_log)
            .stdout(Stdio::null())
            .stderr(file)
            .spawn()
            .unwrap_or_else(|e| panic!("serve: {e}")),
    )
}
