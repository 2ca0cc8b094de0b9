//! Many kubelet-serving CSRs, made in-process (no openssl per request): the
//! benchmark's `examples/gen_requests` and the suite's batch tests share
//! this file (the example includes it by path).
//!
//! The P-256 keys are derived from a seed and the index (SHA-256), so the
//! output is reproducible, and they are never written: these keys are for
//! tests and benchmarks only and must never back a real certificate.

use std::fmt::Write as _;
use std::net::{IpAddr, Ipv4Addr};
use std::str::FromStr;

use der::asn1::Ia5String;
use der::EncodePem;
use sha2::{Digest, Sha256};
use x509_cert::builder::{Builder, RequestBuilder};
use x509_cert::ext::pkix::name::GeneralName;
use x509_cert::ext::pkix::SubjectAltName;
use x509_cert::name::Name;

/// The P-256 key for request `index`: SHA-256(seed, index, counter) until it
/// is a valid scalar (the first try succeeds but for ~2^-32 of indices).
pub fn key(seed: &str, index: usize) -> p256::ecdsa::SigningKey {
    (0u32..)
        .find_map(|counter| {
            let digest = Sha256::new()
                .chain_update(seed.as_bytes())
                .chain_update((index as u64).to_be_bytes())
                .chain_update(counter.to_be_bytes())
                .finalize();
            p256::ecdsa::SigningKey::from_slice(&digest).ok()
        })
        .expect("some counter gives a valid scalar")
}

/// The node name for request `index` (0-based), zero-padded to `width`.
pub fn node(index: usize, width: usize) -> String {
    format!("n{:0width$}", index + 1)
}

/// A distinct IPv4 address in 10.0.0.0/8 for request `index`.
pub fn ip(index: usize) -> Ipv4Addr {
    let n = (index as u32 + 1) & 0x00ff_ffff;
    Ipv4Addr::new(10, (n >> 16) as u8, (n >> 8) as u8, n as u8)
}

/// The PEM CSR for one node: CN=system:node:NODE, O=system:nodes, SANs DNS:NODE and IP.
pub fn csr(seed: &str, index: usize, node: &str) -> Result<String, String> {
    let signing_key = key(seed, index);
    let subject = Name::from_str(&format!("CN=system:node:{node},O=system:nodes"))
        .map_err(|e| format!("subject: {e}"))?;
    let mut builder = RequestBuilder::new(subject).map_err(|e| format!("builder: {e}"))?;
    let dns = Ia5String::new(node).map_err(|e| format!("dns: {e}"))?;
    builder
        .add_extension(&SubjectAltName(vec![
            GeneralName::DnsName(dns),
            GeneralName::from(IpAddr::V4(ip(index))),
        ]))
        .map_err(|e| format!("SAN: {e}"))?;
    let req = builder
        .build::<_, p256::ecdsa::DerSignature>(&signing_key)
        .map_err(|e| format!("sign: {e}"))?;
    req.to_pem(der::pem::LineEnding::LF)
        .map_err(|e| format!("PEM: {e}"))
}

/// The `request seal` manifest (TOML) for requests 0..n, CSRs under `csr/`.
pub fn manifest(n: usize, width: usize, comment: &str) -> String {
    let mut toml = format!("# {comment}\n");
    for index in 0..n {
        let node = node(index, width);
        let _ = write!(
            toml,
            "\n[[request]]\nid = \"{node}\"\nprofile = \"kubelet-serving\"\ncsr = \"csr/{node}.csr\"\nnode = \"{node}\"\ndns = [\"{node}\"]\nips = [\"{}\"]\n",
            ip(index)
        );
    }
    toml
}
