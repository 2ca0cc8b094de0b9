//! Bad input and failures: each names the input and the rule, exits
//! non-zero, writes nothing partial, and is recorded when a ceremony ran.

mod common;

use common::{ok, text, Env};

fn root_init(env: &Env) -> String {
    env.shipped_script("root-init.toml")
        .to_str()
        .expect("utf-8")
        .to_string()
}

#[test]
fn wrong_pin_is_recorded_and_nothing_is_made() {
    let env = Env::new();
    let script = root_init(&env);
    env.write_secret("wrong.pin", "13572468\n");
    let before = env.token_objects();
    let out = env.run(&["run", &script, "--pin-file", "wrong.pin"]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("error: token ceremony: login refused: PinIncorrect"),
        "{stderr}"
    );
    assert!(stderr.contains("hint: the PIN is wrong"), "{stderr}");
    assert!(!env.path("pki").exists());
    assert_eq!(env.token_objects(), before);
    let events = env.events("transcript.jsonl");
    let login = events
        .iter()
        .find(|e| e["type"] == "login")
        .expect("login recorded");
    assert_eq!(login["success"], false);
    assert_eq!(login["pin_source"], "file wrong.pin");
    assert!(login["error"]
        .as_str()
        .is_some_and(|e| e.contains("PinIncorrect")));
    let end = events.last().expect("end");
    assert_eq!(end["type"], "ceremony_end");
    assert_eq!(end["outcome"], "failed");
    ok(&env.run(&["transcript", "verify", "transcript.jsonl"]));
    let transcript = std::fs::read_to_string(env.path("transcript.jsonl")).expect("read");
    assert!(!transcript.contains("13572468") && !transcript.contains(&env.pin));
}

#[test]
fn missing_module_is_named() {
    let env = Env::new();
    let script = env.write(
        "s.toml",
        &common::script(&common::root_step("r", "ecdsa-p256", "CN=r", "r.crt", ""))
            .replace(&common::module(), "/nonexistent/libpkcs11.so"),
    );
    let out = env.run(&[
        "run",
        script.to_str().expect("utf-8"),
        "--pin-file",
        "user.pin",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(
        stderr
            .contains("error: PKCS#11 module /nonexistent/libpkcs11.so: cannot load: no such file"),
        "{stderr}"
    );
    assert!(stderr.contains("hint: check the module path"), "{stderr}");
    assert!(!env.path("pki").exists());
    let events = env.events("transcript.jsonl");
    let end = events.last().expect("end");
    assert_eq!(end["outcome"], "failed");
    assert!(end["error"]
        .as_str()
        .is_some_and(|e| e.contains("/nonexistent/libpkcs11.so")));
}

#[test]
fn unknown_token_label_is_named_with_the_tokens_present() {
    let env = Env::new();
    let script = env.write(
        "s.toml",
        &common::script(&common::root_step("r", "ecdsa-p256", "CN=r", "r.crt", ""))
            .replace("label = \"ceremony\"", "label = \"no-such-token\""),
    );
    let out = env.run(&[
        "run",
        script.to_str().expect("utf-8"),
        "--pin-file",
        "user.pin",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("no token matches label \"no-such-token\" (tokens present: \"ceremony\""),
        "{stderr}"
    );
    assert!(!env.path("pki").exists());
    assert_eq!(
        env.events("transcript.jsonl").last().expect("end")["outcome"],
        "failed"
    );
}

#[test]
fn a_pkcs11_uri_selects_the_token_and_a_pin_in_it_is_refused() {
    let env = Env::new();
    env.init_token("other", "11111111");
    let base = common::script(&common::root_step("r", "ecdsa-p256", "CN=r", "r.crt", ""));
    let with_uri = base.replace(
        "label = \"ceremony\"",
        "uri = \"pkcs11:token=ceremony;manufacturer=SoftHSM%20project\"",
    );
    let script = env.write("uri.toml", &with_uri);
    ok(&env.run(&[
        "run",
        script.to_str().expect("utf-8"),
        "--pin-file",
        "user.pin",
    ]));
    assert!(env.path("pki/r.crt").exists());

    let with_pin = base.replace(
        "label = \"ceremony\"",
        "uri = \"pkcs11:token=ceremony?pin-value=1234\"",
    );
    let script = env.write("pin-uri.toml", &with_pin);
    let out = env.run(&["run", script.to_str().expect("utf-8"), "--dry-run"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("a PIN is never taken from a URI"));
}

#[test]
fn unknown_key_in_the_script_is_refused_before_anything_happens() {
    let env = Env::new();
    let text_with_typo = common::script(&common::root_step(
        "r",
        "ecdsa-p256",
        "CN=r",
        "r.crt",
        "extractable = true",
    ));
    let script = env.write("typo.toml", &text_with_typo);
    let before = env.token_objects();
    let files_before = env.files();
    let out = env.run(&[
        "run",
        script.to_str().expect("utf-8"),
        "--pin-file",
        "user.pin",
    ]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains(&format!("error: script {}", script.display())),
        "{stderr}"
    );
    assert!(
        stderr.contains("step \"r\" (generate-root): extractable: unknown field `extractable`"),
        "{stderr}"
    );
    assert_eq!(env.token_objects(), before);
    assert_eq!(env.files(), files_before, "nothing may be written");
}

#[test]
fn wrong_types_and_escaping_paths_are_named() {
    let env = Env::new();
    for (extra, file, needle) in [
        (
            "validity_days = \"ten years\"",
            "r.crt",
            "validity_days: invalid type: string",
        ),
        (
            "",
            "../outside.crt",
            "must be relative and stay inside the output directory",
        ),
        (
            "",
            "/etc/ca.crt",
            "must be relative and stay inside the output directory",
        ),
        (
            "hash = \"sha384\"",
            "r.crt",
            "hash applies to RSA keys only",
        ),
    ] {
        let script = env.write(
            "bad.toml",
            &common::script(&common::root_step("r", "ecdsa-p256", "CN=r", file, extra)),
        );
        let out = env.run(&["run", script.to_str().expect("utf-8"), "--dry-run"]);
        assert_eq!(out.status.code(), Some(2), "{extra} {file}");
        let stderr = text(&out.stderr);
        assert!(stderr.contains(needle), "{extra} {file}: {stderr}");
    }
    assert!(!env.path("transcript.jsonl").exists());
}

#[test]
fn dry_run_leaves_the_token_and_the_output_directory_unchanged() {
    let env = Env::new();
    let script = root_init(&env);
    let before = env.token_objects();
    let files_before = env.files();
    let out = env.run(&["run", &script, "--dry-run"]);
    let stdout = ok(&out);
    for needle in [
        "generate ecdsa-p256 key pair labelled \"cluster-root-ca\"",
        "generate ecdsa-p256 key pair labelled \"etcd-root-ca\"",
        "generate ecdsa-p256 key pair labelled \"front-proxy-root-ca\"",
        "self-signed CN=kubernetes",
        "self-signed CN=etcd-ca",
        "self-signed CN=front-proxy-ca",
        "writes       pki/ca.crt",
        "writes       pki/etcd/ca.crt",
        "writes       pki/front-proxy-ca.crt",
        "transcript  transcript.jsonl (append)",
        "dry run: no token was opened",
    ] {
        assert!(stdout.contains(needle), "missing {needle:?} in:\n{stdout}");
    }
    assert_eq!(env.token_objects(), before, "token changed");
    assert_eq!(env.files(), files_before, "files changed");
}

#[test]
fn dry_run_reports_outputs_that_would_conflict() {
    let env = Env::new();
    let script = root_init(&env);
    env.write("pki/ca.crt", "old\n");
    let out = env.run(&["run", &script, "--dry-run"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("output pki/ca.crt already exists"));
}

#[test]
fn pin_from_an_inherited_descriptor() {
    let env = Env::new();
    let script = root_init(&env);
    let bin = env!("CARGO_BIN_EXE_ceremony");
    let out = std::process::Command::new("bash")
        .current_dir(env.dir.path())
        .env("SOFTHSM2_CONF", env.path("softhsm2.conf"))
        .args([
            "-c",
            r#"exec 3<user.pin; exec "$0" run "$1" --pin-fd 3 --answers "$2""#,
            bin,
            &script,
            common::answers(&env, std::path::Path::new(&script))
                .to_str()
                .expect("utf-8"),
        ])
        .output()
        .expect("bash");
    ok(&out);
    let events = env.events("transcript.jsonl");
    let login = events.iter().find(|e| e["type"] == "login").expect("login");
    assert_eq!(login["pin_source"], "fd 3");
    assert_eq!(login["success"], true);
}

#[test]
fn pin_file_readable_by_others_is_refused() {
    let env = Env::new();
    let script = root_init(&env);
    let loose = env.write("loose.pin", &format!("{}\n", env.pin));
    let out = env.run(&["run", &script, "--pin-file", loose.to_str().expect("utf-8")]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("readable or writable by other users (mode 0644)"),
        "{stderr}"
    );
    assert!(!env.path("pki").exists());
    let login = env
        .events("transcript.jsonl")
        .into_iter()
        .find(|e| e["type"] == "login")
        .expect("login");
    assert_eq!(login["success"], false);
    assert_eq!(login["attempted"], false, "C_Login must not be called");
}

#[test]
fn without_a_terminal_or_pin_flag_the_prompt_fails_cleanly() {
    let env = Env::new();
    let script = root_init(&env);
    let out = std::process::Command::new("setsid")
        .arg("-w")
        .arg(env!("CARGO_BIN_EXE_ceremony"))
        .args(["run", &script])
        .current_dir(env.dir.path())
        .env("SOFTHSM2_CONF", env.path("softhsm2.conf"))
        .stdin(std::process::Stdio::null())
        .output()
        .expect("setsid");
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("PIN source prompt: cannot prompt on a terminal"),
        "{stderr}"
    );
    assert!(
        stderr.contains("hint: give the PIN with --pin-file"),
        "{stderr}"
    );
    assert!(!env.path("pki").exists());
}

#[test]
fn the_pin_flag_on_the_command_line_does_not_exist() {
    let env = Env::new();
    let script = root_init(&env);
    let out = env.run(&["run", &script, "--pin", "1234"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("unexpected argument '--pin'"));
    assert!(!env.path("transcript.jsonl").exists());
}

#[test]
fn an_oversized_script_is_refused_before_it_is_read() {
    let env = Env::new();
    let big = format!(
        "{}\n# {}\n",
        common::script(&common::root_step("r", "ecdsa-p256", "CN=r", "r.crt", "")),
        "x".repeat(1 << 20)
    );
    let script = env.write("big.toml", &big);
    let out = env.run(&["run", script.to_str().expect("utf-8"), "--dry-run"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("bytes is larger than the 1048576-byte limit for a script"),
        "{}",
        text(&out.stderr)
    );
}
