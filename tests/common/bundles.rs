//! Output bundles as an attacker handles them: unpacked with the stock age
//! CLI and tar, edited, and packed again with a fresh SHA256SUMS; and the
//! state of a tree, to show a refused open wrote nothing.

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use super::{ok, text, Env};
use sha2::{Digest, Sha256};

/// The pins every open passes: the three roots of `root_init`.
pub const PINS: [&str; 6] = [
    "--ca",
    "pki/ca.crt",
    "--ca",
    "pki/etcd/ca.crt",
    "--ca",
    "pki/front-proxy-ca.crt",
];

pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Every file under `dir` (links too, not followed): its SHA-256 and mode.
pub fn state(dir: &Path) -> BTreeMap<String, (String, u32)> {
    fn walk(base: &Path, dir: &Path, out: &mut BTreeMap<String, (String, u32)>) {
        for e in std::fs::read_dir(dir).expect("read_dir") {
            let p = e.expect("entry").path();
            let meta = std::fs::symlink_metadata(&p).expect("stat");
            let rel = p.strip_prefix(base).expect("prefix").display().to_string();
            if meta.is_dir() {
                walk(base, &p, out);
            } else {
                let digest = if meta.is_file() {
                    sha256_hex(&std::fs::read(&p).expect("read"))
                } else {
                    format!(
                        "link -> {}",
                        std::fs::read_link(&p).expect("link").display()
                    )
                };
                out.insert(rel, (digest, meta.permissions().mode() & 0o7777));
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, dir, &mut out);
    out
}

/// A kubeadm tree in `kubeadm/`, its CSRs signed by the shipped ceremony
/// into `bundles/kubeadm.tar.age`; returns the requester's recipient.
pub fn kubeadm_world(env: &Env) -> String {
    super::root_init(env);
    let out = Command::new(super::repo().join("softhsm/make-kubeadm.sh"))
        .env("KEY_TYPE", "ec")
        .arg(env.path("kubeadm"))
        .output()
        .expect("make-kubeadm.sh");
    assert!(out.status.success(), "make-kubeadm: {}", text(&out.stderr));
    let recipient = super::age_identity(env, "requester.agekey");
    std::fs::create_dir_all(env.path("requests")).expect("mkdir");
    let out = ok(&env.run(&[
        "request",
        "seal",
        "--kubeadm",
        "kubeadm",
        "--out",
        "requests/kubeadm.tar",
    ]));
    let sha = out
        .lines()
        .find_map(|l| l.strip_prefix("sha256 "))
        .expect("sha");
    let script = std::fs::read_to_string(super::repo().join("ceremonies/sign-kubeadm.toml"))
        .expect("shipped script")
        .replace("REQUEST-BUNDLE-SHA256", sha)
        .replace("REQUESTER-AGE-RECIPIENT", &recipient)
        .replace("/usr/lib/softhsm/libsofthsm2.so", &super::module());
    let script = env.write("sign-kubeadm.toml", &script);
    ok(&env.run(&[
        "run",
        script.to_str().expect("utf-8"),
        "--pin-file",
        "user.pin",
    ]));
    recipient
}

/// Decrypts `bundle` with the stock age CLI and unpacks it into `into`.
pub fn unpack(env: &Env, bundle: &str, into: &str) -> PathBuf {
    let dir = env.path(into);
    std::fs::create_dir_all(&dir).expect("mkdir");
    let out = Command::new("bash")
        .current_dir(env.dir.path())
        .args([
            "-c",
            &format!("set -o pipefail; age -d -i requester.agekey {bundle} | tar -x -C {into}"),
        ])
        .output()
        .expect("age");
    assert!(out.status.success(), "unpack: {}", text(&out.stderr));
    dir
}

/// Relative paths of every file under `dir`, sorted.
pub fn files_under(dir: &Path) -> Vec<String> {
    state(dir).into_keys().collect()
}

/// What an attacker does with the stock tools: a fresh SHA256SUMS over
/// every file of `dir` (manifest.json last), a tar, `age -r RECIPIENT`, and
/// a matching `.sha256` file: `bundles/NAME.tar.age`. A `SHA256SUMS.sig`
/// left in `dir` is kept, unlisted.
pub fn repack(env: &Env, dir: &Path, name: &str, recipient: &str) -> String {
    repack_with(env, dir, name, recipient, true)
}

/// [`repack`], keeping the `SHA256SUMS` in `dir` unless `remake_sums`.
pub fn repack_with(
    env: &Env,
    dir: &Path,
    name: &str,
    recipient: &str,
    remake_sums: bool,
) -> String {
    let mut names: Vec<String> = files_under(dir)
        .into_iter()
        .filter(|n| n != "SHA256SUMS" && n != "SHA256SUMS.sig" && n != "manifest.json")
        .collect();
    names.push("manifest.json".into());
    if remake_sums {
        let mut sums = String::new();
        for n in &names {
            let bytes = std::fs::read(dir.join(n)).expect("read");
            sums.push_str(&format!("{}  {n}\n", sha256_hex(&bytes)));
        }
        std::fs::write(dir.join("SHA256SUMS"), &sums).expect("sums");
    }
    names.push("SHA256SUMS".into());
    if dir.join("SHA256SUMS.sig").exists() {
        names.push("SHA256SUMS.sig".into());
    }
    let mut builder = tar::Builder::new(Vec::new());
    for n in &names {
        let bytes = std::fs::read(dir.join(n)).expect("read");
        let mut header = tar::Header::new_ustar();
        header.set_size(bytes.len() as u64);
        header.set_mode(0o644);
        header.set_mtime(0);
        header.set_entry_type(tar::EntryType::Regular);
        builder
            .append_data(&mut header, n, bytes.as_slice())
            .expect("tar");
    }
    let tar = builder.into_inner().expect("tar");
    let plain = env.path(&format!("{name}.tar"));
    std::fs::write(&plain, tar).expect("write tar");
    let bundle = format!("bundles/{name}.tar.age");
    let out = Command::new("age")
        .current_dir(env.dir.path())
        .args(["-r", recipient, "-o", &bundle])
        .arg(&plain)
        .output()
        .expect("age");
    assert!(out.status.success(), "age: {}", text(&out.stderr));
    std::fs::remove_file(&plain).expect("rm");
    let digest = sha256_hex(&std::fs::read(env.path(&bundle)).expect("bundle"));
    std::fs::write(
        env.path(&format!("{bundle}.sha256")),
        format!("{digest}  {name}.tar.age\n"),
    )
    .expect("sha256 file");
    bundle
}

pub fn manifest(dir: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(dir.join("manifest.json")).expect("manifest"))
        .expect("json")
}

pub fn write_manifest(dir: &Path, m: &serde_json::Value) {
    std::fs::write(
        dir.join("manifest.json"),
        serde_json::to_vec_pretty(m).expect("json"),
    )
    .expect("write");
}

/// `bundle open BUNDLE --identity requester.agekey PINS… EXTRA…`.
pub fn open(env: &Env, bundle: &str, extra: &[&str]) -> Output {
    let mut args = vec!["bundle", "open", bundle, "--identity", "requester.agekey"];
    args.extend(PINS);
    args.extend(extra);
    env.run(&args)
}

/// Asserts a refusal: exit 2 and `needle` in the error line.
pub fn refused(out: &Output, needle: &str) {
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains(needle), "expected {needle:?} in:\n{stderr}");
    assert!(text(&out.stdout).is_empty(), "{}", text(&out.stdout));
}

/// The entry of `issued` with this id.
pub fn entry<'a>(m: &'a mut serde_json::Value, id: &str) -> &'a mut serde_json::Value {
    m["issued"]
        .as_array_mut()
        .expect("issued")
        .iter_mut()
        .find(|e| e["id"] == id)
        .unwrap_or_else(|| panic!("no entry {id}"))
}

/// A copy of the unpacked genuine bundle, for one hostile edit.
pub fn copy_of(env: &Env, genuine: &Path, name: &str) -> PathBuf {
    let dir = env.path(name);
    for rel in files_under(genuine) {
        let to = dir.join(&rel);
        std::fs::create_dir_all(to.parent().expect("parent")).expect("mkdir");
        std::fs::copy(genuine.join(&rel), to).expect("copy");
    }
    dir
}
