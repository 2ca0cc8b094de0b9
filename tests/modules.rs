//! The whole flow on each PKCS#11 implementation the suite can run (issue 13
//! item 8): SoftHSM, opencryptoki's soft token (RSA only) and tpm2-pkcs11 on
//! swtpm behind tpm2-abrmd (EC, and RSA up to 3072). The steps are those of
//! `softhsm/demo.sh`: root-init (the shipped script, with each module's key
//! algorithms), inventory, request seal, sign (both shipped signing
//! ceremonies), bundle open pinned with `--ca` and `--audit-key`, an
//! issue-crl ceremony, and transcript verify with the checkpoint. Outside
//! tools check what each step made (openssl verify, crl, pkey).
//!
//! Each test prints its module's row of the module × step table (exit code
//! and seconds per step; `-` not run after a failure, `chk` when the command
//! succeeded but an outside check of its output failed) and asserts that
//! every cell is 0. `cargo test --test modules -- --nocapture
//! --test-threads=1` prints all three rows. The token daemons
//! of opencryptoki and tpm2 (`softhsm/tokens/`) are the test's own, in its
//! temp dir, and stop by pid when it ends; opencryptoki needs root.

mod common;

use std::time::Instant;

use common::modules::Module;
use common::{age_identity, make_requests, openssl, repo, text, Env};

/// Why a step failed: the cell it gets and what to tell the reader.
struct Failure {
    cell: String,
    message: String,
}

type Step = Result<(), Failure>;

/// Runs `ceremony ARGS`; the exit code and stderr on failure.
fn ceremony(env: &Env, args: &[&str]) -> Result<String, Failure> {
    let out = env.run(args);
    if out.status.success() {
        return Ok(text(&out.stdout));
    }
    Err(Failure {
        cell: out
            .status
            .code()
            .map_or("signal".to_string(), |c| c.to_string()),
        message: format!(
            "ceremony {} exited {:?}\nstdout:\n{}stderr:\n{}",
            args.join(" "),
            out.status.code(),
            text(&out.stdout),
            text(&out.stderr)
        ),
    })
}

/// An outside check of a step's output.
fn check(ok: bool, what: impl FnOnce() -> String) -> Step {
    if ok {
        return Ok(());
    }
    Err(Failure {
        cell: "chk".into(),
        message: what(),
    })
}

/// `openssl ARGS` in the test directory must exit 0.
fn openssl_ok(env: &Env, args: &[&str]) -> Result<String, Failure> {
    let out = openssl(env.dir.path(), args);
    check(out.status.success(), || {
        format!("openssl {} failed:\n{}", args.join(" "), text(&out.stderr))
    })?;
    Ok(text(&out.stdout))
}

/// A shipped script with the env's module and, for each `(step id,
/// algorithm)`, that step's `algorithm` line replaced.
fn script_variant(env: &Env, name: &str, algorithms: &[(&str, &str)]) -> String {
    let text = std::fs::read_to_string(repo().join("ceremonies").join(name))
        .expect("shipped script")
        .replace("/usr/lib/softhsm/libsofthsm2.so", &env.module());
    let mut out = Vec::new();
    for (i, chunk) in text.split("[[step]]").enumerate() {
        let algorithm = algorithms
            .iter()
            .find(|(id, _)| chunk.contains(&format!("\nid = \"{id}\"\n")))
            .map(|(_, a)| a);
        let chunk = match algorithm {
            Some(a) if i > 0 => chunk
                .split_inclusive('\n')
                .map(|l| {
                    if l.starts_with("algorithm = ") {
                        format!("algorithm = \"{a}\"\n")
                    } else {
                        l.to_string()
                    }
                })
                .collect::<String>(),
            _ => chunk.to_string(),
        };
        out.push(chunk);
    }
    let variant = out.join("[[step]]");
    for (id, a) in algorithms {
        assert!(
            variant.contains(&format!("id = \"{id}\"")) && variant.contains(a),
            "{name}: step {id} or algorithm {a} not written"
        );
    }
    variant
}

/// `ceremony run SCRIPT` after its dry run, with the witnesses' answers
/// read off the dry run (as `common::answers`, without panicking).
fn run_script(env: &Env, script: &str) -> Step {
    let dry = ceremony(env, &["run", script, "--dry-run"])?;
    let witnesses: Vec<&str> = dry
        .lines()
        .find_map(|l| l.trim().strip_prefix("witnesses"))
        .map(|w| w.trim().split(", ").collect())
        .unwrap_or_default();
    let mut answers = String::new();
    for line in dry.lines() {
        if let Some((_, code)) = line.split_once("(witnessed: acknowledgement code ") {
            for w in &witnesses {
                answers.push_str(&format!("{w} {}\n", code.trim_end_matches(')')));
            }
        }
    }
    let answers_file = format!("{script}.answers");
    env.write(&answers_file, &answers);
    ceremony(
        env,
        &[
            "run",
            script,
            "--pin-file",
            "user.pin",
            "--answers",
            &answers_file,
        ],
    )
    .map(drop)
}

/// What openssl says a key is: "rsa-3072", "ecdsa-p256", "ecdsa-p384".
fn key_algorithm(openssl_text: &str) -> String {
    if let Some(bits) = openssl_text
        .lines()
        .find_map(|l| l.trim().strip_prefix("Public-Key: ("))
    {
        if openssl_text.contains("NIST CURVE: P-256") {
            return "ecdsa-p256".into();
        }
        if openssl_text.contains("NIST CURVE: P-384") {
            return "ecdsa-p384".into();
        }
        return format!("rsa-{}", bits.trim_end_matches(" bit)"));
    }
    "unknown".into()
}

/// One module's run of the flow.
struct Flow<'a> {
    env: &'a Env,
    /// Step id → algorithm for root-init (the shipped one where absent).
    algorithms: &'a [(&'a str, &'a str)],
}

const ROOTS: [(&str, &str); 3] = [
    ("cluster-root", "pki/ca.crt"),
    ("etcd-root", "pki/etcd/ca.crt"),
    ("front-proxy-root", "pki/front-proxy-ca.crt"),
];

impl Flow<'_> {
    fn algorithm(&self, id: &str) -> &str {
        self.algorithms
            .iter()
            .find(|(i, _)| *i == id)
            .map_or("ecdsa-p256", |(_, a)| a)
    }

    /// The shipped root ceremony with this module's algorithms; the roots
    /// verify with openssl and have the algorithms asked for, and so does
    /// the audit key.
    fn root_init(&self) -> Step {
        let env = self.env;
        env.write(
            "root-init.toml",
            &script_variant(env, "root-init.toml", self.algorithms),
        );
        run_script(env, "root-init.toml")?;
        for (id, cert) in ROOTS {
            openssl_ok(env, &["verify", "-x509_strict", "-CAfile", cert, cert])?;
            let dump = openssl_ok(env, &["x509", "-in", cert, "-noout", "-text"])?;
            let got = key_algorithm(&dump);
            check(got == self.algorithm(id), || {
                format!(
                    "{cert}: key is {got}, the script asked for {}",
                    self.algorithm(id)
                )
            })?;
        }
        let dump = openssl_ok(
            env,
            &[
                "pkey",
                "-pubin",
                "-in",
                "pki/audit-key.pub",
                "-noout",
                "-text",
            ],
        )?;
        let got = key_algorithm(&dump);
        check(got == self.algorithm("audit-key"), || {
            format!("audit key is {got}, asked {}", self.algorithm("audit-key"))
        })
    }

    /// `ceremony inventory`: four private keys, none flagged.
    fn inventory(&self) -> Step {
        let module = self.env.module();
        let out = ceremony(
            self.env,
            &[
                "inventory",
                "--module",
                &module,
                "--token",
                "ceremony",
                "--pin-file",
                "user.pin",
            ],
        )?;
        check(out.contains(" 4 private key(s), none flagged"), || {
            format!("inventory: expected 4 private keys, none flagged:\n{out}")
        })
    }

    /// The requester's CSRs (openssl) sealed into two request bundles.
    fn seal(&self) -> Step {
        let env = self.env;
        make_requests(env);
        age_identity(env, "requester.agekey");
        std::fs::create_dir_all(env.path("requests")).expect("mkdir requests");
        for name in ["intermediate", "components"] {
            let out = ceremony(
                env,
                &[
                    "request",
                    "seal",
                    &format!("requester/{name}.toml"),
                    "--out",
                    &format!("requests/{name}.tar"),
                ],
            )?;
            let sha = out.lines().find_map(|l| l.strip_prefix("sha256 "));
            check(sha.is_some(), || {
                format!("seal {name}: no sha256 line:\n{out}")
            })?;
            env.write(&format!("requests/{name}.sha256"), sha.unwrap_or_default());
        }
        Ok(())
    }

    /// Both shipped signing ceremonies, pinned to the sealed bundles.
    fn sign(&self) -> Step {
        let env = self.env;
        let recipient = text(
            &std::process::Command::new("age-keygen")
                .arg("-y")
                .arg(env.path("requester.agekey"))
                .output()
                .expect("age-keygen -y")
                .stdout,
        );
        for name in ["intermediate", "components"] {
            let sha = std::fs::read_to_string(env.path(&format!("requests/{name}.sha256")))
                .expect("sealed digest");
            let script = script_variant(env, &format!("sign-{name}.toml"), &[])
                .replace("REQUEST-BUNDLE-SHA256", &sha)
                .replace("REQUESTER-AGE-RECIPIENT", recipient.trim());
            env.write(&format!("sign-{name}.toml"), &script);
            run_script(env, &format!("sign-{name}.toml"))?;
            let bundle = env.path(&format!("bundles/{name}.tar.age"));
            check(bundle.is_file(), || {
                format!("{} not written", bundle.display())
            })?;
        }
        Ok(())
    }

    /// `bundle open` pinned to the three roots and the audit key; the
    /// issued certificates verify against their roots with openssl.
    fn open(&self) -> Step {
        let env = self.env;
        for name in ["intermediate", "components"] {
            ceremony(
                env,
                &[
                    "bundle",
                    "open",
                    &format!("bundles/{name}.tar.age"),
                    "--identity",
                    "requester.agekey",
                    "--ca",
                    "pki/ca.crt",
                    "--ca",
                    "pki/etcd/ca.crt",
                    "--ca",
                    "pki/front-proxy-ca.crt",
                    "--audit-key",
                    "pki/audit-key.pub",
                    "--out",
                    &format!("opened/{name}"),
                ],
            )?;
        }
        let c = "opened/components/certs";
        for (ca, cert, purpose) in [
            (
                "pki/ca.crt",
                "opened/intermediate/certs/controller-manager-signer.crt",
                "any",
            ),
            ("pki/ca.crt", &format!("{c}/cp1-apiserver.crt"), "sslserver"),
            ("pki/ca.crt", &format!("{c}/admin.crt"), "sslclient"),
            (
                "pki/etcd/ca.crt",
                &format!("{c}/cp1-etcd-peer.crt"),
                "sslserver",
            ),
            (
                "pki/front-proxy-ca.crt",
                &format!("{c}/cp1-front-proxy-client.crt"),
                "sslclient",
            ),
        ] {
            openssl_ok(
                env,
                &[
                    "verify",
                    "-x509_strict",
                    "-purpose",
                    purpose,
                    "-CAfile",
                    ca,
                    cert,
                ],
            )?;
        }
        Ok(())
    }

    /// The shipped issue-crl ceremony: the cluster root revokes the
    /// intermediate; openssl checks the CRL and finds the intermediate revoked.
    fn crl(&self) -> Step {
        let env = self.env;
        env.write(
            "revoke-intermediate.toml",
            &script_variant(env, "revoke-intermediate.toml", &[]),
        );
        run_script(env, "revoke-intermediate.toml")?;
        let crl = "crl/cluster-root.crl";
        openssl_ok(
            env,
            &[
                "crl",
                "-in",
                crl,
                "-noout",
                "-verify",
                "-CAfile",
                "pki/ca.crt",
            ],
        )?;
        let chain = format!(
            "{}{}",
            std::fs::read_to_string(env.path("pki/ca.crt")).expect("root"),
            std::fs::read_to_string(env.path(crl)).expect("crl")
        );
        env.write("ca-with-crl.pem", &chain);
        let out = openssl(
            env.dir.path(),
            &[
                "verify",
                "-crl_check",
                "-CAfile",
                "ca-with-crl.pem",
                "opened/intermediate/certs/controller-manager-signer.crt",
            ],
        );
        check(
            !out.status.success()
                && format!("{}{}", text(&out.stdout), text(&out.stderr))
                    .contains("certificate revoked"),
            || {
                format!(
                    "the intermediate is not revoked by the CRL:\n{}{}",
                    text(&out.stdout),
                    text(&out.stderr)
                )
            },
        )
    }

    /// `transcript verify` with the last checkpoint and the audit key.
    fn verify(&self) -> Step {
        let out = ceremony(
            self.env,
            &[
                "transcript",
                "verify",
                "transcript.jsonl",
                "--checkpoint",
                "checkpoint",
                "--audit-key",
                "pki/audit-key.pub",
            ],
        )?;
        check(out.contains("entries are covered by a checkpoint"), || {
            format!("transcript verify: not every entry is covered:\n{out}")
        })
    }
}

type StepFn = for<'a, 'b> fn(&'a Flow<'b>) -> Step;

const STEPS: [(&str, StepFn); 7] = [
    ("root-init", |f| f.root_init()),
    ("inventory", |f| f.inventory()),
    ("seal", |f| f.seal()),
    ("sign", |f| f.sign()),
    ("open", |f| f.open()),
    ("crl", |f| f.crl()),
    ("verify", |f| f.verify()),
];

/// Runs every step on a fresh token of `module` (later steps are not run
/// after a failure), prints the module's row of the table and asserts that
/// every step exited 0.
fn whole_flow(module: Module, algorithms: &[(&str, &str)]) {
    let started = Instant::now();
    let setup = std::panic::catch_unwind(|| Env::on(module));
    let setup_secs = started.elapsed().as_secs_f64();
    let mut cells = vec![(
        "setup".to_string(),
        if setup.is_ok() { "0" } else { "fail" }.to_string(),
        setup_secs,
    )];
    let mut failure = setup.as_ref().err().map(|_| {
        (
            "setup",
            "the token did not start (see the panic above)".to_string(),
        )
    });
    for (name, step) in STEPS {
        let (Ok(env), None) = (&setup, &failure) else {
            cells.push((name.to_string(), "-".to_string(), 0.0));
            continue;
        };
        let t = Instant::now();
        let result = step(&Flow { env, algorithms });
        let secs = t.elapsed().as_secs_f64();
        match result {
            Ok(()) => cells.push((name.to_string(), "0".to_string(), secs)),
            Err(f) => {
                cells.push((name.to_string(), f.cell, secs));
                failure = Some((name, f.message));
            }
        }
    }
    drop(setup); // stops the daemons: counted in the total
    let total = started.elapsed().as_secs_f64();

    let mut table = format!("\nmodule × step exit codes ({}):\n", module.name());
    table.push_str(&format!("{:<14}", "module"));
    for (name, _, _) in &cells {
        table.push_str(&format!("{name:>10}"));
    }
    table.push_str(&format!("{:>10}\n{:<14}", "total", module.name()));
    for (_, cell, _) in &cells {
        table.push_str(&format!("{cell:>10}"));
    }
    table.push_str(&format!("\n{:<14}", "  seconds"));
    for (_, _, secs) in &cells {
        table.push_str(&format!("{secs:>10.1}"));
    }
    table.push_str(&format!("{total:>10.1}\n"));
    if let Some((step, message)) = failure {
        panic!("{}: step {step} failed\n{message}{table}", module.name());
    }
    assert!(cells.iter().all(|(_, cell, _)| cell == "0"), "{table}");
    println!("{table}");
}

#[test]
fn softhsm_runs_the_whole_flow() {
    // The shipped scripts as they are: ECDSA P-256 roots and audit key.
    whole_flow(Module::SoftHsm, &[]);
}

#[test]
fn opencryptoki_runs_the_whole_flow_with_rsa() {
    // The soft token has no EC mechanism at all: every key is RSA.
    whole_flow(
        Module::OpenCryptoki,
        &[
            ("cluster-root", "rsa-2048"),
            ("etcd-root", "rsa-3072"),
            ("front-proxy-root", "rsa-2048"),
            ("audit-key", "rsa-2048"),
        ],
    );
}

#[test]
fn tpm2_runs_the_whole_flow_with_ec_and_rsa() {
    // EC P-256 and P-384, and RSA at the module's maximum (3072).
    whole_flow(
        Module::Tpm2,
        &[
            ("cluster-root", "ecdsa-p256"),
            ("etcd-root", "rsa-3072"),
            ("front-proxy-root", "ecdsa-p384"),
            ("audit-key", "ecdsa-p384"),
        ],
    );
}

/// The variant writer changes only the named steps' algorithm lines.
#[test]
fn script_variants_change_only_the_algorithms_named() {
    let env = Env::new();
    let shipped = std::fs::read_to_string(repo().join("ceremonies/root-init.toml"))
        .expect("read")
        .replace("/usr/lib/softhsm/libsofthsm2.so", &env.module());
    let variant = script_variant(
        &env,
        "root-init.toml",
        &[("etcd-root", "rsa-3072"), ("audit-key", "ecdsa-p384")],
    );
    let changed: Vec<(&str, &str)> = shipped
        .lines()
        .zip(variant.lines())
        .filter(|(a, b)| a != b)
        .collect();
    assert_eq!(
        changed,
        [
            ("algorithm = \"ecdsa-p256\"", "algorithm = \"rsa-3072\""),
            ("algorithm = \"ecdsa-p256\"", "algorithm = \"ecdsa-p384\""),
        ]
    );
    assert_eq!(shipped.lines().count(), variant.lines().count());
}
