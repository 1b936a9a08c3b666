//! DNS lookups through one resolver: the configured server, or the system's. Nothing is
//! cached: each check sees the zone as it is now.

use crate::caa::CaaRecord;
use crate::{Failure, FailureKind, SetupError, normal};
use hickory_resolver::TokioResolver;
use hickory_resolver::config::{NameServerConfig, ResolverConfig, ResolverOpts};
use hickory_resolver::net::NetError;
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::proto::rr::{RData, RecordType};
use std::net::{IpAddr, SocketAddr};

#[derive(Clone)]
pub(crate) struct Dns {
    resolver: TokioResolver,
}

fn options() -> ResolverOpts {
    let mut o = ResolverOpts::default();
    o.cache_size = 0;
    o.attempts = 2;
    o.timeout = std::time::Duration::from_secs(3);
    o.ndots = 0;
    o
}

impl Dns {
    pub(crate) fn new(server: Option<SocketAddr>) -> Result<Dns, SetupError> {
        let builder = match server {
            Some(addr) => {
                let mut ns = NameServerConfig::udp_and_tcp(addr.ip());
                for c in &mut ns.connections {
                    c.port = addr.port();
                }
                TokioResolver::builder_with_config(
                    ResolverConfig::from_name_servers(vec![ns]),
                    TokioRuntimeProvider::default(),
                )
            }
            None => TokioResolver::builder_tokio().map_err(|e| SetupError(e.to_string()))?,
        };
        let resolver = builder
            .with_options(options())
            .build()
            .map_err(|e| SetupError(e.to_string()))?;
        Ok(Dns { resolver })
    }

    fn fqdn(name: &str) -> String {
        format!("{}.", normal(name))
    }

    /// Records of one type; empty when the name or the type does not exist.
    async fn lookup(&self, name: &str, rtype: RecordType) -> Result<Vec<RData>, Failure> {
        match self.resolver.lookup(Self::fqdn(name), rtype).await {
            Ok(l) => Ok(l.answers().iter().map(|r| r.data.clone()).collect()),
            Err(e) if e.is_no_records_found() || e.is_nx_domain() => Ok(Vec::new()),
            Err(e) => Err(dns_failure(name, rtype, &e)),
        }
    }

    /// The TXT strings at `name` (each record's strings joined).
    pub(crate) async fn txt(&self, name: &str) -> Result<Vec<String>, Failure> {
        Ok(self
            .lookup(name, RecordType::TXT)
            .await?
            .into_iter()
            .filter_map(|d| match d {
                RData::TXT(t) => Some(
                    t.txt_data
                        .iter()
                        .map(|s| String::from_utf8_lossy(s).into_owned())
                        .collect::<String>(),
                ),
                _ => None,
            })
            .collect())
    }

    /// The addresses of `name` (IPv4 first).
    pub(crate) async fn ips(&self, name: &str) -> Result<Vec<IpAddr>, Failure> {
        let mut out = Vec::new();
        for t in [RecordType::A, RecordType::AAAA] {
            for d in self.lookup(name, t).await? {
                if let Some(ip) = d.ip_addr() {
                    out.push(ip);
                }
            }
        }
        if out.is_empty() {
            return Err(Failure::new(
                FailureKind::Dns,
                format!("{name} has no A or AAAA record"),
            ));
        }
        Ok(out)
    }

    /// The relevant CAA RRset (RFC 8659 3): the records at the closest of `name` and
    /// its ancestors (not the root) that has any, and where they were found. A lookup
    /// that fails (not "no records") fails the check: issuance may not go on.
    pub(crate) async fn caa_set(&self, name: &str) -> Result<(String, Vec<CaaRecord>), Failure> {
        let name = normal(name);
        let mut at = name.as_str();
        loop {
            let records: Vec<CaaRecord> = self
                .lookup(at, RecordType::CAA)
                .await
                .map_err(|f| Failure::new(FailureKind::Caa, f.detail))?
                .into_iter()
                .filter_map(|d| match d {
                    RData::CAA(c) => Some(CaaRecord::from_hickory(&c)),
                    _ => None,
                })
                .collect();
            if !records.is_empty() {
                return Ok((at.to_owned(), records));
            }
            match at.split_once('.') {
                Some((_, parent)) if !parent.is_empty() => at = parent,
                _ => return Ok((name.clone(), Vec::new())),
            }
        }
    }
}

fn dns_failure(name: &str, rtype: RecordType, e: &NetError) -> Failure {
    Failure::new(
        FailureKind::Dns,
        format!("the {rtype} lookup of {name} failed: {e}"),
    )
}
