//! The issued certificates against real TLS peers. etcd serves its clients and
//! peers with the etcd server and peer certificates and accepts only clients
//! from the etcd root; openssl's s_server plays the kube-apiserver with the
//! apiserver certificate and accepts only clients from the cluster root.
//!
//! Every child process is bounded in time, and every daemon is killed and
//! reaped when its guard drops, even when an assertion panics.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use common::{ok, text, Env};

/// Where `ceremony bundle open` lays out the components bundle.
const CERTS: &str = "opened/components/certs";
/// The requester's private keys, made by make-requests.sh.
const KEYS: &str = "requester/keys";
/// The cluster root, as the bundle delivers it.
const CLUSTER_CA: &str = "opened/components/pki/ca.crt";
/// The etcd root, as the bundle delivers it.
const ETCD_CA: &str = "opened/components/pki/etcd/ca.crt";

/// How long one client command may run before the test gives up on it.
const COMMAND_LIMIT: Duration = Duration::from_secs(20);
/// How long etcd or s_server may take to start serving.
const START_LIMIT: Duration = Duration::from_secs(20);
/// How often a wait looks again.
const POLL: Duration = Duration::from_millis(20);
/// How many times a daemon is started on new ports when its port was taken.
const PORT_ATTEMPTS: usize = 3;

/// The signing flow, and the components bundle opened into `opened/components`.
fn signed_cluster(env: &Env) {
    common::signed_cluster(env);
    let opened = ok(&common::bundles::open(
        env,
        "bundles/components.tar.age",
        &["--out", "opened/components"],
    ));
    assert!(
        opened.contains("verified: every checksum in SHA256SUMS"),
        "{opened}"
    );
}

/// `CERTS/ID.crt` and `KEYS/ID.key`.
fn cert_and_key(id: &str) -> (String, String) {
    (format!("{CERTS}/{id}.crt"), format!("{KEYS}/{id}.key"))
}

/// Free loopback ports, all held at once so they differ, then released for
/// the daemon to bind. Another process may take one in between: callers retry.
fn free_ports<const N: usize>() -> [u16; N] {
    let held: Vec<TcpListener> = (0..N)
        .map(|_| TcpListener::bind("127.0.0.1:0").expect("bind a free loopback port"))
        .collect();
    let mut ports = [0u16; N];
    for (port, listener) in ports.iter_mut().zip(&held) {
        *port = listener.local_addr().expect("bound address").port();
    }
    ports
}

/// Removes inherited `ETCD*` variables, which etcd and etcdctl read as flags.
fn without_etcd_env(cmd: &mut Command) -> &mut Command {
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("ETCD") {
            cmd.env_remove(name);
        }
    }
    cmd
}

/// A long-running child (etcd, s_server) writing stdout and stderr to a log
/// file in the test directory. Dropping it kills and reaps the process.
struct Daemon {
    child: Child,
    log: PathBuf,
    what: String,
}

impl Daemon {
    fn spawn(env: &Env, name: &str, cmd: &mut Command) -> Daemon {
        let log = env.path(&format!("{name}.log"));
        let file = std::fs::File::create(&log).expect("create daemon log");
        let what = format!("{cmd:?}");
        let child = cmd
            .current_dir(env.dir.path())
            .stdin(Stdio::null())
            .stdout(file.try_clone().expect("clone log handle"))
            .stderr(file)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {what}: {e}"));
        Daemon { child, log, what }
    }

    /// Everything the daemon has written so far.
    fn log(&self) -> String {
        text(&std::fs::read(&self.log).unwrap_or_default())
    }

    /// The exit status, if the daemon has already exited.
    fn exited(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().expect("try_wait on a daemon")
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        // Errors here mean the process is already gone, which is the goal.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What a bounded command left behind. `status` is `None` when the command
/// was stopped because its output reached the expected marker.
struct Finished {
    what: String,
    status: Option<ExitStatus>,
    stdout: String,
    stderr: String,
}

impl Finished {
    fn exited_with_error(&self) -> bool {
        matches!(self.status, Some(s) if !s.success())
    }

    fn succeeded(&self) -> bool {
        !self.exited_with_error()
    }

    /// The command, its status and its output, for assertion messages.
    fn show(&self) -> String {
        format!(
            "{}\nstatus {:?}\nstdout:\n{}\nstderr:\n{}",
            self.what, self.status, self.stdout, self.stderr
        )
    }
}

/// Reads a pipe to its end in a thread, into a buffer the caller can watch.
fn drain(mut pipe: impl Read + Send + 'static) -> (Arc<Mutex<Vec<u8>>>, JoinHandle<()>) {
    let buf = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&buf);
    let handle = thread::spawn(move || {
        let mut chunk = [0u8; 8192];
        while let Ok(n) = pipe.read(&mut chunk) {
            if n == 0 {
                break;
            }
            sink.lock()
                .expect("pipe buffer")
                .extend_from_slice(&chunk[..n]);
        }
    });
    (buf, handle)
}

/// Runs `cmd` with `input` on its stdin (then closed) until it exits, or
/// until its stdout contains `until` (then it is killed). Panics with its
/// output if neither happens within COMMAND_LIMIT.
fn run_bounded(env: &Env, cmd: &mut Command, input: &str, until: Option<&str>) -> Finished {
    let what = format!("{cmd:?}");
    let mut child = cmd
        .current_dir(env.dir.path())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {what}: {e}"));
    {
        let mut stdin = child.stdin.take().expect("stdin is piped");
        // A child that exits before reading its input closes the pipe; its
        // exit status and output tell the story, so a write error is ignored.
        let _ = stdin.write_all(input.as_bytes());
    }
    let (out, out_reader) = drain(child.stdout.take().expect("stdout is piped"));
    let (err, err_reader) = drain(child.stderr.take().expect("stderr is piped"));
    let deadline = Instant::now() + COMMAND_LIMIT;
    let (status, timed_out) = loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            break (Some(status), false);
        }
        if let Some(marker) = until {
            if text(&out.lock().expect("stdout buffer")).contains(marker) {
                break (None, false);
            }
        }
        if Instant::now() >= deadline {
            break (None, true);
        }
        thread::sleep(POLL);
    };
    if status.is_none() {
        let _ = child.kill();
    }
    let _ = child.wait();
    out_reader.join().expect("stdout reader");
    err_reader.join().expect("stderr reader");
    let done = Finished {
        what,
        status,
        stdout: text(&out.lock().expect("stdout buffer")),
        stderr: text(&err.lock().expect("stderr buffer")),
    };
    assert!(
        !timed_out,
        "still running after {COMMAND_LIMIT:?}, killed: {}",
        done.show()
    );
    done
}

/// `openssl s_client` to `127.0.0.1:PORT`, trusting `ca`, with `verify`
/// (`-verify_hostname NAME` or `-verify_ip IP`), presenting the client
/// certificate `id` if given. It sends `request` and is stopped once its
/// stdout holds `until`: s_client may never exit after a Go server closes the
/// connection, and waiting for that proves nothing.
fn s_client(
    env: &Env,
    port: u16,
    ca: &str,
    verify: &[&str],
    id: Option<&str>,
    (request, until): (&str, &str),
) -> Finished {
    let mut cmd = Command::new("openssl");
    cmd.args(["s_client", "-connect", &format!("127.0.0.1:{port}")])
        .args(["-CAfile", ca, "-verify_return_error", "-ign_eof"])
        .args(verify);
    if let Some(id) = id {
        let (cert, key) = cert_and_key(id);
        cmd.args(["-cert", &cert, "-key", &key]);
    }
    run_bounded(env, &mut cmd, request, Some(until))
}

// ---------------------------------------------------------------- etcd

/// etcdctl's timeouts for a call that should succeed: generous, since it
/// returns as soon as it is done.
const ETCDCTL_SUCCEEDS: [&str; 4] = ["--dial-timeout", "2s", "--command-timeout", "5s"];
/// etcdctl's timeouts for a call that should be refused. etcd refuses at the
/// first handshake and keeps refusing while etcdctl retries until its timeout;
/// the refusal is confirmed from etcd's log, so a longer wait proves nothing.
const ETCDCTL_REFUSED: [&str; 4] = ["--dial-timeout", "1s", "--command-timeout", "1s"];

/// etcdctl (v3 API) against `https://127.0.0.1:PORT`, trusting the etcd root,
/// presenting the client certificate `id`, with `timeouts`.
fn etcdctl(port: u16, id: &str, timeouts: [&str; 4], args: &[&str]) -> Command {
    let (cert, key) = cert_and_key(id);
    let mut cmd = Command::new("etcdctl");
    without_etcd_env(&mut cmd)
        .env("ETCDCTL_API", "3")
        .args(["--endpoints", &format!("https://127.0.0.1:{port}")])
        .args(["--cacert", ETCD_CA, "--cert", &cert, "--key", &key])
        .args(timeouts)
        .args(args);
    cmd
}

/// A one-member etcd on loopback with the issued etcd certificates, and the
/// client port it serves on.
struct Etcd {
    daemon: Daemon,
    client_port: u16,
    peer_port: u16,
}

/// How one attempt to start a daemon ended.
enum Start {
    Ready,
    PortTaken,
}

impl Etcd {
    /// Starts etcd on free ports (new ones if a port was taken meanwhile) and
    /// waits until an `endpoint health` with the healthcheck client passes.
    fn start(env: &Env) -> Etcd {
        let (server_cert, server_key) = cert_and_key("cp1-etcd-server");
        let (peer_cert, peer_key) = cert_and_key("cp1-etcd-peer");
        for attempt in 1..=PORT_ATTEMPTS {
            let [client_port, peer_port] = free_ports::<2>();
            let client_url = format!("https://127.0.0.1:{client_port}");
            let peer_url = format!("https://127.0.0.1:{peer_port}");
            let mut cmd = Command::new("etcd");
            without_etcd_env(&mut cmd)
                .args([
                    "--name",
                    "cp1",
                    "--data-dir",
                    &format!("etcd-data-{attempt}"),
                ])
                .args(["--cert-file", &server_cert, "--key-file", &server_key])
                .args(["--client-cert-auth", "--trusted-ca-file", ETCD_CA])
                .args(["--peer-cert-file", &peer_cert, "--peer-key-file", &peer_key])
                .args(["--peer-client-cert-auth", "--peer-trusted-ca-file", ETCD_CA])
                .args(["--listen-client-urls", &client_url])
                .args(["--advertise-client-urls", &client_url])
                .args(["--listen-peer-urls", &peer_url])
                .args(["--initial-advertise-peer-urls", &peer_url])
                .args(["--initial-cluster", &format!("cp1={peer_url}")])
                .args(["--initial-cluster-state", "new"]);
            let mut etcd = Etcd {
                daemon: Daemon::spawn(env, &format!("etcd-{attempt}"), &mut cmd),
                client_port,
                peer_port,
            };
            match etcd.wait_ready(env) {
                Start::Ready => return etcd,
                Start::PortTaken => continue,
            }
        }
        panic!("etcd found its ports taken {PORT_ATTEMPTS} times in a row");
    }

    fn wait_ready(&mut self, env: &Env) -> Start {
        let deadline = Instant::now() + START_LIMIT;
        let addr = SocketAddr::from(([127, 0, 0, 1], self.client_port));
        let mut last_health = None;
        loop {
            if let Some(status) = self.daemon.exited() {
                let log = self.daemon.log();
                if log.contains("address already in use") {
                    return Start::PortTaken;
                }
                panic!(
                    "etcd exited ({status}) before it was ready: {}\n{log}",
                    self.daemon.what
                );
            }
            // A cheap TCP probe first, so etcdctl does not sit out its dial
            // timeout while etcd is still starting.
            if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
                let health = run_bounded(
                    env,
                    &mut etcdctl(
                        self.client_port,
                        "cp1-etcd-healthcheck-client",
                        ETCDCTL_SUCCEEDS,
                        &["endpoint", "health"],
                    ),
                    "",
                    None,
                );
                if health.succeeded() {
                    // etcdctl 3.4 reports health on stderr.
                    assert!(health.stderr.contains("is healthy"), "{}", health.show());
                    return Start::Ready;
                }
                last_health = Some(health.show());
            }
            if Instant::now() >= deadline {
                panic!(
                    "etcd not healthy after {START_LIMIT:?}\nlast health check: {}\netcd log:\n{}",
                    last_health.unwrap_or_else(|| "none (port never accepted)".into()),
                    self.daemon.log()
                );
            }
            thread::sleep(Duration::from_millis(100));
        }
    }

    /// etcdctl as client `id`, for a call that should succeed.
    fn ctl(&self, env: &Env, id: &str, args: &[&str]) -> Finished {
        let mut cmd = etcdctl(self.client_port, id, ETCDCTL_SUCCEEDS, args);
        run_bounded(env, &mut cmd, "", None)
    }

    /// etcdctl as client `id`, for a call that should be refused.
    fn refused(&self, env: &Env, id: &str, args: &[&str]) -> Finished {
        let mut cmd = etcdctl(self.client_port, id, ETCDCTL_REFUSED, args);
        run_bounded(env, &mut cmd, "", None)
    }
}

#[test]
fn etcd_serves_etcd_root_clients_and_refuses_cluster_root_clients() {
    let env = Env::new();
    signed_cluster(&env);
    let etcd = Etcd::start(&env);

    // The apiserver's etcd client writes and reads a key.
    let put = etcd.ctl(&env, "cp1-apiserver-etcd-client", &["put", "k", "v"]);
    assert!(put.succeeded(), "put with the etcd client: {}", put.show());
    assert_eq!(put.stdout.trim(), "OK", "{}", put.show());
    let get = etcd.ctl(&env, "cp1-apiserver-etcd-client", &["get", "k"]);
    assert!(get.succeeded(), "get with the etcd client: {}", get.show());
    assert_eq!(get.stdout, "k\nv\n", "{}", get.show());

    // Clients from the cluster root are refused, both for writing and reading.
    let unknown = "certificate signed by unknown authority";
    assert!(
        !etcd.daemon.log().contains(unknown),
        "etcd rejected a client before the negative checks:\n{}",
        etcd.daemon.log()
    );
    // Each refusal lasts etcdctl's timeout: run both at once.
    let (put, get) = thread::scope(|s| {
        let put = s.spawn(|| {
            etcd.refused(
                &env,
                "cp1-apiserver-kubelet-client",
                &["put", "intruder", "x"],
            )
        });
        let get = s.spawn(|| etcd.refused(&env, "admin", &["get", "k"]));
        (
            put.join().expect("negative put thread"),
            get.join().expect("negative get thread"),
        )
    });
    assert!(
        put.exited_with_error(),
        "a cluster-root client wrote to etcd: {}",
        put.show()
    );
    assert_eq!(put.stdout, "", "{}", put.show());
    assert!(
        get.exited_with_error(),
        "a cluster-root client read from etcd: {}",
        get.show()
    );
    assert_eq!(get.stdout, "", "{}", get.show());
    let log = etcd.daemon.log();
    assert!(
        log.contains(&format!(
            "tls: failed to verify client certificate: x509: {unknown}"
        )),
        "etcd did not log the rejected client certificates:\n{log}"
    );
    // Nothing was written: the key is absent and `k` is unchanged.
    let absent = etcd.ctl(&env, "cp1-apiserver-etcd-client", &["get", "intruder"]);
    assert!(absent.succeeded(), "{}", absent.show());
    assert_eq!(
        absent.stdout,
        "",
        "the refused put was written: {}",
        absent.show()
    );
    let again = etcd.ctl(&env, "cp1-apiserver-etcd-client", &["get", "k"]);
    assert_eq!(again.stdout, "k\nv\n", "{}", again.show());

    // The peer listener accepts the peer certificate (what another member
    // presents) and refuses a cluster-root client.
    // The member list ends with this member's client URL.
    let list_end = format!(
        "\"name\":\"cp1\",\"clientURLs\":[\"https://127.0.0.1:{}\"]}}]",
        etcd.client_port
    );
    let members = ("GET /members HTTP/1.0\r\n\r\n", list_end.as_str());
    let by_ip = ["-verify_ip", "127.0.0.1"];
    let peer = s_client(
        &env,
        etcd.peer_port,
        ETCD_CA,
        &by_ip,
        Some("cp1-etcd-peer"),
        members,
    );
    assert!(
        peer.succeeded()
            && peer.stdout.contains("Verify return code: 0 (ok)")
            && peer.stdout.contains("HTTP/1.0 200 OK"),
        "the peer listener did not serve the peer certificate: {}",
        peer.show()
    );
    let stranger = s_client(
        &env,
        etcd.peer_port,
        ETCD_CA,
        &by_ip,
        Some("admin"),
        members,
    );
    assert!(
        stranger.exited_with_error() && stranger.stderr.contains("alert bad certificate"),
        "the peer listener accepted a cluster-root client: {}",
        stranger.show()
    );
    assert!(!stranger.stdout.contains("HTTP/1.0"), "{}", stranger.show());
}

// ---------------------------------------------------------------- openssl

/// `openssl s_server -www` on loopback with the apiserver certificate,
/// requiring a client certificate from the cluster root.
struct SServer {
    daemon: Daemon,
    port: u16,
}

impl SServer {
    fn start(env: &Env) -> SServer {
        let (cert, key) = cert_and_key("cp1-apiserver");
        for attempt in 1..=PORT_ATTEMPTS {
            let [port] = free_ports::<1>();
            let mut cmd = Command::new("openssl");
            cmd.args(["s_server", "-accept", &format!("127.0.0.1:{port}"), "-www"])
                .args(["-cert", &cert, "-key", &key])
                .args([
                    "-CAfile",
                    CLUSTER_CA,
                    "-Verify",
                    "1",
                    "-verify_return_error",
                ]);
            let mut server = SServer {
                daemon: Daemon::spawn(env, &format!("s_server-{attempt}"), &mut cmd),
                port,
            };
            let deadline = Instant::now() + START_LIMIT;
            loop {
                let log = server.daemon.log();
                if log.contains("ACCEPT\n") {
                    return server;
                }
                if let Some(status) = server.daemon.exited() {
                    // s_server exits 0 even when it cannot bind: read the log.
                    let log = server.daemon.log();
                    if log.contains("Address already in use") {
                        break;
                    }
                    panic!(
                        "s_server exited ({status}) before listening: {}\n{log}",
                        server.daemon.what
                    );
                }
                assert!(
                    Instant::now() < deadline,
                    "s_server not listening after {START_LIMIT:?}:\n{log}"
                );
                thread::sleep(POLL);
            }
        }
        panic!("s_server found its port taken {PORT_ATTEMPTS} times in a row");
    }

    /// s_client to this server, trusting the cluster root, checking
    /// `verify` and presenting client certificate `id`. The `-www` answer to
    /// its request ends in `</HTML>`.
    fn client(&self, env: &Env, verify: &[&str], id: Option<&str>) -> Finished {
        let page = ("GET / HTTP/1.0\r\n\r\n", "</HTML>");
        s_client(env, self.port, CLUSTER_CA, verify, id, page)
    }
}

/// How kube-apiserver clients name it (a DNS SAN of the apiserver certificate).
const APISERVER_NAME: [&str; 2] = ["-verify_hostname", "kubernetes.default.svc"];

#[test]
fn openssl_does_mutual_tls_with_the_apiserver_certificate() {
    let env = Env::new();
    signed_cluster(&env);
    let server = SServer::start(&env);

    // Cluster-root clients connect, verify kubernetes.default.svc, and the
    // server answers after verifying their certificate.
    for (id, subject) in [
        (
            "admin",
            "Subject: O=kubeadm:cluster-admins, CN=kubernetes-admin",
        ),
        (
            "w1-kubelet-client",
            "Subject: O=system:nodes, CN=system:node:w1",
        ),
    ] {
        let session = server.client(&env, &APISERVER_NAME, Some(id));
        assert!(session.succeeded(), "{id}: {}", session.show());
        for needle in [
            "Verify return code: 0 (ok)",
            "HTTP/1.0 200 ok",
            "Client certificate\n",
            subject,
        ] {
            assert!(
                session.stdout.contains(needle),
                "{id}: no {needle:?} in the session: {}",
                session.show()
            );
        }
    }
    // In-cluster clients reach the apiserver by its service IP.
    let service_ip = ["-verify_ip", "10.96.0.1"];
    let by_ip = server.client(&env, &service_ip, Some("controller-manager"));
    assert!(
        by_ip.succeeded() && by_ip.stdout.contains("HTTP/1.0 200 ok"),
        "service IP 10.96.0.1: {}",
        by_ip.show()
    );

    // A client certificate from the etcd root is refused by the server.
    let etcd_client = server.client(&env, &APISERVER_NAME, Some("cp1-apiserver-etcd-client"));
    assert!(
        etcd_client.exited_with_error() && etcd_client.stderr.contains("tlsv1 alert unknown ca"),
        "an etcd-root client was not refused: {}",
        etcd_client.show()
    );
    assert!(
        !etcd_client.stdout.contains("HTTP/1.0"),
        "{}",
        etcd_client.show()
    );
    let log = server.daemon.log();
    assert!(
        log.contains(
            "depth=0 CN = kube-apiserver-etcd-client\nverify error:num=20:unable to get local issuer certificate\n"
        ),
        "s_server did not reject the etcd-root client:\n{log}"
    );

    // No client certificate at all is refused too (-Verify, not -verify).
    let anonymous = server.client(&env, &APISERVER_NAME, None);
    assert!(
        anonymous.exited_with_error() && anonymous.stderr.contains("alert certificate required"),
        "a client without a certificate was not refused: {}",
        anonymous.show()
    );

    // Negative control: the client refuses a name the certificate lacks.
    let wrong_name = ["-verify_hostname", "not-the-apiserver.example"];
    let wrong_name = server.client(&env, &wrong_name, Some("admin"));
    assert!(
        wrong_name.exited_with_error()
            && wrong_name
                .stdout
                .contains("Verify return code: 62 (hostname mismatch)"),
        "s_client accepted the apiserver as not-the-apiserver.example: {}",
        wrong_name.show()
    );
    assert!(
        !wrong_name.stdout.contains("HTTP/1.0"),
        "{}",
        wrong_name.show()
    );
}
