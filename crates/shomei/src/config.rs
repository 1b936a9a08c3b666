//! Configuration: safe defaults for everything, a TOML file to override them, the
//! `SHOMEI_DATABASE_URL` environment variable to switch to PostgreSQL. Validated at
//! start-up; a problem stops start-up with one line naming it.

use serde::Deserialize;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// Everything configurable.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Where the database (SQLite), the PKI and the demo accounts live.
    pub data_dir: PathBuf,
    /// `sqlite:PATH` or `postgres://…`. Default: SQLite in the data dir.
    pub database_url: Option<String>,
    /// Listener addresses.
    pub listen: Listen,
    /// PKI settings.
    pub pki: Pki,
    /// Notice mails.
    pub mail: Mail,
    /// The key file that encrypts secrets kept in the database (TOTP secrets). Default:
    /// `secrets.key` in the data directory, made on first start (mode 0600). Keep it
    /// out of database backups.
    pub secrets_key_file: Option<PathBuf>,
    /// Domain validation (ACME challenges, CAA) and its network perspectives.
    pub validation: Validation,
    /// The job queue (notice mails, delayed revocations).
    pub jobs: Jobs,
}

/// The job queue (issue #12).
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Jobs {
    /// Seconds a job an instance claimed stays its own without a heartbeat (renewed
    /// every quarter of it while the job runs). A job whose instance died is run again
    /// by another instance, or by the restarted one, once this has passed. Default 60.
    pub lease_seconds: i64,
}

impl Default for Jobs {
    fn default() -> Self {
        Jobs {
            lease_seconds: shomei_store::jobs::JOB_LEASE_SECONDS,
        }
    }
}

/// The validation engine (issue #10): where it looks and connects, and the remote
/// network perspectives that corroborate it (BR 3.2.2.9).
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Validation {
    /// The DNS server (`host:port`) for every lookup; default: the system's.
    pub resolver: Option<std::net::SocketAddr>,
    /// The port http-01 and pki-validation checks connect to (80).
    pub http_port: u16,
    /// The port tls-alpn-01 checks and https redirects connect to (443).
    pub tls_port: u16,
    /// Seconds one check may take (10).
    pub timeout_seconds: u64,
    /// The issuer domain names of this CA in CAA `issue` records.
    pub caa_identities: Vec<String>,
    /// The remote perspectives, `https://host:port` of `shomei perspective` processes.
    pub perspectives: Vec<String>,
    /// How many remote perspectives must be configured; default: what BR 3.2.2.9
    /// requires on the day (2 from 2025-09-15, 3 from 2026-03-15, 4 from 2026-06-15, 5
    /// from 2026-12-15). Set 0 only in a laboratory: a CA that issues publicly trusted
    /// certificates must corroborate.
    pub min_remote_perspectives: Option<usize>,
    /// The link PKI between the RA and its perspectives (`ca.pem`, `server.pem`,
    /// `server.key`, `client.pem`, `client.key`). Default: `pki/perspective-link/` in
    /// the data directory, made on first start.
    pub link_dir: Option<PathBuf>,
}

impl Validation {
    /// The engine's settings.
    pub fn engine(&self) -> shomei_validation::Config {
        shomei_validation::Config {
            resolver: self.resolver,
            http_port: self.http_port,
            tls_port: self.tls_port,
            timeout_seconds: self.timeout_seconds,
            caa_identities: self.caa_identities.clone(),
        }
    }
}

impl Default for Validation {
    fn default() -> Self {
        let e = shomei_validation::Config::default();
        Validation {
            resolver: e.resolver,
            http_port: e.http_port,
            tls_port: e.tls_port,
            timeout_seconds: e.timeout_seconds,
            caa_identities: e.caa_identities,
            perspectives: Vec::new(),
            min_remote_perspectives: None,
            link_dir: None,
        }
    }
}

/// Notice mails.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Mail {
    /// A local SMTP relay, `smtp://host:port` (plain SMTP; the relay handles TLS
    /// onwards). Without it, mails are written to `outbox/` in the data directory.
    pub smtp_url: Option<String>,
    /// Sender.
    pub from: String,
    /// Where staff notices (new application, revocation request) go.
    pub staff_to: String,
    /// The address customers write to with questions, shown on the portal.
    pub support: String,
}

impl Default for Mail {
    fn default() -> Self {
        Mail {
            smtp_url: None,
            from: "Shomei <noreply@shomei.invalid>".into(),
            staff_to: "ca-staff@shomei.invalid".into(),
            support: "ca-support@shomei.invalid".into(),
        }
    }
}

/// Listener addresses.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Listen {
    /// Public: CRLs, OCSP, CA certificates (plain HTTP).
    pub public: SocketAddr,
    /// Portal: customers (HTTPS, login certificate).
    pub portal: SocketAddr,
    /// Desk: staff (HTTPS, staff certificate required).
    pub desk: SocketAddr,
    /// ACME (RFC 8555; HTTPS, server certificate only; issue #10).
    pub acme: SocketAddr,
    /// `/metrics` (Prometheus) and the health checks, plain HTTP (issue #12). Off
    /// unless set; keep it on an address only the monitoring reaches.
    pub metrics: Option<SocketAddr>,
    /// The most requests the portal, the desk and ACME each handle at once; beyond it a
    /// request is answered 503 with Retry-After at once (issue #12). Default 256.
    pub max_in_flight: usize,
    /// How many threads serve the public listener (OCSP, CRLs), each with its own
    /// runtime (issue #11). 0, the default: half the cores, at least one, so that a
    /// flood of OCSP requests leaves the other half to the portal, the desk, ACME and
    /// issuance.
    pub public_threads: usize,
    /// The most connections each listener (public, portal, desk, ACME) keeps open at
    /// once; past it a listener accepts no more until one closes. 0, the default: a
    /// quarter of the open files the process may have (less a reserve for the database
    /// and the CRL files), between 16 and 65536, so that a flood of connections on one
    /// listener never leaves the others, or the database, without a file descriptor.
    pub max_connections: usize,
    /// The most of a listener's connections one client address (an IPv6 /64) keeps open
    /// at once; past it, that address's new connections are closed when accepted, so one
    /// host cannot take a whole listener's cap. 0, the default: a quarter of the cap, at
    /// most 1024. Behind a reverse proxy on the same host every client has the proxy's
    /// address: set it to `max_connections` there and limit per client at the proxy.
    pub max_connections_per_address: usize,
}

/// File descriptors kept out of the listeners' share: the database's files and
/// connections, the CRL and key files, the logs.
const FILES_RESERVED: u64 = 256;

impl Listen {
    /// Each listener's connection cap: as set, or a quarter of `open_files` (the
    /// process's limit; `None`: unlimited) less [`FILES_RESERVED`], between 16 and
    /// 65536.
    pub fn max_connections(&self, open_files: Option<u64>) -> usize {
        match self.max_connections {
            0 => {
                let share = open_files.map_or(u64::MAX, |n| n.saturating_sub(FILES_RESERVED) / 4);
                usize::try_from(share.clamp(16, 65_536)).unwrap_or(65_536)
            }
            n => n,
        }
    }

    /// One address's share of a listener's `cap` connections: as set, or a quarter of the
    /// cap (at least one, at most 1024).
    pub fn max_connections_per_address(&self, cap: usize) -> usize {
        match self.max_connections_per_address {
            0 => (cap / 4).clamp(1, 1024),
            n => n,
        }
    }

    /// The public listener's thread count: as set, or half the cores (at least one).
    pub fn public_threads(&self) -> usize {
        match self.public_threads {
            0 => std::thread::available_parallelism().map_or(1, |n| (n.get() / 2).max(1)),
            n => n,
        }
    }
}

/// PKI settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Pki {
    /// The base URL written into certificates (AIA, CRL distribution point). For
    /// certificates that must pass public-CA linting it must be a public name, e.g.
    /// `http://pki.example.jp`, routed to the public listener.
    pub public_base_url: String,
    /// The operator's name in the development PKI's subjects.
    pub operator: String,
    /// A directory of Debian weak-key lists (BR 6.1.1.3 (4)), read at start-up. Each
    /// file has one fingerprint per line (`#` comments allowed): the SHA-1 of
    /// `Modulus=<HEX>\n` as `openssl x509 -noout -modulus | sha1sum` prints it, in full
    /// (40 hex digits) or its last 20 digits (the openssl-blacklist form). Default:
    /// `weak-keys/` in the data directory; a missing directory is an empty list.
    pub weak_keys_dir: Option<PathBuf>,
    /// How many OCSP responses the responder keeps in memory (about 1 KB each; the most
    /// recent certificates' first). Requests for others are answered from the database.
    pub ocsp_memory_entries: usize,
    /// How many CRL shards new certificates are spread over (1–1024). Changing it
    /// affects new certificates only; every shard ever used keeps being signed.
    pub crl_shards: u32,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            data_dir: PathBuf::from("shomei-data"),
            database_url: None,
            listen: Listen::default(),
            pki: Pki::default(),
            mail: Mail::default(),
            secrets_key_file: None,
            validation: Validation::default(),
            jobs: Jobs::default(),
        }
    }
}

impl Default for Listen {
    fn default() -> Self {
        Listen {
            public: SocketAddr::from(([127, 0, 0, 1], 8080)),
            portal: SocketAddr::from(([127, 0, 0, 1], 8443)),
            desk: SocketAddr::from(([127, 0, 0, 1], 8444)),
            acme: SocketAddr::from(([127, 0, 0, 1], 8445)),
            metrics: None,
            max_in_flight: 256,
            public_threads: 0,
            max_connections: 0,
            max_connections_per_address: 0,
        }
    }
}

impl Default for Pki {
    fn default() -> Self {
        Pki {
            // Empty: derived from the public listener (`http://<listen.public>`).
            public_base_url: String::new(),
            operator: "Shomei Development".into(),
            weak_keys_dir: None,
            ocsp_memory_entries: shomei_ra::ocsp_memory::DEFAULT_OCSP_MEMORY_ENTRIES,
            crl_shards: shomei_ra::crl::DEFAULT_CRL_SHARDS,
        }
    }
}

impl Config {
    /// Loads: defaults ← config file ← `--data-dir` ← `SHOMEI_DATABASE_URL`.
    pub fn load(file: Option<&Path>, data_dir: Option<&Path>) -> Result<Config, String> {
        let mut cfg = match file {
            Some(f) => {
                let text = std::fs::read_to_string(f)
                    .map_err(|e| format!("cannot read config file {}: {e}", f.display()))?;
                toml::from_str::<Config>(&text)
                    .map_err(|e| format!("config file {}: {}", f.display(), e.message()))?
            }
            None => Config::default(),
        };
        if let Some(d) = data_dir {
            cfg.data_dir = d.to_path_buf();
        }
        if let Ok(url) = std::env::var("SHOMEI_DATABASE_URL")
            && !url.is_empty()
        {
            cfg.database_url = Some(url);
        }
        // Issue #8 item 19: by default the public listener's own address, so moving the
        // listener moves the URLs in certificates, stickers and seal links with it.
        if cfg.pki.public_base_url.trim().is_empty() {
            cfg.pki.public_base_url = format!("http://{}", cfg.listen.public);
        }
        let base = cfg.pki.public_base_url.trim_end_matches('/').to_owned();
        if !base.starts_with("http://") || base.len() <= 7 {
            return Err(format!(
                "pki.public_base_url must be an http:// URL (CRL and OCSP are served over plain HTTP), not {base:?}"
            ));
        }
        cfg.pki.public_base_url = base;
        if !(1..=100_000).contains(&cfg.listen.max_in_flight) {
            return Err(format!(
                "listen.max_in_flight must be between 1 and 100000, not {}",
                cfg.listen.max_in_flight
            ));
        }
        if cfg.listen.max_connections > 1_000_000 {
            return Err(format!(
                "listen.max_connections must be between 0 (from the open-file limit) and 1000000, not {}",
                cfg.listen.max_connections
            ));
        }
        if cfg.listen.max_connections_per_address > 1_000_000 {
            return Err(format!(
                "listen.max_connections_per_address must be between 0 (a quarter of the cap) and 1000000, not {}",
                cfg.listen.max_connections_per_address
            ));
        }
        if cfg.listen.public_threads > 1024 {
            return Err(format!(
                "listen.public_threads must be between 0 (half the cores) and 1024, not {}",
                cfg.listen.public_threads
            ));
        }
        if !(2..=3600).contains(&cfg.jobs.lease_seconds) {
            return Err(format!(
                "jobs.lease_seconds must be between 2 and 3600, not {}",
                cfg.jobs.lease_seconds
            ));
        }
        if !(1..=1024).contains(&cfg.pki.crl_shards) {
            return Err(format!(
                "pki.crl_shards must be between 1 and 1024, not {}",
                cfg.pki.crl_shards
            ));
        }
        Ok(cfg)
    }

    /// The secrets key file in effect.
    pub fn secrets_key_file(&self) -> PathBuf {
        self.secrets_key_file
            .clone()
            .unwrap_or_else(|| self.data_dir.join("secrets.key"))
    }

    /// The perspective link directory in effect.
    pub fn link_dir(&self) -> PathBuf {
        self.validation
            .link_dir
            .clone()
            .unwrap_or_else(|| self.data_dir.join("pki").join("perspective-link"))
    }

    /// The weak-key list directory in effect.
    pub fn weak_keys_dir(&self) -> PathBuf {
        self.pki
            .weak_keys_dir
            .clone()
            .unwrap_or_else(|| self.data_dir.join("weak-keys"))
    }

    /// The database URL in effect.
    pub fn database_url(&self) -> String {
        self.database_url.clone().unwrap_or_else(|| {
            format!(
                "sqlite:{}?mode=rwc",
                self.data_dir.join("shomei.db").display()
            )
        })
    }
}

/// A URL with any password hidden, for messages.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => {
            let creds = &url[s + 3..at];
            match creds.split_once(':') {
                Some((user, _)) => format!("{}://{user}:***@{}", &url[..s], &url[at + 1..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_passwords() {
        assert_eq!(
            redact("postgres://u:secret@h:5432/db"),
            "postgres://u:***@h:5432/db"
        );
        assert_eq!(redact("postgres://u@h/db"), "postgres://u@h/db");
        assert_eq!(redact("sqlite:x.db"), "sqlite:x.db");
    }

    #[test]
    fn file_overrides_defaults_and_unknown_keys_fail() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let f = dir.path().join("shomei.toml");
        std::fs::write(&f, "[listen]\nportal = \"127.0.0.1:9443\"\n[pki]\npublic_base_url = \"http://pki.example.jp/\"\n").unwrap_or_default();
        let c = Config::load(Some(&f), None).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(c.listen.portal.port(), 9443);
        assert_eq!(c.listen.desk.port(), 8444);
        assert_eq!(c.pki.public_base_url, "http://pki.example.jp");
        // Without public_base_url, the public listener's address (issue #8 item 19).
        std::fs::write(&f, "[listen]\npublic = \"127.0.0.1:9080\"\n").unwrap_or_default();
        let c = Config::load(Some(&f), None).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(c.pki.public_base_url, "http://127.0.0.1:9080");
        std::fs::write(&f, "nonsense = 1\n").unwrap_or_default();
        assert!(Config::load(Some(&f), None).is_err_and(|e| e.contains("unknown field")));
    }

    #[test]
    fn issue11_public_threads_default_to_half_the_cores_and_are_bounded() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let f = dir.path().join("shomei.toml");
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let c = Config::load(None, None).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(c.listen.public_threads(), (cores / 2).max(1));
        std::fs::write(&f, "[listen]\npublic_threads = 3\n").unwrap_or_default();
        let c = Config::load(Some(&f), None).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(c.listen.public_threads(), 3);
        std::fs::write(&f, "[listen]\npublic_threads = 5000\n").unwrap_or_default();
        assert!(Config::load(Some(&f), None).is_err_and(|e| e.contains("listen.public_threads")));
    }

    /// Each listener's connection cap leaves file descriptors for the others and the
    /// database: by default a quarter of the open-file limit less a reserve (OWASP
    /// resource exhaustion; a flood probed on the public listener left the portal
    /// unanswered); set explicitly, as set; out of range, refused.
    #[test]
    fn issue11_connection_caps_default_to_a_share_of_the_open_file_limit() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let f = dir.path().join("shomei.toml");
        let c = Config::load(None, None).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(c.listen.max_connections(Some(1024)), 192);
        assert_eq!(c.listen.max_connections(Some(20_000)), 4936);
        assert_eq!(c.listen.max_connections(Some(100)), 16);
        assert_eq!(c.listen.max_connections(None), 65_536);
        std::fs::write(&f, "[listen]\nmax_connections = 300\n").unwrap_or_default();
        let c = Config::load(Some(&f), None).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(c.listen.max_connections(Some(1024)), 300);
        std::fs::write(&f, "[listen]\nmax_connections = 2000000\n").unwrap_or_default();
        assert!(Config::load(Some(&f), None).is_err_and(|e| e.contains("listen.max_connections")));
        // One address's share: a quarter of the cap, at least one, at most 1024.
        let c = Config::load(None, None).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(c.listen.max_connections_per_address(192), 48);
        assert_eq!(c.listen.max_connections_per_address(65_536), 1024);
        assert_eq!(c.listen.max_connections_per_address(2), 1);
        std::fs::write(&f, "[listen]\nmax_connections_per_address = 10\n").unwrap_or_default();
        let c = Config::load(Some(&f), None).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(c.listen.max_connections_per_address(192), 10);
        std::fs::write(&f, "[listen]\nmax_connections_per_address = 2000000\n").unwrap_or_default();
        assert!(
            Config::load(Some(&f), None)
                .is_err_and(|e| e.contains("listen.max_connections_per_address"))
        );
    }
}
