//! What the RA's benchmarks share: memory and latency figures, and the status an OCSP
//! answer states.
#![allow(dead_code)]

use std::time::Duration;

/// A `/proc/self/status` field in kB (`VmHWM:`, `VmRSS:`).
pub fn rss_kb(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// The same in MB.
pub fn rss_mb(field: &str) -> f64 {
    rss_kb(field) as f64 / 1024.0
}

/// The `p` quantile of sorted latencies, in milliseconds.
pub fn pct(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i].as_secs_f64() * 1000.0
}

/// The status a successful OCSP response states for its first certificate.
pub fn ocsp_status(der: &[u8]) -> Option<x509_ocsp::CertStatus> {
    use der::Decode;
    let resp = x509_ocsp::OcspResponse::from_der(der).ok()?;
    let bytes = resp.response_bytes?;
    let basic = x509_ocsp::BasicOcspResponse::from_der(bytes.response.as_bytes()).ok()?;
    basic
        .tbs_response_data
        .responses
        .first()
        .map(|r| r.cert_status)
}
