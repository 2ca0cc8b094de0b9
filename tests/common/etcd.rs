//! A three-member etcd cluster on loopback with mutual TLS on its client and
//! peer listeners, whose members are stopped and started again one at a time
//! with new certificate files, and etcdctl as its client.
//!
//! Each member reads kubeadm's file names under `etcd/NAME/pki/etcd/`
//! (`ca.crt` for both trusted-CA flags, `server.crt`/`.key`, `peer.crt`/`.key`)
//! and keeps its data in `etcd/NAME/data`, all in the test's directory. Every
//! etcd and etcdctl process is bounded in time; the members are killed and
//! reaped when the [`Cluster`] drops, on a panic too.

use std::io::Write;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use super::text;

/// The members' names, which are also their certificates' node names.
pub const MEMBERS: [&str; 3] = ["m1", "m2", "m3"];

/// How long a member may take to become healthy after a start.
const START_LIMIT: Duration = Duration::from_secs(30);
/// How long a member may take to stop after SIGTERM (it hands leadership
/// over first).
const STOP_LIMIT: Duration = Duration::from_secs(20);
/// How long one etcdctl process may run before it is killed.
const CTL_LIMIT: Duration = Duration::from_secs(15);
/// How often a wait looks again.
const POLL: Duration = Duration::from_millis(20);
/// How many times the cluster is started on new ports when a port was taken.
const PORT_ATTEMPTS: usize = 3;

/// A client's TLS files: the CA bundle it trusts for the members'
/// certificates, and the certificate and key it presents.
#[derive(Clone, Debug)]
pub struct ClientTls {
    pub ca: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// How an etcdctl process ended.
pub struct Ctl {
    pub what: String,
    /// None when it was killed at [`CTL_LIMIT`].
    pub status: Option<ExitStatus>,
    pub stdout: String,
    pub stderr: String,
}

impl Ctl {
    pub fn succeeded(&self) -> bool {
        matches!(self.status, Some(s) if s.success())
    }

    /// The command, its status and its output, for assertion messages.
    pub fn show(&self) -> String {
        format!(
            "{}\nstatus {:?}\nstdout:\n{}\nstderr:\n{}",
            self.what, self.status, self.stdout, self.stderr
        )
    }
}

/// etcdctl timeouts for a call that should succeed: a member that is down
/// costs one second of dialling.
pub const SUCCEEDS: [&str; 4] = ["--dial-timeout", "1s", "--command-timeout", "5s"];
/// etcdctl timeouts for a call that should be refused: etcd refuses at the
/// first handshake and etcdctl retries until its timeout, so waiting longer
/// proves nothing (the refusal is confirmed from the member's log).
pub const REFUSED: [&str; 4] = ["--dial-timeout", "1s", "--command-timeout", "1s"];

/// Removes inherited `ETCD*` variables, which etcd and etcdctl read as flags.
fn without_etcd_env(cmd: &mut Command) -> &mut Command {
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("ETCD") {
            cmd.env_remove(name);
        }
    }
    cmd
}

/// Runs etcdctl (v3 API) with `tls` against `endpoints`, killing it after
/// [`CTL_LIMIT`].
pub fn etcdctl(tls: &ClientTls, endpoints: &[String], timeouts: [&str; 4], args: &[&str]) -> Ctl {
    let mut cmd = Command::new("etcdctl");
    without_etcd_env(&mut cmd)
        .env("ETCDCTL_API", "3")
        .args(["--endpoints", &endpoints.join(",")])
        .arg("--cacert")
        .arg(&tls.ca)
        .arg("--cert")
        .arg(&tls.cert)
        .arg("--key")
        .arg(&tls.key)
        .args(timeouts)
        .args(args);
    bounded(&mut cmd, "")
}

/// `openssl s_client` to `endpoint` with `tls`, checking the member's
/// certificate names 127.0.0.1, sending `request`, reading until the member
/// closes the connection; killed after [`CTL_LIMIT`].
pub fn s_client(tls: &ClientTls, endpoint: &str, request: &str) -> Ctl {
    let addr = endpoint
        .strip_prefix("https://")
        .expect("an https endpoint");
    let mut cmd = Command::new("openssl");
    cmd.args(["s_client", "-connect", addr, "-verify_return_error"])
        .args(["-verify_ip", "127.0.0.1", "-ign_eof"])
        .arg("-CAfile")
        .arg(&tls.ca)
        .arg("-cert")
        .arg(&tls.cert)
        .arg("-key")
        .arg(&tls.key);
    bounded(&mut cmd, request)
}

/// Runs `cmd` with `input` on its stdin (then closed), killing it after
/// [`CTL_LIMIT`]. Its output is small (a key, a health line, a handshake),
/// so the pipes are read once it has exited.
fn bounded(cmd: &mut Command, input: &str) -> Ctl {
    let what = format!("{cmd:?}");
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {what}: {e}"));
    {
        let mut stdin = child.stdin.take().expect("stdin is piped");
        // A child that exits before reading its input closes the pipe; its
        // status and output tell the story, so a write error is ignored.
        let _ = stdin.write_all(input.as_bytes());
    }
    let deadline = Instant::now() + CTL_LIMIT;
    let status = loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            break Some(status);
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            break None;
        }
        thread::sleep(Duration::from_millis(5));
    };
    let out = child.wait_with_output().expect("child output");
    Ctl {
        what,
        status,
        stdout: text(&out.stdout),
        stderr: text(&out.stderr),
    }
}

/// Free loopback ports, all held at once so they differ, then released for
/// etcd to bind. Another process may take one in between: callers retry.
fn free_ports(n: usize) -> Vec<u16> {
    let held: Vec<TcpListener> = (0..n)
        .map(|_| TcpListener::bind("127.0.0.1:0").expect("bind a free loopback port"))
        .collect();
    held.iter()
        .map(|l| l.local_addr().expect("bound address").port())
        .collect()
}

/// One member: its ports stay the same across restarts (its peers know it
/// by its peer URL).
struct Member {
    name: &'static str,
    client_port: u16,
    peer_port: u16,
    child: Option<Child>,
    /// How many times it was started: each start logs to its own file.
    starts: usize,
}

impl Member {
    fn dir(&self, root: &Path) -> PathBuf {
        root.join("etcd").join(self.name)
    }

    fn log_path(&self, root: &Path) -> PathBuf {
        root.join("etcd")
            .join(format!("{}-start-{}.log", self.name, self.starts))
    }

    fn client_url(&self) -> String {
        format!("https://127.0.0.1:{}", self.client_port)
    }

    fn peer_url(&self) -> String {
        format!("https://127.0.0.1:{}", self.peer_port)
    }

    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            // Errors mean the process is already gone, which is the goal.
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Three etcd members on loopback, client and peer TLS required.
pub struct Cluster {
    root: PathBuf,
    members: Vec<Member>,
}

/// A member's certificate directory under `root`: `etcd/NAME/pki/etcd`.
pub fn pki_dir(root: &Path, member: &str) -> PathBuf {
    root.join("etcd").join(member).join("pki/etcd")
}

impl Cluster {
    /// Starts the three members under `root` (their files must be in
    /// [`pki_dir`]) and waits until each endpoint is healthy for `tls`.
    /// Starts again on new ports, with new data, when a port was taken.
    pub fn start(root: &Path, tls: &ClientTls) -> Cluster {
        for _ in 0..PORT_ATTEMPTS {
            let ports = free_ports(2 * MEMBERS.len());
            let mut cluster = Cluster {
                root: root.to_path_buf(),
                members: MEMBERS
                    .iter()
                    .zip(ports.chunks(2))
                    .map(|(name, p)| Member {
                        name,
                        client_port: p[0],
                        peer_port: p[1],
                        child: None,
                        starts: 0,
                    })
                    .collect(),
            };
            for i in 0..MEMBERS.len() {
                let data = cluster.members[i].dir(root).join("data");
                if data.exists() {
                    std::fs::remove_dir_all(&data).expect("remove old data dir");
                }
                cluster.spawn(i);
            }
            if cluster.wait_healthy(tls) {
                return cluster;
            }
            // A port was taken: `cluster` drops here, killing the members.
        }
        panic!("etcd found a port taken {PORT_ATTEMPTS} times in a row");
    }

    /// Every member's client URL.
    pub fn endpoints(&self) -> Vec<String> {
        self.members.iter().map(Member::client_url).collect()
    }

    /// What member `i` has logged since its last start.
    pub fn log(&self, i: usize) -> String {
        let m = &self.members[i];
        text(&std::fs::read(m.log_path(&self.root)).unwrap_or_default())
    }

    fn spawn(&mut self, i: usize) {
        let initial: Vec<String> = self
            .members
            .iter()
            .map(|m| format!("{}={}", m.name, m.peer_url()))
            .collect();
        let root = self.root.clone();
        let m = &mut self.members[i];
        m.starts += 1;
        let pki = pki_dir(&root, m.name);
        let file = |f: &str| pki.join(f).display().to_string();
        let log = std::fs::File::create(m.log_path(&root)).expect("create etcd log");
        let mut cmd = Command::new("etcd");
        without_etcd_env(&mut cmd)
            .current_dir(&root)
            .args(["--name", m.name])
            .arg("--data-dir")
            .arg(m.dir(&root).join("data"))
            .args(["--cert-file", &file("server.crt")])
            .args(["--key-file", &file("server.key")])
            .args(["--client-cert-auth", "--trusted-ca-file", &file("ca.crt")])
            .args(["--peer-cert-file", &file("peer.crt")])
            .args(["--peer-key-file", &file("peer.key")])
            .args(["--peer-client-cert-auth"])
            .args(["--peer-trusted-ca-file", &file("ca.crt")])
            .args(["--listen-client-urls", &m.client_url()])
            .args(["--advertise-client-urls", &m.client_url()])
            .args(["--listen-peer-urls", &m.peer_url()])
            .args(["--initial-advertise-peer-urls", &m.peer_url()])
            .args(["--initial-cluster", &initial.join(",")])
            .args(["--initial-cluster-token", "rotation-test"])
            .args(["--initial-cluster-state", "new"])
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("clone log handle"))
            .stderr(log);
        let what = format!("{cmd:?}");
        m.child =
            Some(cmd.spawn().unwrap_or_else(|e| {
                panic!("cannot start {what}: {e} (is etcd-server installed?)")
            }));
    }

    /// Stops member `i` as an operator would (SIGTERM: a leader hands its
    /// leadership over first), waits for it to exit, calls `while_down` with
    /// its [`pki_dir`] (to write its new files), and starts it again on the
    /// same ports.
    pub fn restart(&mut self, i: usize, while_down: impl FnOnce(&Path)) {
        let name = self.members[i].name;
        let mut child = self.members[i].child.take().expect("the member is running");
        let term = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(term.success(), "kill -TERM {name} failed");
        let deadline = Instant::now() + STOP_LIMIT;
        while child.try_wait().expect("try_wait on etcd").is_none() {
            if Instant::now() >= deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "{name} did not stop within {STOP_LIMIT:?} of SIGTERM:\n{}",
                    self.log(i)
                );
            }
            thread::sleep(POLL);
        }
        while_down(&pki_dir(&self.root, name));
        self.spawn(i);
    }

    /// Waits until every endpoint answers `endpoint health` for `tls`
    /// (a linearizable read on each member, so each one reaches the leader
    /// over the peer TLS). False when a member could not bind its port;
    /// panics when a member exited otherwise or was not healthy in time.
    pub fn wait_healthy(&mut self, tls: &ClientTls) -> bool {
        let deadline = Instant::now() + START_LIMIT;
        let endpoints = self.endpoints();
        loop {
            for i in 0..self.members.len() {
                let child = self.members[i].child.as_mut().expect("running");
                if let Some(status) = child.try_wait().expect("try_wait on etcd") {
                    let log = self.log(i);
                    if log.contains("address already in use") {
                        return false;
                    }
                    panic!("{} exited ({status}):\n{log}", self.members[i].name);
                }
            }
            let health = etcdctl(tls, &endpoints, SUCCEEDS, &["endpoint", "health"]);
            if health.succeeded() {
                // etcdctl 3.4 reports health on stderr, a line per endpoint.
                let healthy = health.stderr.matches("is healthy").count();
                assert_eq!(healthy, MEMBERS.len(), "{}", health.show());
                return true;
            }
            if Instant::now() >= deadline {
                let logs: Vec<String> = (0..self.members.len())
                    .map(|i| format!("--- {}:\n{}", self.members[i].name, self.log(i)))
                    .collect();
                panic!(
                    "the cluster was not healthy within {START_LIMIT:?}\nlast check: {}\n{}",
                    health.show(),
                    logs.join("\n")
                );
            }
            thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for m in &mut self.members {
            m.kill();
        }
    }
}

/// Writes `DIR/keys/ID.key` (P-256) and `DIR/csr/ID.csr` with openssl and
/// appends its `[[request]]` to `DIR/requests.toml`: for each member an
/// etcd-server and an etcd-peer request (node name, localhost, 127.0.0.1 and
/// ::1), and one apiserver-etcd-client request (`etcd-client`).
pub fn make_requests(dir: &Path) {
    std::fs::create_dir_all(dir.join("keys")).expect("mkdir keys");
    std::fs::create_dir_all(dir.join("csr")).expect("mkdir csr");
    let mut manifest = String::from("# etcd members m1..m3 and one etcd client.\n");
    let mut request = |id: &str, profile: &str, subject: &str, extra: &str| {
        let out = Command::new("openssl")
            .current_dir(dir)
            .args(["req", "-new", "-nodes", "-newkey", "ec"])
            .args(["-pkeyopt", "ec_paramgen_curve:P-256", "-subj", subject])
            .args(["-keyout", &format!("keys/{id}.key")])
            .args(["-out", &format!("csr/{id}.csr")])
            .output()
            .expect("openssl req");
        assert!(out.status.success(), "openssl req: {}", text(&out.stderr));
        manifest.push_str(&format!(
            "\n[[request]]\nid = \"{id}\"\nprofile = \"{profile}\"\ncsr = \"csr/{id}.csr\"\n{extra}"
        ));
    };
    for m in MEMBERS {
        for kind in ["server", "peer"] {
            request(
                &format!("{m}-etcd-{kind}"),
                &format!("etcd-{kind}"),
                &format!("/CN={m}"),
                &format!(
                    "node = \"{m}\"\ndns = [\"{m}\", \"localhost\"]\nips = [\"127.0.0.1\", \"::1\"]\n"
                ),
            );
        }
    }
    request(
        "etcd-client",
        "apiserver-etcd-client",
        "/CN=kube-apiserver-etcd-client",
        "",
    );
    std::fs::write(dir.join("requests.toml"), manifest).expect("write requests.toml");
}
