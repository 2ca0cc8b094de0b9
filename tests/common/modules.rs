//! PKCS#11 modules other than SoftHSM for the integration tests: a throwaway
//! token on opencryptoki's soft token or on tpm2-pkcs11 over swtpm, made by
//! `softhsm/tokens/{opencryptoki,tpm2}.sh start` inside the test's directory
//! (`DIR/tokens`). Every client (the `ceremony` binary, `pkcs11-tool`, openssl
//! when it talks to the token) runs through the token's `DIR/tokens/run`
//! wrapper. The daemons the script started are stopped by pid when the
//! [`Daemons`] value drops, which also happens when the test panics.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use super::{repo, text};

/// A PKCS#11 implementation the suite can run the ceremony on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Module {
    /// SoftHSM 2: a token directory and a config file, no daemon (the default).
    SoftHsm,
    /// opencryptoki's soft token (`libpkcs11_sw.so` behind `pkcsslotd`), RSA only.
    OpenCryptoki,
    /// tpm2-pkcs11 on swtpm behind tpm2-abrmd: EC P-256/P-384, RSA up to 3072.
    Tpm2,
}

impl Module {
    /// The name in tables and messages.
    pub fn name(self) -> &'static str {
        match self {
            Module::SoftHsm => "softhsm",
            Module::OpenCryptoki => "opencryptoki",
            Module::Tpm2 => "tpm2",
        }
    }

    /// The `softhsm/tokens/` script that makes this module's token.
    fn script(self) -> Option<PathBuf> {
        let name = match self {
            Module::SoftHsm => return None,
            Module::OpenCryptoki => "opencryptoki.sh",
            Module::Tpm2 => "tpm2.sh",
        };
        Some(repo().join("softhsm/tokens").join(name))
    }
}

/// A running token of another module: what its `token.env` says, and the
/// daemons to stop.
pub struct Daemons {
    /// The module's path (`TOKEN_MODULE`).
    pub module: String,
    /// The token's label (`TOKEN_LABEL`).
    pub label: String,
    /// The wrapper every client runs through (`TOKEN_RUN`).
    pub run: PathBuf,
    /// The user PIN (`TOKEN_USER_PIN_FILE`'s content).
    pub pin: String,
    /// `TOKEN_PIDS`, in the order the script stops them.
    pids: Vec<u32>,
}

impl Daemons {
    /// Starts `module`'s token labelled `ceremony` in `dir` (a fresh
    /// directory that the script creates). Panics with the script's output
    /// if it fails: not root for opencryptoki, a package missing that
    /// apt-get could not install, a daemon that did not come up.
    pub fn start(module: Module, dir: &Path) -> Daemons {
        let script = module.script().expect("a module with daemons");
        let out = Command::new(&script)
            .arg("start")
            .arg(dir)
            .arg("ceremony")
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("{} runs: {e}", script.display()));
        // Read whatever was recorded first, so a half-started token is
        // still stopped when this value drops.
        let env = std::fs::read_to_string(dir.join("token.env")).unwrap_or_default();
        let value = |key: &str| {
            env.lines()
                .find_map(|l| l.split_once('=').filter(|(k, _)| *k == key))
                .map(|(_, v)| v.to_string())
        };
        let pids = value("TOKEN_PIDS")
            .unwrap_or_default()
            .split(',')
            .filter_map(|p| p.parse().ok())
            .collect();
        let pin_file = value("TOKEN_USER_PIN_FILE").unwrap_or_default();
        let daemons = Daemons {
            module: value("TOKEN_MODULE").unwrap_or_default(),
            label: value("TOKEN_LABEL").unwrap_or_default(),
            run: PathBuf::from(value("TOKEN_RUN").unwrap_or_default()),
            pin: std::fs::read_to_string(&pin_file).unwrap_or_default(),
            pids,
        };
        assert!(
            out.status.success() && !daemons.pids.is_empty() && !daemons.pin.is_empty(),
            "{} start {}: exit {:?}\nstdout:\n{}\nstderr:\n{}",
            script.display(),
            dir.display(),
            out.status.code(),
            text(&out.stdout),
            text(&out.stderr)
        );
        daemons
    }

    /// `PROGRAM` run through the token's wrapper, so that it reaches the token.
    pub fn command(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut c = Command::new(&self.run);
        c.arg(program);
        c
    }
}

/// Whether `pid` is a live process (a zombie is not: it holds nothing, and
/// where PID 1 does not reap, a daemon's zombie stays until the container ends).
fn alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        // The state follows the command name, which is in parentheses.
        Ok(stat) => stat
            .rsplit_once(')')
            .is_some_and(|(_, rest)| !rest.trim_start().starts_with('Z')),
        Err(_) => false,
    }
}

fn signal(pid: u32, sig: &str) {
    let _ = Command::new("kill")
        .args([sig, &pid.to_string()])
        .stderr(std::process::Stdio::null())
        .status();
}

impl Drop for Daemons {
    /// SIGTERM to each recorded pid in turn, up to 5 s each, then SIGKILL.
    fn drop(&mut self) {
        for &pid in &self.pids {
            if !alive(pid) {
                continue;
            }
            signal(pid, "-TERM");
            let deadline = Instant::now() + Duration::from_secs(5);
            while alive(pid) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
            }
            if alive(pid) {
                eprintln!("pid {pid} ignored SIGTERM for 5 s; sending SIGKILL");
                signal(pid, "-KILL");
            }
        }
    }
}
