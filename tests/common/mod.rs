//! Test harness: a private SoftHSM token per test in a temporary directory,
//! the real `ceremony` binary, and outside tools (openssl, pkcs11-tool).
//! [`Env::on`] makes the token on another PKCS#11 module instead
//! ([`modules`]: opencryptoki, tpm2-pkcs11), with its own daemons.
#![allow(dead_code)]

pub mod bundles;
pub mod csrgen;
pub mod custody;
pub mod etcd;
pub mod modules;
pub mod pty;
pub mod ssh;

use modules::{Daemons, Module};

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The SoftHSM module the suite uses (`SOFTHSM_MODULE` overrides).
pub fn module() -> String {
    std::env::var("SOFTHSM_MODULE").unwrap_or_else(|_| "/usr/lib/softhsm/libsofthsm2.so".into())
}

/// The repository root.
pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// One test's world: a temp dir holding a token labelled `ceremony`, on
/// SoftHSM unless made with [`Env::on`].
pub struct Env {
    /// Another module's daemons, stopped when the Env drops. Declared first:
    /// fields drop in order, so the daemons stop before `dir` is removed.
    daemons: Option<Daemons>,
    pub dir: tempfile::TempDir,
    pub pin: String,
    /// The security officer's PIN of the SoftHSM tokens (empty on another module).
    pub so_pin: String,
}

fn digits(seed: u64) -> String {
    format!("{:08}", seed % 100_000_000)
}

impl Env {
    /// A fresh token labelled `ceremony` with a random user PIN in `user.pin`.
    pub fn new() -> Env {
        let dir = tempdir();
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("clock")
            .subsec_nanos() as u64;
        let pin = digits(nanos ^ (std::process::id() as u64) << 7);
        let so_pin = digits(nanos.wrapping_mul(2_654_435_761));
        let env = Env {
            daemons: None,
            dir,
            pin,
            so_pin: so_pin.clone(),
        };
        std::fs::create_dir(env.path("tokens")).expect("tokens dir");
        std::fs::write(
            env.path("softhsm2.conf"),
            format!(
                "directories.tokendir = {}\nobjectstore.backend = file\nlog.level = ERROR\n",
                env.path("tokens").display()
            ),
        )
        .expect("softhsm2.conf");
        env.write_secret("user.pin", &format!("{}\n", env.pin));
        env.init_token("ceremony", &so_pin);
        env
    }

    /// A fresh token labelled `ceremony` on `module`: [`Env::new`] for
    /// SoftHSM; otherwise `softhsm/tokens/` starts the module's daemons with
    /// their state in `DIR/tokens`, and the user PIN is copied to `user.pin`.
    pub fn on(module: Module) -> Env {
        if module == Module::SoftHsm {
            return Env::new();
        }
        let dir = tempdir();
        let daemons = Daemons::start(module, &dir.path().join("tokens"));
        let env = Env {
            pin: daemons.pin.trim().to_string(),
            daemons: Some(daemons),
            dir,
            so_pin: String::new(),
        };
        env.write_secret("user.pin", &format!("{}\n", env.pin));
        env
    }

    /// The token's PKCS#11 module (SoftHSM's unless made with [`Env::on`]).
    pub fn module(&self) -> String {
        match &self.daemons {
            Some(d) => d.module.clone(),
            None => module(),
        }
    }

    /// `PROGRAM` run in the test directory so that it reaches the token
    /// (through the module's wrapper when it has daemons).
    pub fn client(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut c = match &self.daemons {
            Some(d) => d.command(program),
            None => Command::new(program),
        };
        c.current_dir(self.dir.path())
            .env("PWD", self.dir.path())
            .env("SOFTHSM2_CONF", self.path("softhsm2.conf"));
        c
    }

    /// Initialises another token in the same SoftHSM directory.
    pub fn init_token(&self, label: &str, so_pin: &str) {
        let out = Command::new("softhsm2-util")
            .env("SOFTHSM2_CONF", self.path("softhsm2.conf"))
            .args(["--init-token", "--free", "--label", label])
            .args(["--so-pin", so_pin, "--pin", &self.pin])
            .output()
            .expect("softhsm2-util runs (is softhsm2 installed?)");
        assert!(out.status.success(), "softhsm2-util: {}", text(&out.stderr));
    }

    /// A path inside the test directory.
    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    /// Writes a file with mode 0600.
    pub fn write_secret(&self, rel: &str, body: &str) -> PathBuf {
        let p = self.path(rel);
        std::fs::write(&p, body).expect("write");
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).expect("chmod");
        p
    }

    /// Writes a file.
    pub fn write(&self, rel: &str, body: &str) -> PathBuf {
        let p = self.path(rel);
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent).expect("mkdir");
        }
        std::fs::write(&p, body).expect("write");
        p
    }

    /// The shipped script `ceremonies/NAME`, with the module path adjusted.
    pub fn shipped_script(&self, name: &str) -> PathBuf {
        let text =
            std::fs::read_to_string(repo().join("ceremonies").join(name)).expect("shipped script");
        self.write(
            name,
            &text.replace("/usr/lib/softhsm/libsofthsm2.so", &self.module()),
        )
    }

    /// The `ceremony` binary, run in the test directory with its token.
    pub fn ceremony(&self) -> Command {
        let mut c = self.client(env!("CARGO_BIN_EXE_ceremony"));
        c.stdin(std::process::Stdio::null());
        c
    }

    /// Runs `ceremony ARGS`.
    pub fn run(&self, args: &[&str]) -> Output {
        self.ceremony().args(args).output().expect("run ceremony")
    }

    /// Runs `pkcs11-tool` against this token, logged in.
    pub fn pkcs11_tool(&self, args: &[&str]) -> Output {
        self.client("pkcs11-tool")
            .args(["--module", &self.module(), "--token-label", "ceremony"])
            .args(["--login", "--pin", &self.pin])
            .args(args)
            .output()
            .expect("pkcs11-tool runs (is opensc installed?)")
    }

    /// Every object in the token, as pkcs11-tool lists them.
    pub fn token_objects(&self) -> String {
        let out = self.pkcs11_tool(&["--list-objects"]);
        assert!(out.status.success(), "pkcs11-tool: {}", text(&out.stderr));
        text(&out.stdout)
    }

    /// The transcript's events, parsed.
    pub fn events(&self, rel: &str) -> Vec<serde_json::Value> {
        std::fs::read_to_string(self.path(rel))
            .expect("transcript")
            .lines()
            .map(|l| {
                serde_json::from_str::<serde_json::Value>(l).expect("json line")["event"].clone()
            })
            .collect()
    }

    /// Reads every entry of the transcript back with the library's one
    /// event type (the transcript layer's own for `crash_remnant`) and
    /// writes it again: the bytes must be those the ceremony wrote.
    /// Returns the event types seen, in order; a torn line is skipped.
    pub fn assert_events_read_back(&self, rel: &str) -> Vec<String> {
        let text = std::fs::read_to_string(self.path(rel)).expect("transcript");
        let mut kinds = Vec::new();
        for line in text.lines() {
            if serde_json::from_str::<serde_json::Value>(line).is_err() {
                continue; // a torn line a crash left, named by the next entry
            }
            let start = line.find(",\"event\":").expect("an event") + ",\"event\":".len();
            let end = line.rfind(",\"hash\":\"").expect("a hash");
            let written = &line[start..end];
            let kind = serde_json::from_str::<serde_json::Value>(written).expect("json")["type"]
                .as_str()
                .expect("a type")
                .to_string();
            let again = if kind == ceremony::transcript::CRASH_REMNANT {
                let e: ceremony::transcript::CrashRemnant =
                    serde_json::from_str(written).expect("crash_remnant reads back");
                serde_json::to_string(&e)
            } else {
                let e: ceremony::events::Event<'static> = serde_json::from_str(written)
                    .unwrap_or_else(|e| panic!("{written} does not read back: {e}"));
                serde_json::to_string(&e)
            }
            .expect("serializes");
            assert_eq!(again, written, "{kind} is not written back byte for byte");
            kinds.push(kind);
        }
        kinds
    }

    /// Every file under the test directory except the token store, sorted.
    pub fn files(&self) -> Vec<String> {
        fn walk(base: &Path, dir: &Path, out: &mut Vec<String>) {
            for e in std::fs::read_dir(dir).expect("read_dir") {
                let p = e.expect("entry").path();
                let rel = p.strip_prefix(base).expect("prefix").display().to_string();
                if rel == "tokens" {
                    continue;
                }
                if p.is_dir() {
                    walk(base, &p, out);
                } else {
                    out.push(rel);
                }
            }
        }
        let mut out = Vec::new();
        walk(self.dir.path(), self.dir.path(), &mut out);
        out.sort();
        out
    }
}

fn tempdir() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("ceremony-test.")
        .tempdir()
        .expect("tempdir")
}

/// Runs openssl with ARGS in `dir`.
pub fn openssl(dir: &Path, args: &[&str]) -> Output {
    Command::new("openssl")
        .current_dir(dir)
        .args(args)
        .output()
        .expect("openssl runs")
}

/// Lossy UTF-8.
pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Asserts the command succeeded, showing its output if not.
pub fn ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status.code(),
        text(&out.stdout),
        text(&out.stderr)
    );
    text(&out.stdout)
}

/// Asserts the command exited `code`; returns its stderr.
pub fn failed(out: &Output, code: i32) -> String {
    assert_eq!(
        out.status.code(),
        Some(code),
        "stdout: {}\nstderr: {}",
        text(&out.stdout),
        text(&out.stderr)
    );
    text(&out.stderr)
}

/// Every regular file under `dir`, recursively, never following a link.
pub fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).expect("read_dir") {
        let path = entry.expect("entry").path();
        let meta = std::fs::symlink_metadata(&path).expect("metadata");
        if meta.is_dir() {
            out.extend(walk(&path));
        } else if meta.is_file() {
            out.push(path);
        }
    }
    out
}

/// A one-step `generate-root` script body (header plus steps) for custom tests.
pub fn script(steps: &str) -> String {
    format!(
        r#"[ceremony]
name = "test"
description = "integration test"

[token]
module = "{}"
label = "ceremony"

[participants]
operator = "Test Operator"
witnesses = ["Test Witness"]

[output]
transcript = "transcript.jsonl"
directory = "pki"

{steps}"#,
        module()
    )
}

/// One `generate-root` step.
pub fn root_step(id: &str, algorithm: &str, subject: &str, file: &str, extra: &str) -> String {
    format!(
        "[[step]]\naction = \"generate-root\"\nid = \"{id}\"\nkey_label = \"{id}-key\"\nalgorithm = \"{algorithm}\"\nsubject = \"{subject}\"\ncertificate = \"{file}\"\n{extra}\n"
    )
}

/// Splits pkcs11-tool's object listing into one block per object.
pub fn object_blocks(listing: &str) -> Vec<String> {
    let mut blocks: Vec<String> = Vec::new();
    for line in listing.lines() {
        if !line.starts_with(' ') || blocks.is_empty() {
            blocks.push(String::new());
        }
        let last = blocks.last_mut().expect("a block was pushed");
        last.push_str(line);
        last.push('\n');
    }
    blocks
}

/// Runs the shipped root ceremony in `env` (roots in `pki/`, audit key in
/// `pki/audit-key.pub`, witnesses answering from a file).
pub fn root_init(env: &Env) {
    let script = env.shipped_script("root-init.toml");
    ok(&run_ceremony(env, &script));
}

/// Writes `SCRIPT.answers`: every witness's acknowledgement of every
/// witnessed step, read off the script's dry run, in prompt order.
pub fn answers(env: &Env, script: &Path) -> PathBuf {
    let dry = ok(&env.run(&["run", script.to_str().expect("utf-8"), "--dry-run"]));
    let witnesses: Vec<String> = dry
        .lines()
        .find_map(|l| l.trim().strip_prefix("witnesses"))
        .map(|w| w.trim().split(", ").map(str::to_string).collect())
        .unwrap_or_default();
    let mut answers = String::new();
    for line in dry.lines() {
        if let Some((_, code)) = line.split_once("(witnessed: acknowledgement code ") {
            let code = code.trim_end_matches(')');
            for w in &witnesses {
                answers.push_str(&format!("{w} {code}\n"));
            }
        }
    }
    let path = PathBuf::from(format!("{}.answers", script.display()));
    std::fs::write(&path, answers).expect("answers");
    path
}

/// Runs a ceremony script with the PIN file and (for witnessed steps) answers.
pub fn run_ceremony(env: &Env, script: &Path) -> Output {
    let answers = answers(env, script);
    env.run(&[
        "run",
        script.to_str().expect("utf-8"),
        "--pin-file",
        "user.pin",
        "--answers",
        answers.to_str().expect("utf-8"),
    ])
}

/// A new age identity at `requester.agekey`; returns its recipient.
pub fn age_identity(env: &Env, name: &str) -> String {
    let out = Command::new("age-keygen")
        .args(["-o", env.path(name).to_str().expect("utf-8")])
        .output()
        .expect("age-keygen runs (is age installed?)");
    assert!(out.status.success(), "age-keygen: {}", text(&out.stderr));
    let out = Command::new("age-keygen")
        .args(["-y", env.path(name).to_str().expect("utf-8")])
        .output()
        .expect("age-keygen -y");
    text(&out.stdout).trim().to_string()
}

/// Runs `softhsm/make-requests.sh` into `requester/` (keys, CSRs, manifests).
pub fn make_requests(env: &Env) {
    let out = Command::new(repo().join("softhsm/make-requests.sh"))
        .arg(env.path("requester"))
        .output()
        .expect("make-requests.sh");
    assert!(out.status.success(), "make-requests: {}", text(&out.stderr));
}

/// `ceremony request seal MANIFEST --out BUNDLE`; returns the printed SHA-256.
pub fn seal(env: &Env, manifest: &str, bundle: &str) -> String {
    let out = ok(&env.run(&["request", "seal", manifest, "--out", bundle]));
    out.lines()
        .find_map(|l| l.strip_prefix("sha256 "))
        .expect("sha256 line")
        .to_string()
}

/// A `sign-requests` script for `bundle` pinned to `sha`, writing output
/// bundle `name`, with all three roots as issuers; `extra` goes into the step.
pub fn sign_script(bundle: &str, sha: &str, name: &str, recipient: &str, extra: &str) -> String {
    script(&format!(
        r#"[[step]]
action = "sign-requests"
id = "sign"
bundle = "{bundle}"
bundle_sha256 = "{sha}"
output = "{name}"
recipients = ["{recipient}"]
{extra}

[step.issuers.cluster]
key_label = "cluster-root-ca"
certificate = "pki/ca.crt"

[step.issuers.etcd]
key_label = "etcd-root-ca"
certificate = "pki/etcd/ca.crt"

[step.issuers.front-proxy]
key_label = "front-proxy-root-ca"
certificate = "pki/front-proxy-ca.crt"
"#
    ))
    .replace("directory = \"pki\"", "directory = \"bundles\"")
}

/// Makes a key and CSR with openssl: `csr(env, "x", "ec:P-256", "/CN=x", &[])`
/// writes `extra/x.key` and `extra/x.csr`. `newkey` is `ec:CURVE`, `rsa:BITS`
/// or `ed25519`; `args` are extra `openssl req` arguments.
pub fn openssl_csr(env: &Env, id: &str, newkey: &str, subject: &str, args: &[&str]) -> PathBuf {
    std::fs::create_dir_all(env.path("extra")).expect("mkdir");
    let key = env.path(&format!("extra/{id}.key"));
    let csr = env.path(&format!("extra/{id}.csr"));
    let mut cmd = Command::new("openssl");
    cmd.args(["req", "-new", "-nodes", "-subj", subject]);
    match newkey.split_once(':') {
        Some(("ec", curve)) => {
            cmd.args([
                "-newkey",
                "ec",
                "-pkeyopt",
                &format!("ec_paramgen_curve:{curve}"),
            ]);
        }
        Some(("rsa", bits)) => {
            cmd.args(["-newkey", &format!("rsa:{bits}")]);
        }
        _ => {
            cmd.args(["-newkey", newkey]);
        }
    }
    cmd.args([
        "-keyout",
        key.to_str().expect("utf-8"),
        "-out",
        csr.to_str().expect("utf-8"),
    ]);
    cmd.args(args);
    let out = cmd.output().expect("openssl req");
    assert!(out.status.success(), "openssl req: {}", text(&out.stderr));
    csr
}

/// The whole signing flow: roots, the requester's CSRs sealed into two
/// bundles, both shipped signing ceremonies (each previewed first) pinned to
/// them; returns the requester's age recipient.
pub fn signed_cluster(env: &Env) -> String {
    root_init(env);
    make_requests(env);
    let recipient = age_identity(env, "requester.agekey");
    std::fs::create_dir_all(env.path("requests")).expect("mkdir requests");
    for name in ["intermediate", "components"] {
        let sha = seal(
            env,
            &format!("requester/{name}.toml"),
            &format!("requests/{name}.tar"),
        );
        let template = std::fs::read_to_string(repo().join(format!("ceremonies/sign-{name}.toml")))
            .expect("shipped script");
        let script = template
            .replace("REQUEST-BUNDLE-SHA256", &sha)
            .replace("REQUESTER-AGE-RECIPIENT", &recipient)
            .replace("/usr/lib/softhsm/libsofthsm2.so", &module());
        let path = env.write(&format!("sign-{name}.toml"), &script);
        let dry = ok(&env.run(&["run", path.to_str().expect("utf-8"), "--dry-run"]));
        assert!(dry.contains("sign    "), "{dry}");
        ok(&env.run(&[
            "run",
            path.to_str().expect("utf-8"),
            "--pin-file",
            "user.pin",
        ]));
    }
    recipient
}
