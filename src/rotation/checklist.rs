//! The words of a rotation plan: the overview (`README.md`), each phase's
//! `CHECKLIST.md` (what to copy where, what to restart in which order, how
//! to check it, what breaks if a step is skipped), and phase 2's signing
//! script, made from the shipped `ceremonies/sign-kubeadm.toml` with the
//! new roots as issuers.

use std::fmt::Write as _;

use super::{Request, Root, PHASES};
use crate::hex;

/// What the texts are made from.
pub(super) struct Context<'a> {
    pub req: &'a Request,
    /// (current, new) per role, in [`super::CA_FILES`] order.
    pub roots: &'a [(&'a Root, &'a Root)],
    /// The kubeconfigs found in the tree.
    pub kubeconfigs: &'a [String],
    /// Those left out of phase 3.
    pub phase3_pending: &'a [String],
}

fn describe(root: &Root) -> String {
    let tbs = root.cert.tbs_certificate();
    format!(
        "`{}`: {}, key identifier {}, until {}",
        root.path.display(),
        tbs.subject(),
        hex::encode(&root.key_id),
        tbs.validity().not_after
    )
}

/// `README.md`: the roots, the phases, the rule of order.
pub(super) fn overview(cx: &Context<'_>) -> String {
    let mut s = String::from("# CA rotation plan\n\nMade by `ceremony rotate plan`. See docs/rotation.md for why each phase is there and what fails if one is skipped.\n\n## Roots\n\n| role | current | new |\n|---|---|---|\n");
    for (current, new) in cx.roots {
        let _ = writeln!(
            s,
            "| {} | {} | {} |",
            current.role,
            describe(current),
            describe(new)
        );
    }
    let _ = writeln!(
        s,
        "\nkubeadm tree: `{}`; kubeconfigs rotated: {}.\n",
        cx.req.kubeadm.display(),
        if cx.kubeconfigs.is_empty() {
            "none found".to_string()
        } else {
            cx.kubeconfigs.join(", ")
        }
    );
    s.push_str("## Phases, in order\n\n");
    let _ = writeln!(s, "1. `{}/`: every component trusts the current and the new roots (CA files and kubeconfigs hold both). Nothing is re-issued yet.", PHASES[0]);
    let _ = writeln!(s, "2. `{}/`: every leaf certificate is re-issued by the new roots, through the usual seal and sign (`sign-new-leaves.toml`), and put in place; trust still holds both roots.", PHASES[1]);
    let _ = writeln!(
        s,
        "3. `{}/`: every component trusts only the new roots; the old roots are retired.",
        PHASES[2]
    );
    s.push_str("\nFinish a phase on every node, and check it, before the next one starts. Restart components one at a time, waiting for each to be healthy. Each phase's `CHECKLIST.md` says what to copy where and in which order to restart.\n");
    s
}

/// One phase's `CHECKLIST.md`.
pub(super) fn phase(cx: &Context<'_>, i: usize) -> String {
    let mut s = format!("# {}\n\n", PHASES[i]);
    let confs = if cx.kubeconfigs.is_empty() {
        "(no kubeconfig was found in the tree)".to_string()
    } else {
        cx.kubeconfigs
            .iter()
            .map(|k| format!("`{k}`"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let restart = "\
- [ ] etcd: restart each member, one at a time (kubeadm: move `/etc/kubernetes/manifests/etcd.yaml` out of the manifests directory and back); before the next, `etcdctl endpoint health --cluster` must report every member healthy.
- [ ] kube-apiserver: restart on each control-plane node, one at a time; wait for `/readyz` to return `ok`.
- [ ] kube-controller-manager, then kube-scheduler, on each control-plane node.
- [ ] kubelet: restart on every node, one node at a time (`systemctl restart kubelet`); the node must return to Ready before the next.
";
    match i {
        0 => {
            s.push_str("Goal: every component trusts both the current and the new roots. Nothing is re-issued.\n\n## Copy\n\n");
            s.push_str("- [ ] Back up `/etc/kubernetes` on every node.\n");
            s.push_str("- [ ] `pki/ca.crt`, `pki/front-proxy-ca.crt` and `pki/etcd/ca.crt` from here to `/etc/kubernetes/pki/` on every control-plane node (the apiserver's `--client-ca-file`, `--requestheader-client-ca-file` and `--etcd-cafile`; etcd's `--trusted-ca-file` and `--peer-trusted-ca-file`; the controller-manager's `--root-ca-file`).\n");
            s.push_str("- [ ] `pki/ca.crt` to every worker (the kubelet's `--client-ca-file`).\n");
            let _ = writeln!(s, "- [ ] The kubeconfigs {confs} from here to `/etc/kubernetes/` on the nodes that hold them: their `certificate-authority-data` holds both roots; their client credentials are unchanged. Mode 0600: they hold client keys.");
            s.push_str("\n## Restart, in this order\n\n");
            s.push_str(restart);
            s.push_str("- [ ] Workloads that talk to the API server (in-cluster config): once the controller-manager has published both roots in every namespace's `kube-root-ca.crt` ConfigMap, roll them (`kubectl rollout restart`), so that they trust the new root before any server certificate from it appears.\n");
            s.push_str("\n## Check\n\n- [ ] `kubectl -n default get configmap kube-root-ca.crt -o jsonpath='{.data.ca\\.crt}'` holds two certificates.\n- [ ] `etcdctl endpoint health --cluster` reports every member healthy; `kubectl get nodes` shows every node Ready.\n");
            s.push_str("\n## If a step is skipped\n\nA component that does not trust the new root yet refuses the new certificates of phase 2: an etcd member that does not trust the new etcd root drops out of the cluster when its peers present new peer certificates; a kubelet without the new cluster root refuses the new apiserver-kubelet-client certificate (logs, exec and port-forward fail); pods that did not pick up the bundle fail TLS to the API server.\n");
        }
        1 => {
            s.push_str("Goal: every leaf certificate is re-issued by the new roots and in place; trust still holds both roots (this directory's `pki/*.crt` are the same as phase 1's).\n\n## Issue\n\n");
            s.push_str("- [ ] On each control-plane node: `kubeadm certs generate-csr --kubeconfig-dir D --cert-dir D/pki` (new keys and CSRs for every certificate and kubeconfig).\n");
            s.push_str("- [ ] `ceremony request seal --kubeadm D --out requests/rotation.tar`; send its SHA-256 and your age recipient to the officers out of band.\n");
            s.push_str("- [ ] Officers: fill in `sign-new-leaves.toml` here (the request bundle's SHA-256, the age recipient, and the new roots' key labels if they are still placeholders), approve it, dry-run it and run it.\n");
            let cas: Vec<String> = cx
                .roots
                .iter()
                .map(|(_, new)| format!("--ca {}", new.path.display()))
                .collect();
            let _ = writeln!(s, "- [ ] `ceremony bundle open bundles/rotation.tar.age --identity KEY {} --kubeadm D`: each certificate beside its key, the kubeconfigs filled.", cas.join(" "));
            s.push_str("- [ ] The controller-manager's signer (`--cluster-signing-cert-file`, `--cluster-signing-key-file`): an intermediate of the new cluster root (`ceremonies/sign-intermediate.toml` with the new issuer), so that kubelet certificates from now on chain to the new root.\n");
            let _ = writeln!(s, "\n## Copy\n\n- [ ] D's certificates and keys to `/etc/kubernetes/pki/` on each node, and its kubeconfigs to `/etc/kubernetes/`; keep the CA files of this phase (both roots): copy `pki/*.crt` from here over D's.");
            s.push_str("\n## Restart, in this order\n\n");
            s.push_str(restart);
            s.push_str("- [ ] kubelet client and serving certificates: renewed through the controller-manager's new signer (approve the CSRs, `kubectl get csr`).\n");
            if !cx.phase3_pending.is_empty() {
                let _ = writeln!(s, "\n## Before phase 3\n\n- [ ] The kubeconfigs {} still hold client certificates from the current root, so phase 3 has none of them. After this phase, run `ceremony rotate plan` again with `--kubeadm D` (the tree now trusting both roots is accepted) and a new `--out`, and take that plan's phase-3 kubeconfigs.", cx.phase3_pending.iter().map(|k| format!("`{k}`")).collect::<Vec<_>>().join(", "));
            }
            s.push_str("\n## Check\n\n- [ ] `openssl x509 -noout -issuer` on each new certificate names the new root; `openssl verify -CAfile pki/ca.crt` (both roots) passes.\n- [ ] The cluster is healthy as in phase 1.\n");
            s.push_str("\n## If a step is skipped\n\nA leaf still from the current root stops working in phase 3: an etcd member with an old peer certificate is refused by its peers, an apiserver with an old etcd client certificate loses etcd, a kubeconfig with an old client certificate is refused (401).\n");
        }
        _ => {
            s.push_str("Goal: every component trusts only the new roots; the current roots are retired.\n\n## Copy\n\n");
            s.push_str("- [ ] `pki/ca.crt`, `pki/front-proxy-ca.crt` and `pki/etcd/ca.crt` from here (the new roots only) to every node, as in phase 1.\n");
            if cx.phase3_pending.is_empty() {
                let _ = writeln!(s, "- [ ] The kubeconfigs {confs} from here: `certificate-authority-data` is the new cluster root; the client certificates are the new ones.");
            } else {
                let _ = writeln!(s, "- [ ] The kubeconfigs {}: from the phase-3 directory of the plan made again after phase 2 (see phase 2); this plan does not have them.", cx.phase3_pending.iter().map(|k| format!("`{k}`")).collect::<Vec<_>>().join(", "));
            }
            s.push_str("\n## Restart, in this order\n\n");
            s.push_str(restart);
            s.push_str("- [ ] Workloads: once `kube-root-ca.crt` holds the new root only, roll them again.\n");
            s.push_str("\n## Check\n\n- [ ] A client certificate from the current (old) root is refused: by the API server (401) and by every etcd member (TLS handshake failure).\n- [ ] The cluster is healthy as in phase 1.\n");
            s.push_str("- [ ] Retire the old roots: keep their keys until every certificate they issued has expired or been revoked (publish a last CRL if needed), then record their end in a ceremony.\n");
            s.push_str("\n## If a step is skipped\n\nA component still trusting the old root keeps accepting certificates from it, so a compromised old root is still a way in; a component that lost the old root before phase 2 finished refuses the leaves not yet re-issued.\n");
        }
    }
    s
}

/// Phase 2's signing script: the shipped `sign-kubeadm.toml` for the tree's
/// CSRs, its issuers the new roots.
pub(super) fn sign_script(cx: &Context<'_>) -> String {
    const SHIPPED: &str = include_str!("../../ceremonies/sign-kubeadm.toml");
    let body = SHIPPED
        .split_once("\n[ceremony]")
        .map(|(_, rest)| format!("[ceremony]{rest}"))
        .unwrap_or_else(|| SHIPPED.to_string());
    let mut out = String::from("# Phase 2 of a CA rotation: the tree's CSRs (kubeadm certs generate-csr),\n# sealed with `ceremony request seal --kubeadm D --out requests/rotation.tar`,\n# signed by the NEW roots. Made by `ceremony rotate plan` from\n# ceremonies/sign-kubeadm.toml; fill in the placeholders before the ceremony.\n\n");
    let mut body = body
        .replace("name = \"sign-kubeadm\"", "name = \"sign-rotation-leaves\"")
        .replace("requests/kubeadm.tar", "requests/rotation.tar")
        .replace("output = \"kubeadm\"", "output = \"rotation\"")
        .replace("id = \"kubeadm\"", "id = \"rotation\"");
    for (current, new) in cx.roots {
        let label = cx
            .req
            .new_key_labels
            .iter()
            .find(|(role, _)| role == new.role)
            .map(|(_, label)| label.clone())
            .unwrap_or_else(|| format!("NEW-{}-ROOT-KEY-LABEL", new.role.to_uppercase()));
        let old_label = match current.role {
            "cluster" => "cluster-root-ca",
            "front-proxy" => "front-proxy-root-ca",
            _ => "etcd-root-ca",
        };
        body = body
            .replace(
                &format!("key_label = \"{old_label}\""),
                &format!("key_label = \"{label}\""),
            )
            .replace(
                &format!("certificate = \"pki/{}\"", new.rel),
                &format!("certificate = \"{}\"", new.path.display()),
            );
    }
    out.push_str(&body);
    out
}
