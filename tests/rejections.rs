//! Requests and bundles a ceremony must refuse: each with its own message,
//! recorded in the transcript, and nothing signed or written.

mod common;

use std::io::Read;

use common::{ok, text, Env};
use sha2::{Digest, Sha256};

struct Setup {
    env: Env,
    recipient: String,
}

fn setup() -> Setup {
    let env = Env::new();
    common::root_init(&env);
    let recipient = common::age_identity(&env, "requester.agekey");
    std::fs::create_dir_all(env.path("requests")).expect("mkdir");
    Setup { env, recipient }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

impl Setup {
    /// Seals `[[request]]` TOML (CSR paths relative to the test dir).
    fn seal(&self, requests: &str) -> String {
        self.env.write("manifest.toml", requests);
        common::seal(&self.env, "manifest.toml", "requests/b.tar")
    }

    /// Runs a sign step over requests/b.tar pinned to `sha`; returns (exit, stderr).
    fn sign(&self, sha: &str, extra: &str) -> (Option<i32>, String, String) {
        let script = common::sign_script("requests/b.tar", sha, "out", &self.recipient, extra);
        let path = self.env.write("sign.toml", &script);
        let out = self.env.run(&[
            "run",
            path.to_str().expect("utf-8"),
            "--pin-file",
            "user.pin",
        ]);
        (out.status.code(), text(&out.stdout), text(&out.stderr))
    }

    /// Asserts a refused signing step: exit 2, the message, no output, recorded.
    fn assert_refused(&self, sha: &str, extra: &str, needle: &str) {
        let (code, stdout, stderr) = self.sign(sha, extra);
        assert_eq!(code, Some(2), "stdout:\n{stdout}\nstderr:\n{stderr}");
        assert!(stderr.contains(needle), "expected {needle:?} in:\n{stderr}");
        assert!(
            !self.env.path("bundles/out.tar.age").exists(),
            "output bundle written"
        );
        assert!(
            !self.env.path("bundles/out.tar.age.sha256").exists(),
            "checksum written"
        );
        let events = self.env.events("transcript.jsonl");
        let last_run: Vec<_> = events
            .iter()
            .rev()
            .take_while(|e| e["type"] != "ceremony_start")
            .collect();
        assert!(
            last_run.iter().any(|e| {
                (e["type"] == "request_rejected"
                    && e["rule"].as_str().is_some_and(|r| r.contains(needle)))
                    || (e["type"] == "refused"
                        && e.to_string().contains(&needle.replace('"', "\\\"")))
            }),
            "{needle:?} not recorded in {last_run:?}"
        );
        assert!(
            !last_run.iter().any(|e| e["type"] == "certificate_issued"),
            "something was signed"
        );
        let end = last_run
            .iter()
            .find(|e| e["type"] == "ceremony_end")
            .expect("the ceremony's end is recorded");
        assert_eq!(end["outcome"], "refused");
        ok(&self.env.run(&["transcript", "verify", "transcript.jsonl"]));
    }
}

fn request(id: &str, profile: &str, csr: &str, extra: &str) -> String {
    format!("[[request]]\nid = \"{id}\"\nprofile = \"{profile}\"\ncsr = \"{csr}\"\n{extra}\n")
}

#[test]
fn rsa_1024_and_p192_keys_are_refused() {
    let s = setup();
    common::openssl_csr(&s.env, "weak", "rsa:1024", "/CN=system:kube-scheduler", &[]);
    let sha = s.seal(&request("weak", "scheduler", "extra/weak.csr", ""));
    s.assert_refused(&sha, "", "key RSA-1024 is not allowed by profile scheduler");

    let s = setup();
    common::openssl_csr(&s.env, "p192", "ec:P-192", "/CN=system:kube-scheduler", &[]);
    // Sealing refuses a key of a kind no profile accepts.
    s.env.write(
        "manifest.toml",
        &request("p192", "scheduler", "extra/p192.csr", ""),
    );
    let out = s.env.run(&[
        "request",
        "seal",
        "manifest.toml",
        "--out",
        "requests/b.tar",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("key EC P-192 is not accepted"),
        "{}",
        text(&out.stderr)
    );
    assert!(!s.env.path("requests/b.tar").exists());
}

#[test]
fn system_masters_outside_super_admin_is_refused() {
    let s = setup();
    common::openssl_csr(
        &s.env,
        "k",
        "ec:P-256",
        "/O=system:masters/CN=system:node:w1",
        &[],
    );
    let sha = s.seal(&request(
        "k",
        "kubelet-client",
        "extra/k.csr",
        "node = \"w1\"",
    ));
    s.assert_refused(
        &sha,
        "",
        "CSR subject O=system:masters is not allowed by profile kubelet-client",
    );
    let (_, _, stderr) = s.sign(&sha, "");
    assert!(
        stderr.contains("request k:"),
        "the request id is named: {stderr}"
    );
}

#[test]
fn super_admin_needs_break_glass() {
    let s = setup();
    common::openssl_csr(
        &s.env,
        "sa",
        "ec:P-256",
        "/O=system:masters/CN=kubernetes-super-admin",
        &[],
    );
    let sha = s.seal(&request("sa", "super-admin", "extra/sa.csr", ""));
    s.assert_refused(&sha, "", "profile super-admin (O=system:masters) is refused unless the script sets allow_break_glass = true");
    let (code, _, stderr) = s.sign(&sha, "allow_break_glass = true");
    assert_eq!(code, Some(0), "{stderr}");
    assert!(s.env.path("bundles/out.tar.age").exists());
}

#[test]
fn a_cn_outside_its_profile_is_refused() {
    let s = setup();
    common::openssl_csr(
        &s.env,
        "sch",
        "ec:P-256",
        "/CN=system:kube-controller-manager",
        &[],
    );
    let sha = s.seal(&request("sch", "scheduler", "extra/sch.csr", ""));
    s.assert_refused(&sha, "", "CSR subject CN=system:kube-controller-manager is not allowed by profile scheduler: it must be CN=system:kube-scheduler");
}

#[test]
fn a_san_outside_its_profile_is_refused() {
    let s = setup();
    common::openssl_csr(
        &s.env,
        "adm",
        "ec:P-256",
        "/O=kubeadm:cluster-admins/CN=kubernetes-admin",
        &[],
    );
    let sha = s.seal(&request(
        "adm",
        "admin",
        "extra/adm.csr",
        "dns = [\"evil.example.com\"]",
    ));
    s.assert_refused(
        &sha,
        "",
        "SAN DNS:evil.example.com is not allowed: profile admin allows no SANs",
    );

    let s = setup();
    common::openssl_csr(
        &s.env,
        "ks",
        "ec:P-256",
        "/O=system:nodes/CN=system:node:w1",
        &[],
    );
    let sha = s.seal(&request(
        "ks",
        "kubelet-serving",
        "extra/ks.csr",
        "node = \"w1\"\nemails = [\"ops@example.com\"]",
    ));
    s.assert_refused(
        &sha,
        "",
        "SAN email:ops@example.com is not allowed: profile kubelet-serving allows no email SANs",
    );
}

#[test]
fn a_csr_asking_for_ca_through_a_component_profile_is_refused() {
    let s = setup();
    common::openssl_csr(
        &s.env,
        "cm",
        "ec:P-256",
        "/CN=system:kube-controller-manager",
        &["-addext", "basicConstraints=critical,CA:TRUE"],
    );
    let sha = s.seal(&request("cm", "controller-manager", "extra/cm.csr", ""));
    s.assert_refused(
        &sha,
        "",
        "CSR asks for CA:TRUE; profile controller-manager issues leaf certificates only",
    );
}

#[test]
fn a_bundle_whose_digest_differs_from_the_script_is_refused_before_reading() {
    let s = setup();
    common::openssl_csr(&s.env, "sch", "ec:P-256", "/CN=system:kube-scheduler", &[]);
    let sha = s.seal(&request("sch", "scheduler", "extra/sch.csr", ""));
    let wrong = format!(
        "{}{}",
        &sha[..63],
        if sha.ends_with('0') { "1" } else { "0" }
    );
    s.assert_refused(&wrong, "", "SHA-256");
    let (_, _, stderr) = s.sign(&wrong, "");
    assert!(
        stderr.contains(&sha) && stderr.contains(&wrong),
        "both digests named: {stderr}"
    );
}

/// Rewrites a sealed bundle member by member (regular files, UTF-8 names).
fn rewrite(s: &Setup, edit: impl FnOnce(&mut Vec<(String, Vec<u8>)>)) -> String {
    rewrite_raw(s, |raw| {
        let mut members: Vec<(String, Vec<u8>)> = raw
            .drain(..)
            .map(|(name, data, _)| (String::from_utf8(name).expect("utf-8 name"), data))
            .collect();
        edit(&mut members);
        raw.extend(
            members
                .into_iter()
                .map(|(name, data)| (name.into_bytes(), data, tar::EntryType::Regular)),
        );
    })
}

fn two_requests(s: &Setup) -> String {
    common::openssl_csr(&s.env, "sch", "ec:P-256", "/CN=system:kube-scheduler", &[]);
    common::openssl_csr(
        &s.env,
        "cm",
        "ec:P-256",
        "/CN=system:kube-controller-manager",
        &[],
    );
    s.seal(
        &[
            request("sch", "scheduler", "extra/sch.csr", ""),
            request("cm", "controller-manager", "extra/cm.csr", ""),
        ]
        .concat(),
    )
}

#[test]
fn a_bundle_with_an_extra_member_is_refused() {
    let s = setup();
    two_requests(&s);
    let sha = rewrite(&s, |m| {
        m.push(("csr/smuggled.csr".into(), b"extra".to_vec()))
    });
    s.assert_refused(&sha, "", "csr/smuggled.csr");
}

#[test]
fn a_bundle_with_a_missing_member_is_refused() {
    let s = setup();
    two_requests(&s);
    let sha = rewrite(&s, |m| m.retain(|(n, _)| n != "csr/cm.csr"));
    s.assert_refused(&sha, "", "csr/cm.csr");
}

#[test]
fn a_member_named_dot_dot_is_refused() {
    let s = setup();
    two_requests(&s);
    let sha = rewrite(&s, |m| m.push(("../x".into(), b"escape".to_vec())));
    s.assert_refused(&sha, "", "../x");
}

#[test]
fn a_csr_whose_signature_does_not_verify_is_refused_by_seal_and_by_the_ceremony() {
    let s = setup();
    let csr = common::openssl_csr(
        &s.env,
        "sch",
        "ec:P-256",
        "/CN=system:kube-scheduler",
        &["-outform", "DER"],
    );
    let mut der = std::fs::read(&csr).expect("csr");
    let last = der.len() - 1;
    der[last] ^= 0x01; // inside the signature's s value
    std::fs::write(s.env.path("extra/bad.csr"), &der).expect("write");
    s.env.write(
        "manifest.toml",
        &request("bad", "scheduler", "extra/bad.csr", ""),
    );
    let out = s.env.run(&[
        "request",
        "seal",
        "manifest.toml",
        "--out",
        "requests/b.tar",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("the CSR's signature does not verify"),
        "{}",
        text(&out.stderr)
    );
    assert!(!s.env.path("requests/b.tar").exists());

    // A bundle built around seal (as an attacker could) is refused at the ceremony.
    let sha = smuggle(&s, &der);
    s.assert_refused(&sha, "", "the CSR's signature does not verify");
}

/// Seals a good scheduler request with id "bad", then swaps its CSR member
/// for `der` (fixing the manifest's digest), as a hostile requester could.
fn smuggle(s: &Setup, der: &[u8]) -> String {
    let good = common::openssl_csr(&s.env, "ok", "ec:P-256", "/CN=system:kube-scheduler", &[]);
    s.seal(&request(
        "bad",
        "scheduler",
        good.to_str().expect("utf-8"),
        "",
    ));
    rewrite(s, |m| {
        let manifest = m
            .iter_mut()
            .find(|(n, _)| n == "manifest.json")
            .expect("manifest");
        let mut json: serde_json::Value = serde_json::from_slice(&manifest.1).expect("json");
        json["requests"][0]["csr_sha256"] = hex(&Sha256::digest(der)).into();
        manifest.1 = serde_json::to_vec_pretty(&json).expect("json");
        let member = m.iter_mut().find(|(n, _)| n == "csr/bad.csr").expect("csr");
        member.1 = der.to_vec();
    })
}

#[test]
fn a_p192_key_smuggled_into_a_bundle_is_refused_by_the_ceremony() {
    let s = setup();
    let csr = common::openssl_csr(
        &s.env,
        "p192",
        "ec:P-192",
        "/CN=system:kube-scheduler",
        &["-outform", "DER"],
    );
    let der = std::fs::read(csr).expect("csr");
    let sha = smuggle(&s, &der);
    s.assert_refused(&sha, "", "key EC P-192 is not accepted");
}

#[test]
fn skip_signs_the_good_requests_and_reports_the_rejected() {
    let s = setup();
    common::openssl_csr(&s.env, "sch", "ec:P-256", "/CN=system:kube-scheduler", &[]);
    common::openssl_csr(&s.env, "bad", "ec:P-256", "/CN=someone-else", &[]);
    let sha = s.seal(
        &[
            request("sch", "scheduler", "extra/sch.csr", ""),
            request("bad", "scheduler", "extra/bad.csr", ""),
        ]
        .concat(),
    );
    let (code, stdout, stderr) = s.sign(&sha, "on_rejection = \"skip\"");
    assert_eq!(code, Some(0), "{stdout}{stderr}");
    assert!(
        stdout.contains("rejected request bad: CSR subject CN=someone-else"),
        "{stdout}"
    );
    let events = s.env.events("transcript.jsonl");
    assert!(events
        .iter()
        .any(|e| e["type"] == "request_rejected" && e["request"] == "bad"));
    assert!(events
        .iter()
        .any(|e| e["type"] == "certificate_issued" && e["request"] == "sch"));
    ok(&s.env.run(&[
        "bundle",
        "open",
        "bundles/out.tar.age",
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
        "opened",
    ]));
    let manifest: serde_json::Value = serde_json::from_slice(
        &std::fs::read(s.env.path("opened/manifest.json")).expect("manifest"),
    )
    .expect("json");
    assert_eq!(manifest["issued"][0]["id"], "sch");
    assert_eq!(manifest["rejected"][0]["id"], "bad");
    assert!(s.env.path("opened/certs/sch.crt").exists());
    assert!(!s.env.path("opened/certs/bad.crt").exists());
}

#[test]
fn seal_refuses_private_keys_and_duplicate_ids() {
    let s = setup();
    common::openssl_csr(&s.env, "sch", "ec:P-256", "/CN=system:kube-scheduler", &[]);
    s.env.write(
        "manifest.toml",
        &request("sch", "scheduler", "extra/sch.key", ""),
    );
    let out = s.env.run(&[
        "request",
        "seal",
        "manifest.toml",
        "--out",
        "requests/b.tar",
    ]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("request sch: CSR extra/sch.key: holds a private key"),
        "{stderr}"
    );
    assert!(
        stderr.contains("hint: seal only the .csr files"),
        "{stderr}"
    );
    assert!(!s.env.path("requests/b.tar").exists());

    s.env.write(
        "manifest.toml",
        &[
            request("sch", "scheduler", "extra/sch.csr", ""),
            request("sch", "scheduler", "extra/sch.csr", ""),
        ]
        .concat(),
    );
    let out = s.env.run(&[
        "request",
        "seal",
        "manifest.toml",
        "--out",
        "requests/b.tar",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("sch"), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("duplicate"),
        "{}",
        text(&out.stderr)
    );
    // The first request was already written when the second was refused:
    // no bundle and no temporary file is left.
    let left: Vec<_> = std::fs::read_dir(s.env.path("requests"))
        .expect("ls")
        .map(|e| e.expect("entry").file_name())
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

#[test]
fn an_issuer_certificate_that_does_not_match_its_token_key_is_refused() {
    let s = setup();
    common::openssl_csr(&s.env, "sch", "ec:P-256", "/CN=system:kube-scheduler", &[]);
    let sha = s.seal(&request("sch", "scheduler", "extra/sch.csr", ""));
    let script = common::sign_script("requests/b.tar", &sha, "out", &s.recipient, "").replace(
        "certificate = \"pki/ca.crt\"",
        "certificate = \"pki/etcd/ca.crt\"",
    );
    let path = s.env.write("sign.toml", &script);
    let out = s.env.run(&[
        "run",
        path.to_str().expect("utf-8"),
        "--pin-file",
        "user.pin",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("issuer cluster: certificate pki/etcd/ca.crt does not belong to key \"cluster-root-ca\""),
        "{}",
        text(&out.stderr)
    );
    assert!(!s.env.path("bundles/out.tar.age").exists());
}

#[test]
fn a_step_naming_a_key_that_is_not_in_the_token_is_refused() {
    let s = setup();
    common::openssl_csr(&s.env, "sch", "ec:P-256", "/CN=system:kube-scheduler", &[]);
    let sha = s.seal(&request("sch", "scheduler", "extra/sch.csr", ""));
    let script = common::sign_script("requests/b.tar", &sha, "out", &s.recipient, "").replace(
        "key_label = \"cluster-root-ca\"",
        "key_label = \"no-such-root\"",
    );
    let path = s.env.write("sign.toml", &script);
    let out = s.env.run(&[
        "run",
        path.to_str().expect("utf-8"),
        "--pin-file",
        "user.pin",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr)
            .contains("issuer cluster: no key labelled \"no-such-root\" in token \"ceremony\""),
        "{}",
        text(&out.stderr)
    );
    assert!(!s.env.path("bundles/out.tar.age").exists());
    let events = s.env.events("transcript.jsonl");
    assert!(events
        .iter()
        .any(|e| e["type"] == "refused" && e.to_string().contains("no-such-root")));
}

/// Rewrites a sealed bundle with raw member names and entry types.
fn rewrite_raw(
    s: &Setup,
    edit: impl FnOnce(&mut Vec<(Vec<u8>, Vec<u8>, tar::EntryType)>),
) -> String {
    let bytes = std::fs::read(s.env.path("requests/b.tar")).expect("bundle");
    let mut archive = tar::Archive::new(bytes.as_slice());
    let mut members = Vec::new();
    for entry in archive.entries().expect("entries") {
        let mut entry = entry.expect("entry");
        let name = entry.path_bytes().to_vec();
        let mut data = Vec::new();
        entry.read_to_end(&mut data).expect("read");
        members.push((name, data, tar::EntryType::Regular));
    }
    edit(&mut members);
    let mut out = tar::Builder::new(Vec::new());
    for (name, data, kind) in &members {
        let mut header = tar::Header::new_old();
        header.as_old_mut().name[..name.len()].copy_from_slice(name);
        header.set_size(data.len() as u64);
        header.set_mode(0o644);
        header.set_entry_type(*kind);
        if matches!(kind, tar::EntryType::Symlink | tar::EntryType::Link) {
            header.as_old_mut().linkname[..7].copy_from_slice(b"/etc/pw");
        }
        header.set_cksum();
        out.append(&header, data.as_slice()).expect("append");
    }
    let tar = out.into_inner().expect("finish");
    std::fs::write(s.env.path("requests/b.tar"), &tar).expect("write");
    hex(&Sha256::digest(&tar))
}

#[test]
fn hostile_tar_members_are_refused_recorded_and_nothing_is_signed() {
    use tar::EntryType;
    type Edit = fn(&mut Vec<(Vec<u8>, Vec<u8>, EntryType)>);
    let cases: [(&str, Edit); 6] = [
        ("a symbolic link is not allowed", |m| {
            m.push((b"csr/link.csr".to_vec(), Vec::new(), EntryType::Symlink))
        }),
        ("a hard link is not allowed", |m| {
            m.push((b"csr/hard.csr".to_vec(), Vec::new(), EntryType::Link))
        }),
        ("a character device is not allowed", |m| {
            m.push((b"csr/dev".to_vec(), Vec::new(), EntryType::Char))
        }),
        ("duplicate member", |m| {
            let dup = m[1].clone();
            m.push(dup)
        }),
        ("when case is ignored", |m| {
            let mut twin = m[1].clone();
            twin.0 = twin.0.to_ascii_uppercase();
            m.push(twin)
        }),
        ("absolute path is not allowed", |m| {
            m.push((b"/etc/cron.d/x".to_vec(), b"x".to_vec(), EntryType::Regular))
        }),
    ];
    for (needle, edit) in cases {
        let s = setup();
        two_requests(&s);
        let sha = rewrite_raw(&s, edit);
        s.assert_refused(&sha, "", needle);
    }
    // A name that is not UTF-8.
    let s = setup();
    two_requests(&s);
    let sha = rewrite_raw(&s, |m| {
        m.push((
            b"csr/\xff\xfe.csr".to_vec(),
            b"x".to_vec(),
            EntryType::Regular,
        ))
    });
    let (code, _, stderr) = s.sign(&sha, "");
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("UTF-8"), "{stderr}");
    assert!(!s.env.path("bundles/out.tar.age").exists());
}

#[test]
fn an_output_bundle_with_an_extra_age_stanza_cut_short_or_for_another_identity_is_refused_and_nothing_is_written(
) {
    let s = setup();
    common::openssl_csr(&s.env, "sch", "ec:P-256", "/CN=system:kube-scheduler", &[]);
    let sha = s.seal(&request("sch", "scheduler", "extra/sch.csr", ""));
    let (code, _, stderr) = s.sign(&sha, "");
    assert_eq!(code, Some(0), "{stderr}");
    let good = std::fs::read(s.env.path("bundles/out.tar.age")).expect("bundle");
    // Without the .sha256 beside it, the age layer itself must refuse.
    std::fs::remove_file(s.env.path("bundles/out.tar.age.sha256")).expect("rm");
    let header_end = good
        .windows(4)
        .position(|w| w == b"\n---")
        .expect("age header")
        + 1;
    let mut extra = good[..header_end].to_vec();
    extra.extend_from_slice(b"-> X25519 bm90IGEgcmVhbCBzaGFyZSBrZXkgYXQgYWxsIQ\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\n");
    extra.extend_from_slice(&good[header_end..]);
    let cut = good[..good.len() - 40].to_vec();
    for (name, bytes) in [("extra-stanza", extra), ("cut", cut)] {
        std::fs::write(s.env.path("bundles/out.tar.age"), &bytes).expect("write");
        let out = s.env.run(&[
            "bundle",
            "open",
            "bundles/out.tar.age",
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
            name,
        ]);
        assert_eq!(out.status.code(), Some(2), "{name}");
        assert!(
            text(&out.stderr).contains("bundles/out.tar.age"),
            "{name}: {}",
            text(&out.stderr)
        );
        assert!(!s.env.path(name).exists(), "{name}: something was written");
    }
    // The intact bundle, opened with an identity it was not encrypted to.
    std::fs::write(s.env.path("bundles/out.tar.age"), &good).expect("write");
    common::age_identity(&s.env, "stranger.agekey");
    let out = s.env.run(&[
        "bundle",
        "open",
        "bundles/out.tar.age",
        "--identity",
        "stranger.agekey",
        "--ca",
        "pki/ca.crt",
        "--ca",
        "pki/etcd/ca.crt",
        "--ca",
        "pki/front-proxy-ca.crt",
        "--audit-key",
        "pki/audit-key.pub",
        "--out",
        "stranger",
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr)
            .contains("bundles/out.tar.age: no identity in stranger.agekey can decrypt it"),
        "{}",
        text(&out.stderr)
    );
    assert!(!s.env.path("stranger").exists(), "something was written");
}

/// A tar of `(name, declared size, body)` members: the header states the
/// declared size, whatever the body holds (so an oversized member costs
/// only its header), then the end-of-archive marker.
fn raw_bundle(members: &[(&str, u64, &[u8])]) -> Vec<u8> {
    let mut tar = Vec::new();
    for (name, size, body) in members {
        let mut header = tar::Header::new_old();
        header.as_old_mut().name[..name.len()].copy_from_slice(name.as_bytes());
        header.set_size(*size);
        header.set_mode(0o644);
        header.set_entry_type(tar::EntryType::Regular);
        header.set_cksum();
        tar.extend_from_slice(header.as_bytes());
        tar.extend_from_slice(body);
        tar.resize(tar.len().div_ceil(512) * 512, 0);
    }
    tar.resize(tar.len() + 1024, 0);
    tar
}

#[test]
fn oversized_members_and_too_many_members_are_refused_before_reading_them() {
    let s = setup();
    let bundle = s.env.path("requests/b.tar");
    // A manifest whose header claims one byte over 128 MiB: refused on the
    // header, before a body that is not even there.
    let manifest_limit = 128u64 << 20;
    let tar = raw_bundle(&[("manifest.json", manifest_limit + 1, b"")]);
    std::fs::write(&bundle, &tar).expect("write");
    s.assert_refused(
        &hex(&Sha256::digest(&tar)),
        "",
        &format!(
            "member \"manifest.json\": size {} bytes is over the limit of {manifest_limit} bytes",
            manifest_limit + 1
        ),
    );
    // A CSR member one byte over 64 KiB, body and all.
    let big = vec![b'x'; 65_537];
    let tar = raw_bundle(&[
        ("manifest.json", 2, b"{}"),
        ("csr/big.csr", big.len() as u64, &big),
    ]);
    std::fs::write(&bundle, &tar).expect("write");
    s.assert_refused(
        &hex(&Sha256::digest(&tar)),
        "",
        "member \"csr/big.csr\": size 65537 bytes is over the limit of 65536 bytes",
    );
    // 250,001 members (128 MB of headers): refused at the one over the limit.
    let names: Vec<String> = (0..=250_000).map(|i| format!("csr/{i}.csr")).collect();
    let members: Vec<(&str, u64, &[u8])> =
        names.iter().map(|n| (n.as_str(), 0, &b""[..])).collect();
    let tar = raw_bundle(&members);
    std::fs::write(&bundle, &tar).expect("write");
    s.assert_refused(&hex(&Sha256::digest(&tar)), "", "more than 250000 members");
}
