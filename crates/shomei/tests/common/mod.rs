//! What the tests of the real binary share: `shomei serve` as a child process with its
//! own ports and logs, plain HTTP requests, SIGTERM, the CLI; `tls`: requests over TLS
//! with a login certificate, as a customer's or a staff member's browser sends them.

pub mod tls;

use crate::support::{BIN, free_port};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

pub struct Instance {
    pub child: Child,
    pub public: u16,
    /// The portal's port (0 where the instance was started elsewhere).
    pub portal: u16,
    /// The desk's port (0 where the instance was started elsewhere).
    pub desk: u16,
    pub out: PathBuf,
    pub err: PathBuf,
}

impl Drop for Instance {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `shomei serve` on `data` with its own ports (and `database_url` if given).
pub fn start(dir: &Path, name: &str, data: &Path, database_url: Option<&str>) -> Instance {
    start_with(dir, name, data, database_url, "", &[])
}

/// As [`start`], with more `[listen]` lines.
pub fn start_with(
    dir: &Path,
    name: &str,
    data: &Path,
    database_url: Option<&str>,
    listen: &str,
    env: &[(&str, &str)],
) -> Instance {
    start_configured(dir, name, data, database_url, listen, "", env)
}

/// As [`start_with`], with more sections at the end of the configuration (e.g.
/// `[validation]`).
pub fn start_configured(
    dir: &Path,
    name: &str,
    data: &Path,
    database_url: Option<&str>,
    listen: &str,
    sections: &str,
    env: &[(&str, &str)],
) -> Instance {
    let (public, portal, desk, acme) = (free_port(), free_port(), free_port(), free_port());
    let db = database_url
        .map(|u| format!("database_url = \"{u}\"\n"))
        .unwrap_or_default();
    let cfg = dir.join(format!("{name}.toml"));
    std::fs::write(
        &cfg,
        format!("{db}[listen]\n{listen}public = \"127.0.0.1:{public}\"\nportal = \"127.0.0.1:{portal}\"\ndesk = \"127.0.0.1:{desk}\"\nacme = \"127.0.0.1:{acme}\"\n[pki]\npublic_base_url = \"http://pki.example.jp\"\n{sections}"),
    )
    .expect("config");
    let out = dir.join(format!("{name}.out"));
    let err = dir.join(format!("{name}.err"));
    let child = Command::new(BIN)
        .arg("--data-dir")
        .arg(data)
        .arg("--config")
        .arg(&cfg)
        .arg("serve")
        .envs(env.iter().copied())
        .stdout(std::fs::File::create(&out).expect("out"))
        .stderr(std::fs::File::create(&err).expect("err"))
        .spawn()
        .expect("spawn serve");
    Instance {
        child,
        public,
        portal,
        desk,
        out,
        err,
    }
}

/// Waits until the instance says it is running (true) or exits (false).
pub fn wait_running(i: &mut Instance, limit: Duration) -> bool {
    let t = Instant::now();
    while t.elapsed() < limit {
        if std::fs::read_to_string(&i.out).is_ok_and(|s| s.contains("Shomei is running.")) {
            return true;
        }
        if i.child.try_wait().expect("try_wait").is_some() {
            return false;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    false
}

pub fn log(i: &Instance) -> String {
    format!(
        "--- stdout\n{}\n--- stderr\n{}",
        std::fs::read_to_string(&i.out).unwrap_or_default(),
        std::fs::read_to_string(&i.err).unwrap_or_default()
    )
}

/// Sends one raw HTTP/1.1 request (with `Connection: close`) and reads the answer:
/// status, head (lower case) and body; `None` if nothing listens on `port`.
pub fn exchange(port: u16, request: &[u8]) -> Option<(u16, String, Vec<u8>)> {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(60)))
        .expect("timeout");
    s.write_all(request).expect("write");
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).expect("read");
    let head_end = buf
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a response")
        + 4;
    let status = String::from_utf8_lossy(&buf[9..12])
        .parse()
        .expect("status");
    let head = String::from_utf8_lossy(&buf[..head_end]).to_ascii_lowercase();
    Some((status, head, buf[head_end..].to_vec()))
}

/// GET on the public listener: status and body.
pub fn get(port: u16, path: &str) -> (u16, Vec<u8>) {
    let req = format!("GET {path} HTTP/1.1\r\nHost: pki.example.jp\r\nConnection: close\r\n\r\n");
    let (status, _, body) = exchange(port, req.as_bytes()).expect("connect");
    (status, body)
}

/// GET with the response head: status (0 if nothing listens), head (lower case), body.
pub fn get_head(port: u16, path: &str) -> (u16, String, String) {
    let req = format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    match exchange(port, req.as_bytes()) {
        Some((status, head, body)) => (status, head, String::from_utf8_lossy(&body).into_owned()),
        None => (0, String::new(), String::new()),
    }
}

/// An OCSP request by POST: status and body.
pub fn ocsp_post(port: u16, req: &[u8]) -> (u16, Vec<u8>) {
    let mut msg = format!(
        "POST /ocsp/server HTTP/1.1\r\nHost: pki.example.jp\r\nContent-Type: application/ocsp-request\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        req.len()
    )
    .into_bytes();
    msg.extend_from_slice(req);
    let (status, _, body) = exchange(port, &msg).expect("connect");
    (status, body)
}

/// Waits for the exit status (at most `limit`).
pub fn wait_exit(i: &mut Instance, limit: Duration) -> Option<std::process::ExitStatus> {
    let t = Instant::now();
    while t.elapsed() < limit {
        if let Some(s) = i.child.try_wait().expect("try_wait") {
            return Some(s);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    None
}

pub fn sigterm(i: &Instance) {
    let ok = Command::new("kill")
        .arg("-TERM")
        .arg(i.child.id().to_string())
        .status()
        .expect("kill")
        .success();
    assert!(ok, "kill -TERM failed");
}

/// `shomei ARGS` on a data directory and configuration: (success, stdout, stderr).
pub fn cli(data: &Path, cfg: &Path, args: &[&str]) -> (bool, String, String) {
    let out = Command::new(BIN)
        .arg("--data-dir")
        .arg(data)
        .arg("--config")
        .arg(cfg)
        .args(args)
        .output()
        .expect("run shomei");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// "good", "revoked" or "unknown": what an OCSP response says of its certificate.
pub fn ocsp_state(der: &[u8]) -> &'static str {
    use der::Decode;
    let resp = x509_ocsp::OcspResponse::from_der(der).expect("OCSP response");
    let bytes = resp.response_bytes.expect("a successful response");
    let basic = x509_ocsp::BasicOcspResponse::from_der(bytes.response.as_bytes()).expect("basic");
    match basic
        .tbs_response_data
        .responses
        .first()
        .map(|r| &r.cert_status)
    {
        Some(x509_ocsp::CertStatus::Good(_)) => "good",
        Some(x509_ocsp::CertStatus::Revoked(_)) => "revoked",
        _ => "unknown",
    }
}
