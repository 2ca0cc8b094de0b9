//! Benchmark fixture: N kubelet-serving CSRs and the request manifest that
//! `ceremony request seal` reads, made in-process (no openssl per request).
//!
//! ```text
//! cargo run --release --example gen_requests -- N DIR [--seed SEED]
//! ```
//!
//! Writes `DIR/csr/nNNNNN.csr` (PEM) for nodes `n00001` … and
//! `DIR/requests.toml`: one `kubelet-serving` request per node, with the
//! node name, one DNS SAN (the node name) and one IP (`10.x.y.z`), the same
//! SANs the CSR asks for. The P-256 keys are derived from SEED and the index
//! (SHA-256), so the output is reproducible, and they are never written:
//! these keys are for benchmarks only and must never back a real certificate.

use std::fmt::Write as _;
use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Instant;

use der::asn1::Ia5String;
use der::EncodePem;
use sha2::{Digest, Sha256};
use x509_cert::builder::{Builder, RequestBuilder};
use x509_cert::ext::pkix::name::GeneralName;
use x509_cert::ext::pkix::SubjectAltName;
use x509_cert::name::Name;

fn usage() -> ! {
    eprintln!("usage: gen_requests N DIR [--seed SEED]");
    std::process::exit(2);
}

/// The P-256 key for request `index`: SHA-256(seed, index, counter) until it
/// is a valid scalar (the first try succeeds but for ~2^-32 of indices).
fn key(seed: &str, index: usize) -> p256::ecdsa::SigningKey {
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
fn node(index: usize, width: usize) -> String {
    format!("n{:0width$}", index + 1)
}

/// A distinct IPv4 address in 10.0.0.0/8 for request `index`.
fn ip(index: usize) -> Ipv4Addr {
    let n = (index as u32 + 1) & 0x00ff_ffff;
    Ipv4Addr::new(10, (n >> 16) as u8, (n >> 8) as u8, n as u8)
}

/// The PEM CSR for one node: CN=system:node:NODE, O=system:nodes, SANs DNS:NODE and IP.
fn csr(seed: &str, index: usize, node: &str) -> Result<String, String> {
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

fn write(path: &Path, bytes: &[u8]) -> Result<(), String> {
    std::fs::write(path, bytes).map_err(|e| format!("{}: {e}", path.display()))
}

fn main() {
    let mut args = std::env::args().skip(1);
    let n: usize = match args.next().map(|a| a.parse()) {
        Some(Ok(n)) if n > 0 => n,
        _ => usage(),
    };
    let dir = PathBuf::from(args.next().unwrap_or_else(|| usage()));
    let mut seed = "ceremony-bench".to_string();
    while let Some(arg) = args.next() {
        match (arg.as_str(), args.next()) {
            ("--seed", Some(s)) => seed = s,
            _ => usage(),
        }
    }
    let started = Instant::now();
    let csr_dir = dir.join("csr");
    if let Err(e) = std::fs::create_dir_all(&csr_dir) {
        eprintln!("error: {}: {e}", csr_dir.display());
        std::process::exit(1);
    }
    let width = n.to_string().len().max(5);
    // Key derivation and CSR signing dominate: split the indices over the cores.
    let threads = std::thread::available_parallelism().map_or(1, |t| t.get());
    let result: Result<(), String> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|t| {
                let (seed, csr_dir) = (&seed, &csr_dir);
                scope.spawn(move || -> Result<(), String> {
                    for index in (t..n).step_by(threads) {
                        let node = node(index, width);
                        let pem = csr(seed, index, &node)?;
                        write(&csr_dir.join(format!("{node}.csr")), pem.as_bytes())?;
                    }
                    Ok(())
                })
            })
            .collect();
        workers
            .into_iter()
            .try_for_each(|w| w.join().unwrap_or_else(|_| Err("a worker panicked".into())))
    });
    if let Err(e) = result {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
    let mut toml =
        format!("# {n} kubelet-serving requests for the benchmark (softhsm/bench.sh).\n");
    for index in 0..n {
        let node = node(index, width);
        let _ = write!(
            toml,
            "\n[[request]]\nid = \"{node}\"\nprofile = \"kubelet-serving\"\ncsr = \"csr/{node}.csr\"\nnode = \"{node}\"\ndns = [\"{node}\"]\nips = [\"{}\"]\n",
            ip(index)
        );
    }
    if let Err(e) = write(&dir.join("requests.toml"), toml.as_bytes()) {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
    eprintln!(
        "generated {n} P-256 kubelet-serving CSRs in {} ({:.2}s, {threads} threads)",
        dir.display(),
        started.elapsed().as_secs_f64()
    );
}
