//! SSH keys and OpenSSH signatures made with `ssh-keygen`, for the tests
//! of approvals and cosignatures.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use super::{text, Env};

/// Makes an SSH key pair `NAME` (and `NAME.pub`) of `kind`; returns the
/// public key line without its comment.
pub fn keygen(env: &Env, name: &str, kind: &[&str]) -> String {
    let out = Command::new("ssh-keygen")
        .args(["-q", "-N", "", "-C", name, "-f"])
        .arg(env.path(name))
        .args(kind)
        .output()
        .expect("ssh-keygen runs (is openssh-client installed?)");
    assert!(out.status.success(), "ssh-keygen: {}", text(&out.stderr));
    let public = std::fs::read_to_string(env.path(&format!("{name}.pub"))).expect("pub");
    public
        .split_whitespace()
        .take(2)
        .collect::<Vec<_>>()
        .join(" ")
}

/// Signs `file` with key `key` in `namespace`; returns the signature file
/// (`FILE.KEY.sig`).
pub fn sign(env: &Env, key: &str, namespace: &str, file: &Path) -> PathBuf {
    let out = Command::new("ssh-keygen")
        .args(["-Y", "sign", "-n", namespace, "-f"])
        .arg(env.path(key))
        .arg(file)
        .output()
        .expect("ssh-keygen -Y sign");
    assert!(
        out.status.success(),
        "ssh-keygen -Y sign: {}",
        text(&out.stderr)
    );
    let made = PathBuf::from(format!("{}.sig", file.display()));
    let named = PathBuf::from(format!("{}.{key}.sig", file.display()));
    std::fs::rename(&made, &named).expect("rename signature");
    named
}

/// `ssh-keygen -Y verify` of `signature` over `message` by `principal`.
pub fn ssh_verify(
    signers: &Path,
    principal: &str,
    namespace: &str,
    signature: &Path,
    message: &Path,
) -> Output {
    Command::new("ssh-keygen")
        .args(["-Y", "verify", "-f"])
        .arg(signers)
        .args(["-I", principal, "-n", namespace, "-s"])
        .arg(signature)
        .stdin(Stdio::from(std::fs::File::open(message).expect("message")))
        .output()
        .expect("ssh-keygen -Y verify")
}
