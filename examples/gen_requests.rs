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

use std::path::{Path, PathBuf};
use std::time::Instant;

#[path = "../tests/common/csrgen.rs"]
mod csrgen;
use csrgen::{csr, manifest, node};

fn usage() -> ! {
    eprintln!("usage: gen_requests N DIR [--seed SEED]");
    std::process::exit(2);
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
    let toml = manifest(
        n,
        width,
        &format!("{n} kubelet-serving requests for the benchmark (softhsm/bench.sh)."),
    );
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
