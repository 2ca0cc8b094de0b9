//! Proof on a live system (issue 16, item 3): the etcd CA of a running
//! three-member etcd cluster on loopback, with client and peer mutual TLS,
//! is rotated to a new root made in the same token, in the phases of the
//! Kubernetes "Manual Rotation of CA Certificates" task, each member
//! restarted in turn, while a client writes and reads without pause. No
//! request fails in any phase, and at the end every member refuses a client
//! certificate from the old root and serves one from the new.
//!
//! The roots and every leaf come from ceremonies: `root-init.toml`, then a
//! second root ceremony (`etcd-root-ca-2027` among the new roots, the same
//! subject `CN=etcd-ca` with a new key), then one `sign-requests` ceremony
//! per root over sealed request bundles, opened with `ceremony bundle open`
//! pinned to that root. The members' CA files in each phase are the ones
//! `ceremony rotate plan` wrote for that phase.

mod common;

use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::thread;
use std::time::{Duration, Instant};

use common::etcd::{self, ClientTls, Cluster, MEMBERS};
use common::{ok, openssl, Env};

/// The new roots' ceremony: new keys in the same token, the subjects of
/// the old roots (as kubeadm names them), laid out like kubeadm's `pki/` in
/// `pki-2027/` (what `ceremony rotate plan --new` reads).
const NEW_ROOT: &str = r#"[[step]]
action = "generate-root"
id = "etcd-root-2027"
key_label = "etcd-root-ca-2027"
algorithm = "ecdsa-p256"
subject = "CN=etcd-ca"
validity_days = 3650
certificate = "etcd/ca.crt"

[[step]]
action = "generate-root"
id = "cluster-root-2027"
key_label = "cluster-root-ca-2027"
algorithm = "ecdsa-p256"
subject = "CN=kubernetes"
validity_days = 3650
certificate = "ca.crt"

[[step]]
action = "generate-root"
id = "front-proxy-root-2027"
key_label = "front-proxy-root-ca-2027"
algorithm = "ecdsa-p256"
subject = "CN=front-proxy-ca"
validity_days = 3650
certificate = "front-proxy-ca.crt"
"#;

/// The audit section every script appending to root-init's transcript has.
const AUDIT: &str =
    "[audit]\nkey_label = \"ceremony-audit\"\norigin = \"demo cluster PKI\"\n\n[output]";

const OLD_ROOT: &str = "pki/etcd/ca.crt";
const NEW_ROOT_CERT: &str = "pki-2027/etcd/ca.crt";

/// Which root a generation of leaves comes from, and where they are.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Generation {
    Old,
    New,
}

impl Generation {
    /// The directory holding `keys/`, `csr/`, `requests.toml` and the
    /// opened bundle `opened/`.
    fn dir(self) -> &'static str {
        match self {
            Generation::Old => "gen-old",
            Generation::New => "gen-new",
        }
    }

    fn key_label(self) -> &'static str {
        match self {
            Generation::Old => "etcd-root-ca",
            Generation::New => "etcd-root-ca-2027",
        }
    }

    fn root(self) -> &'static str {
        match self {
            Generation::Old => OLD_ROOT,
            Generation::New => NEW_ROOT_CERT,
        }
    }

    /// The certificate issued for request `id`, and its private key.
    fn cert_and_key(self, env: &Env, id: &str) -> (PathBuf, PathBuf) {
        let dir = self.dir();
        (
            env.path(&format!("{dir}/opened/certs/{id}.crt")),
            env.path(&format!("{dir}/keys/{id}.key")),
        )
    }
}

/// The rotation's phases, in order.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Phase {
    /// Before the rotation: old leaves, the old root trusted.
    Start,
    /// 1: both roots trusted, old leaves.
    TrustBoth,
    /// 2: both roots trusted, leaves from the new root.
    NewLeaves,
    /// 3: only the new root trusted.
    TrustNew,
}

const PHASES: [Phase; 4] = [
    Phase::Start,
    Phase::TrustBoth,
    Phase::NewLeaves,
    Phase::TrustNew,
];

impl Phase {
    fn number(self) -> usize {
        self as usize
    }

    /// The name `ceremony rotate plan` gives the phase's directory.
    fn name(self) -> &'static str {
        match self {
            Phase::Start => "start",
            Phase::TrustBoth => "trust-both",
            Phase::NewLeaves => "new-leaves",
            Phase::TrustNew => "trust-new",
        }
    }

    /// Whose leaves the members and the client hold in this phase.
    fn leaves(self) -> Generation {
        match self {
            Phase::Start | Phase::TrustBoth => Generation::Old,
            Phase::NewLeaves | Phase::TrustNew => Generation::New,
        }
    }
}

/// The etcd CA file of `phase`, which the members trust for clients and
/// peers and the client trusts for the members: before the rotation the old
/// root's certificate itself; then the phase's `pki/etcd/ca.crt` from the
/// plan `ceremony rotate plan` wrote into `rotation/` ([`make_plan`]).
fn phase_ca_bundle(env: &Env, phase: Phase) -> PathBuf {
    if phase == Phase::Start {
        return env.path(OLD_ROOT);
    }
    let file = env.path(&format!(
        "rotation/phase-{}-{}/pki/etcd/ca.crt",
        phase.number(),
        phase.name()
    ));
    assert!(file.exists(), "the plan has no {}", file.display());
    file
}

/// `ceremony rotate plan` for a tree that trusts the old roots (the etcd
/// members' tree holds only etcd's files, so a kubeadm-shaped tree with the
/// three CA files stands for the control plane), into `rotation/`; checks
/// with openssl that the phases' etcd CA files hold old and new, old and
/// new, and new.
fn make_plan(env: &Env) {
    for rel in ["ca.crt", "front-proxy-ca.crt", "etcd/ca.crt"] {
        let to = env.path("tree/pki").join(rel);
        std::fs::create_dir_all(to.parent().expect("parent")).expect("mkdir");
        std::fs::copy(env.path("pki").join(rel), to).expect("copy");
    }
    ok(&env.run(&[
        "rotate",
        "plan",
        "--current",
        "pki",
        "--new",
        "pki-2027",
        "--kubeadm",
        "tree",
        "--out",
        "rotation",
    ]));
    let old = std::fs::read_to_string(env.path(OLD_ROOT)).expect("old root");
    let new = std::fs::read_to_string(env.path(NEW_ROOT_CERT)).expect("new root");
    for (phase, want) in [
        (Phase::TrustBoth, format!("{old}{new}")),
        (Phase::NewLeaves, format!("{old}{new}")),
        (Phase::TrustNew, new.clone()),
    ] {
        let got = std::fs::read_to_string(phase_ca_bundle(env, phase)).expect("phase file");
        assert_eq!(got, want, "phase {}", phase.name());
    }
}

/// Writes member `name`'s files for `phase` into its `pki` directory.
fn install(env: &Env, pki: &Path, name: &str, phase: Phase) {
    std::fs::create_dir_all(pki).expect("mkdir member pki");
    std::fs::copy(phase_ca_bundle(env, phase), pki.join("ca.crt")).expect("copy ca.crt");
    for kind in ["server", "peer"] {
        let (cert, key) = phase
            .leaves()
            .cert_and_key(env, &format!("{name}-etcd-{kind}"));
        std::fs::copy(cert, pki.join(format!("{kind}.crt"))).expect("copy leaf");
        std::fs::copy(key, pki.join(format!("{kind}.key"))).expect("copy key");
    }
}

/// The client's files in `phase`: the phase's CA bundle, and the client
/// certificate of the phase's generation (it switches to the new root's in
/// phase 2, once every member trusts both roots).
fn client_tls(env: &Env, phase: Phase) -> ClientTls {
    let (cert, key) = phase.leaves().cert_and_key(env, "etcd-client");
    ClientTls {
        ca: phase_ca_bundle(env, phase),
        cert,
        key,
    }
}

/// The etcd requests of generation `gen`, sealed, signed by its root in a
/// `sign-requests` ceremony, and opened with `ceremony bundle open` pinned
/// to that root and the audit key.
fn issue(env: &Env, gen: Generation, recipient: &str) {
    let dir = gen.dir();
    etcd::make_requests(&env.path(dir));
    std::fs::create_dir_all(env.path("requests")).expect("mkdir requests");
    let bundle = format!("requests/etcd-{dir}.tar");
    let sha = common::seal(env, &format!("{dir}/requests.toml"), &bundle);
    let script = common::script(&format!(
        r#"[[step]]
action = "sign-requests"
id = "sign-{dir}"
bundle = "{bundle}"
bundle_sha256 = "{sha}"
output = "etcd-{dir}"
recipients = ["{recipient}"]
on_rejection = "stop"

[step.issuers.etcd]
key_label = "{}"
certificate = "{}"
"#,
        gen.key_label(),
        gen.root()
    ))
    .replace("directory = \"pki\"", "directory = \"bundles\"")
    .replace("[output]", AUDIT);
    let script = env.write(&format!("sign-{dir}.toml"), &script);
    ok(&common::run_ceremony(env, &script));
    let opened = ok(&env.run(&[
        "bundle",
        "open",
        &format!("bundles/etcd-{dir}.tar.age"),
        "--identity",
        "requester.agekey",
        "--ca",
        gen.root(),
        "--audit-key",
        "pki/audit-key.pub",
        "--out",
        &format!("{dir}/opened"),
    ]));
    assert!(
        opened.contains("verified: every checksum in SHA256SUMS"),
        "{opened}"
    );
}

/// openssl verifies every leaf of `gen` against its own root, and none
/// against the other root (same subject, other key).
fn verify_with_openssl(env: &Env, gen: Generation, other: Generation) {
    let mut ids: Vec<String> = MEMBERS
        .iter()
        .flat_map(|m| [format!("{m}-etcd-server"), format!("{m}-etcd-peer")])
        .collect();
    ids.push("etcd-client".into());
    for id in &ids {
        let (cert, _) = gen.cert_and_key(env, id);
        let cert = cert.to_str().expect("utf-8");
        let good = ok(&openssl(
            env.dir.path(),
            &["verify", "-x509_strict", "-CAfile", gen.root(), cert],
        ));
        assert!(good.contains(": OK"), "{good}");
        let bad = openssl(
            env.dir.path(),
            &["verify", "-x509_strict", "-CAfile", other.root(), cert],
        );
        assert!(
            !bad.status.success(),
            "{id} of {gen:?} verified against {}",
            other.root()
        );
    }
}

/// What the client saw, per phase (indexed by [`Phase::number`]). A
/// request counts in the phase in which it began.
#[derive(Default)]
struct Tally {
    /// Requests some member served.
    served: [u64; 4],
    /// Requests no member served.
    failed: [u64; 4],
    /// Requests served, but not by the first member tried (it was stopped,
    /// stopping or starting).
    retried: [u64; 4],
    /// Requests served, per phase and member.
    by_member: [[u64; 3]; 4],
    /// Every failed request, with each endpoint's error.
    failures: Vec<String>,
}

/// One round on one endpoint: put `rotation=VALUE`, then read it back.
/// A member whose port refuses connections is passed over at once, as a
/// client's balancer does (etcdctl would wait out its command timeout).
fn round(tls: &ClientTls, endpoint: &str, value: &str) -> Result<(), String> {
    let addr: SocketAddr = endpoint
        .strip_prefix("https://")
        .and_then(|a| a.parse().ok())
        .expect("an https://IP:PORT endpoint");
    if let Err(e) = TcpStream::connect_timeout(&addr, Duration::from_secs(1)) {
        return Err(format!("connect: {e}"));
    }
    let endpoints = [endpoint.to_string()];
    let put = etcd::etcdctl(tls, &endpoints, etcd::SUCCEEDS, &["put", "rotation", value]);
    if !put.succeeded() || put.stdout.trim() != "OK" {
        return Err(format!("put: {:?} {}", put.status, put.stderr.trim()));
    }
    let get = etcd::etcdctl(
        tls,
        &endpoints,
        etcd::SUCCEEDS,
        &["get", "rotation", "--print-value-only"],
    );
    if !get.succeeded() || get.stdout != format!("{value}\n") {
        return Err(format!(
            "get: {:?} {:?} {}",
            get.status,
            get.stdout,
            get.stderr.trim()
        ));
    }
    Ok(())
}

/// The client: one request after another until `stop`. A request is a put
/// of a fresh value and a get that must return it, on one endpoint; it
/// tries the next endpoint when that fails (starting at a different member
/// each time), and fails only when no member served it.
fn client(
    endpoints: &[String],
    tls: &Mutex<ClientTls>,
    phase: &AtomicUsize,
    tally: &Mutex<Tally>,
    stop: &AtomicBool,
) {
    let mut n = 0usize;
    while !stop.load(Ordering::SeqCst) {
        let p = phase.load(Ordering::SeqCst);
        let tls = tls.lock().expect("client tls").clone();
        n += 1;
        let value = format!("v{n}");
        let mut errors = Vec::new();
        let mut served = None;
        for k in 0..endpoints.len() {
            let e = (n + k) % endpoints.len();
            match round(&tls, &endpoints[e], &value) {
                Ok(()) => {
                    served = Some(e);
                    break;
                }
                Err(why) => errors.push(format!("{}: {why}", MEMBERS[e])),
            }
        }
        let mut t = tally.lock().expect("tally");
        match served {
            Some(e) => {
                t.served[p] += 1;
                t.by_member[p][e] += 1;
                if !errors.is_empty() {
                    t.retried[p] += 1;
                }
            }
            None => {
                t.failed[p] += 1;
                t.failures.push(format!(
                    "request {n} (phase {p}) failed on every member: {}",
                    errors.join("; ")
                ));
            }
        }
    }
}

/// How long [`await_requests`] waits before the test gives up: a bound
/// against hanging, not a measure of speed.
const PROGRESS_LIMIT: Duration = Duration::from_secs(120);

/// Waits until the client has finished `more` requests in `phase` beyond
/// those it had finished when called (served or failed: a failure is
/// reported at the end, with every member's error).
fn await_requests(tally: &Mutex<Tally>, phase: Phase, more: u64) {
    let seen = |t: &Mutex<Tally>| {
        let t = t.lock().expect("tally");
        t.served[phase.number()] + t.failed[phase.number()]
    };
    let target = seen(tally) + more;
    let deadline = Instant::now() + PROGRESS_LIMIT;
    while seen(tally) < target {
        assert!(
            Instant::now() < deadline,
            "the client finished fewer than {more} requests in {PROGRESS_LIMIT:?} ({phase:?})"
        );
        thread::sleep(Duration::from_millis(50));
    }
}

/// Sets the client's stop flag when dropped: a panicking test still lets
/// the client thread end, so the scope can join it.
struct StopOnDrop<'a>(&'a AtomicBool);

impl Drop for StopOnDrop<'_> {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

/// The line etcd logs when it refuses a client certificate from another root.
const REFUSED_CLIENT: &str =
    "tls: failed to verify client certificate: x509: certificate signed by unknown authority";

#[test]
fn etcd_ca_rotates_under_load_with_zero_failed_requests() {
    let env = Env::new();
    common::root_init(&env);
    let new_root = env.write(
        "etcd-root-2027.toml",
        &common::script(NEW_ROOT)
            .replace("[output]", AUDIT)
            .replace("directory = \"pki\"", "directory = \"pki-2027\""),
    );
    ok(&common::run_ceremony(&env, &new_root));
    let subject = |cert: &str| {
        ok(&openssl(
            env.dir.path(),
            &["x509", "-in", cert, "-noout", "-subject"],
        ))
    };
    assert_eq!(subject(OLD_ROOT), subject(NEW_ROOT_CERT));
    assert_ne!(
        std::fs::read(env.path(OLD_ROOT)).expect("old root"),
        std::fs::read(env.path(NEW_ROOT_CERT)).expect("new root")
    );
    let recipient = common::age_identity(&env, "requester.agekey");
    issue(&env, Generation::Old, &recipient);
    issue(&env, Generation::New, &recipient);
    verify_with_openssl(&env, Generation::Old, Generation::New);
    verify_with_openssl(&env, Generation::New, Generation::Old);
    make_plan(&env);

    // Phase 0: three members with old leaves, trusting the old root.
    let root = env.dir.path();
    for m in MEMBERS {
        install(&env, &etcd::pki_dir(root, m), m, Phase::Start);
    }
    let mut cluster = Cluster::start(root, &client_tls(&env, Phase::Start));
    let endpoints = cluster.endpoints();

    let tls = Mutex::new(client_tls(&env, Phase::Start));
    let current = AtomicUsize::new(Phase::Start.number());
    let tally = Mutex::new(Tally::default());
    let stop = AtomicBool::new(false);
    thread::scope(|s| {
        let _stop = StopOnDrop(&stop);
        s.spawn(|| client(&endpoints, &tls, &current, &tally, &stop));
        await_requests(&tally, Phase::Start, 20);
        for phase in &PHASES[1..] {
            let phase = *phase;
            let tls_now = client_tls(&env, phase);
            *tls.lock().expect("client tls") = tls_now.clone();
            current.store(phase.number(), Ordering::SeqCst);
            for (i, m) in MEMBERS.iter().enumerate() {
                cluster.restart(i, |pki| {
                    // Four requests end while the member is down: the last
                    // three began after it stopped, each on the next member,
                    // so one began on the stopped member and went on to
                    // another.
                    await_requests(&tally, phase, 4);
                    install(&env, pki, m, phase);
                });
                assert!(
                    cluster.wait_healthy(&tls_now),
                    "{m} found its port taken on restart:\n{}",
                    cluster.log(i)
                );
                // The client runs across every restart.
                await_requests(&tally, phase, 5);
            }
        }
        await_requests(&tally, Phase::TrustNew, 10);
    });

    let t = tally.into_inner().expect("tally");
    for phase in PHASES {
        let p = phase.number();
        let by: Vec<String> = MEMBERS
            .iter()
            .zip(t.by_member[p])
            .map(|(m, n)| format!("{m} {n}"))
            .collect();
        println!(
            "etcd rotation: phase {p} {}: {} requests, {} failed (served by {}; {} by a second or third member)",
            phase.name(),
            t.served[p] + t.failed[p],
            t.failed[p],
            by.join(", "),
            t.retried[p]
        );
    }
    let total: u64 = t.served.iter().sum::<u64>() + t.failed.iter().sum::<u64>();
    let failed: u64 = t.failed.iter().sum();
    println!("etcd rotation: {total} requests, {failed} failed");
    assert_eq!(failed, 0, "failed requests:\n{}", t.failures.join("\n"));
    for phase in PHASES {
        for (m, n) in MEMBERS.iter().zip(t.by_member[phase.number()]) {
            assert!(n > 0, "{m} served no request in phase {phase:?}");
        }
    }
    // Each restart saw a request begin on the stopped member and end on
    // another (see the wait in the restart above).
    for phase in &PHASES[1..] {
        assert!(
            t.retried[phase.number()] >= MEMBERS.len() as u64,
            "fewer requests than restarts went on to another member in {phase:?}"
        );
    }

    // At the end: the old root's client certificate is refused by every
    // member on its own. The client trusts the new root only, so the
    // member's new server certificate verifies and the refusal is the
    // member's. The same certificate file served phases 0 and 1.
    let (old_cert, old_key) = Generation::Old.cert_and_key(&env, "etcd-client");
    let old_client = ClientTls {
        ca: phase_ca_bundle(&env, Phase::TrustNew),
        cert: old_cert,
        key: old_key,
    };
    let new_client = client_tls(&env, Phase::TrustNew);
    for (i, endpoint) in endpoints.iter().enumerate() {
        let m = MEMBERS[i];
        let before = cluster.log(i).matches(REFUSED_CLIENT).count();
        let refused = etcd::etcdctl(
            &old_client,
            std::slice::from_ref(endpoint),
            etcd::REFUSED,
            &["get", "rotation"],
        );
        assert!(
            refused.status.is_some() && !refused.succeeded(),
            "{m} served the old root's client: {}",
            refused.show()
        );
        assert_eq!(refused.stdout, "", "{}", refused.show());
        // openssl shows the TLS alert the member sends; the member's log
        // says why.
        let handshake = etcd::s_client(&old_client, endpoint, "GET /version HTTP/1.0\r\n\r\n");
        assert!(
            handshake.status.is_some_and(|s| !s.success())
                && handshake.stdout.contains("Verify return code: 0 (ok)")
                && handshake.stderr.contains("alert bad certificate"),
            "{m} did not refuse the old root's client in the handshake: {}",
            handshake.show()
        );
        assert!(
            !handshake.stdout.contains("etcdserver"),
            "{}",
            handshake.show()
        );
        let log = cluster.log(i);
        assert!(
            log.matches(REFUSED_CLIENT).count() > before,
            "{m} did not log refusing the old root's client certificate:\n{log}"
        );
        // capnslog ends the line with `", ServerName "")`.
        let why = log
            .lines()
            .rfind(|l| l.contains(REFUSED_CLIENT))
            .and_then(|l| l.split_once("tls: "))
            .and_then(|(_, why)| why.split("\", ServerName").next())
            .unwrap_or("");
        println!(
            "etcd rotation: {m} refused the old root's client certificate: etcdctl {}; openssl s_client: alert bad certificate; {m} logged: tls: {why}",
            refused.stderr.lines().last().unwrap_or("").trim(),
        );
        // ... and serves the new root's, trusting the new root only.
        let put = etcd::etcdctl(
            &new_client,
            std::slice::from_ref(endpoint),
            etcd::SUCCEEDS,
            &["put", "final", m],
        );
        assert!(put.succeeded(), "{}", put.show());
        let get = etcd::etcdctl(
            &new_client,
            std::slice::from_ref(endpoint),
            etcd::SUCCEEDS,
            &["get", "final", "--print-value-only"],
        );
        assert_eq!(get.stdout, format!("{m}\n"), "{}", get.show());
    }
}
