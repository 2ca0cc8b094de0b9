//! Command-line definitions (clap derive) and nothing else.

use std::path::PathBuf;

use ceremony::token::TokenSelector;
use clap::{Args, Parser, Subcommand};

/// Run HSM-backed, offline root CA ceremonies for Kubernetes clusters.
#[derive(Debug, Parser)]
#[command(name = "ceremony", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run a ceremony script (or preview it with --dry-run).
    Run(RunArgs),
    /// Work with ceremony transcripts.
    #[command(subcommand)]
    Transcript(TranscriptCommand),
    /// The requester's side: seal CSRs into a request bundle.
    #[command(subcommand)]
    Request(RequestCommand),
    /// Open an output bundle from a ceremony.
    #[command(subcommand)]
    Bundle(BundleCommand),
    /// List every object in the token with the attributes that show whether
    /// a key can leave it, and flag keys that break the key policy (exit 2).
    Inventory(InventoryArgs),
    /// Inspect certificates.
    #[command(subcommand)]
    Certs(CertsCommand),
    /// Rotate a cluster's CAs without an outage.
    #[command(subcommand)]
    Rotate(RotateCommand),
    /// Render a transcript for people: DIR/report.html and DIR/report.md,
    /// with a verification verdict at the top and a signature block.
    Report {
        /// The transcript file.
        transcript: PathBuf,
        /// The directory to write (report files must not exist yet).
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
        /// A checkpoint file from the paper record, for the verdict.
        #[arg(long, value_name = "CP", requires = "audit_key")]
        checkpoint: Option<PathBuf>,
        /// The audit key's public key (PEM), for the verdict.
        #[arg(long, value_name = "PUB")]
        audit_key: Option<PathBuf>,
    },
}

#[derive(Debug, Subcommand)]
pub enum RotateCommand {
    /// Write the rotation as files: one kubeadm-shaped directory per phase
    /// (trust both roots, re-issue the leaves from the new roots, trust
    /// only the new roots), each with a checklist of what to copy where
    /// and what to restart in which order.
    Plan {
        /// The current roots, laid out like kubeadm's pki/ (ca.crt,
        /// front-proxy-ca.crt, etcd/ca.crt): the root ceremony's pki/.
        #[arg(long, value_name = "DIR")]
        current: PathBuf,
        /// The new roots, laid out the same way (a new root ceremony's output).
        #[arg(long, value_name = "DIR")]
        new: PathBuf,
        /// The kubeadm tree to rotate (a copy of /etc/kubernetes: pki/ and the kubeconfigs).
        #[arg(long, value_name = "DIR")]
        kubeadm: PathBuf,
        /// The directory to write (must not exist).
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
        /// A new root's key label in the token, for phase 2's signing
        /// script: ROLE=LABEL with ROLE cluster, front-proxy or etcd.
        /// Repeatable; a role not given is a placeholder in the script.
        #[arg(long = "new-key-label", value_name = "ROLE=LABEL", value_parser = parse_key_label)]
        new_key_labels: Vec<(String, String)>,
    },
}

fn parse_key_label(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((role, label))
            if ["cluster", "front-proxy", "etcd"].contains(&role) && !label.is_empty() =>
        {
            Ok((role.to_string(), label.to_string()))
        }
        _ => Err(format!(
            "{s:?} is not ROLE=LABEL with ROLE cluster, front-proxy or etcd"
        )),
    }
}

#[derive(Debug, Subcommand)]
pub enum CertsCommand {
    /// Show when each certificate in a kubeadm directory or opened output
    /// bundle expires, the CAs apart (root, intermediate or link, and its
    /// issuer), what renews or rotates each, and what expires soon or
    /// outlives its issuer (exit 1).
    CheckExpiration {
        /// A kubeadm directory (such as /etc/kubernetes) or an opened output bundle.
        #[arg(value_name = "DIR")]
        dir: PathBuf,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
        /// Mark every certificate that expires within DAYS days (or has expired).
        #[arg(long, value_name = "DAYS", default_value_t = ceremony::expiry::DEFAULT_WARN_DAYS)]
        warn_within: u32,
    },
}

#[derive(Debug, Subcommand)]
pub enum RequestCommand {
    /// Seal CSRs into one request bundle and print its SHA-256: the CSRs a
    /// manifest lists, or every CSR kubeadm left in a tree (--kubeadm).
    Seal {
        /// The request manifest (TOML, one [[request]] per CSR; CSR paths are
        /// relative to the manifest).
        #[arg(required_unless_present = "kubeadm", conflicts_with = "kubeadm")]
        manifest: Option<PathBuf>,
        /// A tree left by `kubeadm certs generate-csr --kubeconfig-dir D
        /// --cert-dir D/pki`: seals pki/*.csr, pki/etcd/*.csr and *.conf.csr,
        /// each under the profile its file name implies. Never reads a .key or
        /// a .conf file.
        #[arg(long, value_name = "DIR")]
        kubeadm: Option<PathBuf>,
        /// With --kubeadm: the profile of a CSR whose name kubeadm does not
        /// use, as FILE=PROFILE (FILE relative to DIR). Repeatable.
        #[arg(long = "map", value_name = "FILE=PROFILE", requires = "kubeadm", value_parser = parse_map)]
        maps: Vec<(String, String)>,
        /// The request bundle to write (must not exist).
        #[arg(long, value_name = "BUNDLE")]
        out: PathBuf,
    },
}

fn parse_map(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((file, profile)) if !file.is_empty() && !profile.is_empty() => {
            Ok((file.to_string(), profile.to_string()))
        }
        _ => Err(format!("{s:?} is not FILE=PROFILE")),
    }
}

#[derive(Debug, Subcommand)]
pub enum BundleCommand {
    /// Decrypt an output bundle, check every checksum, every certificate
    /// against the pinned CAs and (with --audit-key) the ceremony's
    /// signature, and write only the files this tool knows.
    Open {
        /// The output bundle (NAME.tar.age).
        bundle: PathBuf,
        /// The age identity file (AGE-SECRET-KEY-1…, mode 0600).
        #[arg(long, value_name = "FILE")]
        identity: PathBuf,
        /// A PEM file of CA certificates you trust (the ceremony's roots,
        /// whose fingerprints you checked out of band). Repeatable; at
        /// least one. Every certificate must be signed by one, and every CA
        /// certificate in the bundle must be one of them.
        #[arg(long = "ca", value_name = "FILE", required = true)]
        cas: Vec<PathBuf>,
        /// The ceremony's audit public key (PEM, pki/audit-key.pub): the
        /// bundle's SHA256SUMS.sig must verify with it.
        #[arg(long, value_name = "PUB")]
        audit_key: Option<PathBuf>,
        /// The directory to write (must not exist, or be empty).
        #[arg(
            long,
            value_name = "DIR",
            required_unless_present = "kubeadm",
            conflicts_with = "kubeadm"
        )]
        out: Option<PathBuf>,
        /// The kubeadm tree the CSRs came from: write each certificate beside
        /// its key, the CA certificates, and client-certificate-data into each
        /// partial kubeconfig, after checking every certificate against its key.
        #[arg(long, value_name = "DIR")]
        kubeadm: Option<PathBuf>,
        /// With --kubeadm: replace certificates that already exist.
        #[arg(long, requires = "kubeadm")]
        force: bool,
        /// With --out: also write DIR/cert-manager/REQUEST_ID.secret.yaml, a
        /// kubernetes.io/tls Secret for cert-manager's CA issuer (tls.crt the
        /// intermediate then its root, tls.key the key in KEY_FILE, ca.crt the
        /// root). REQUEST_ID must be an intermediate CA in the bundle and
        /// KEY_FILE (mode 0600) its private key. Repeatable.
        #[arg(long = "cert-manager", value_name = "REQUEST_ID=KEY_FILE", conflicts_with = "kubeadm", value_parser = parse_layout)]
        cert_manager: Vec<(String, PathBuf)>,
        /// The cert-manager Secret's name (default: the request id).
        #[arg(long, value_name = "NAME", requires = "cert_manager")]
        secret_name: Option<String>,
        /// The cert-manager Secret's namespace (default: cert-manager).
        #[arg(long, value_name = "NAMESPACE", requires = "cert_manager")]
        namespace: Option<String>,
        /// With --out: also write Istio's plug-in CA files,
        /// DIR/istio/cacerts/{ca-cert,ca-key,root-cert,cert-chain}.pem, and the
        /// same as a cacerts Secret for istio-system in
        /// DIR/istio/cacerts.secret.yaml. REQUEST_ID must be an intermediate
        /// CA in the bundle and KEY_FILE (mode 0600) its private key.
        #[arg(long, value_name = "REQUEST_ID=KEY_FILE", conflicts_with = "kubeadm", value_parser = parse_layout)]
        istio: Option<(String, PathBuf)>,
    },
}

fn parse_layout(s: &str) -> Result<(String, PathBuf), String> {
    match s.split_once('=') {
        Some((id, key)) if !id.is_empty() && !key.is_empty() => {
            Ok((id.to_string(), PathBuf::from(key)))
        }
        _ => Err(format!("{s:?} is not REQUEST_ID=KEY_FILE")),
    }
}

#[derive(Debug, Args)]
pub struct InventoryArgs {
    /// The PKCS#11 module, for example /usr/lib/softhsm/libsofthsm2.so.
    #[arg(long, value_name = "PATH")]
    pub module: PathBuf,
    #[command(flatten)]
    pub token: TokenArgs,
    #[command(flatten)]
    pub pin: PinArgs,
    /// Print JSON instead of the table.
    #[arg(long)]
    pub json: bool,
}

/// Which token: by label, by serial, by both, or by a `pkcs11:` URI. Never by slot.
#[derive(Debug, Args)]
#[group(required = true, multiple = true)]
pub struct TokenArgs {
    /// The token label.
    #[arg(long = "token", value_name = "LABEL")]
    pub label: Option<String>,
    /// The token serial number.
    #[arg(long, value_name = "SERIAL")]
    pub serial: Option<String>,
    /// An RFC 7512 URI naming the token (`pkcs11:token=ceremony`); no PIN, slot or object in it.
    #[arg(long, value_name = "URI", conflicts_with_all = ["label", "serial"], value_parser = parse_uri)]
    pub uri: Option<TokenSelector>,
}

fn parse_uri(s: &str) -> Result<TokenSelector, String> {
    TokenSelector::parse_uri(s).map_err(|e| e.to_string())
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// The ceremony script (TOML). Relative paths in it resolve against the
    /// current directory.
    pub script: PathBuf,
    /// Print every key, certificate and file the ceremony would make, and
    /// stop: no token is opened, nothing is written.
    #[arg(long)]
    pub dry_run: bool,
    #[command(flatten)]
    pub pin: PinArgs,
    /// A rehearsal: witness acknowledgements from this file (one answer per
    /// line, "NAME CODE", in prompt order) instead of the terminal. The
    /// transcript records that the answers came from a file.
    #[arg(long, value_name = "FILE")]
    pub answers: Option<PathBuf>,
    /// Token sessions that sign at once in a sign-requests step (1 to 64).
    /// The default is half the CPU cores, at least 1: a software token
    /// signs on the host's cores, which also check every request and
    /// signature; a hardware HSM that signs in parallel may take more.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u8).range(1..=64))]
    pub sessions: Option<u8>,
    /// A signed approval of the script, made by an approver with
    /// `ssh-keygen -Y sign -f KEY -n ceremony-approval SCRIPT` (SCRIPT.sig).
    /// Repeatable. The script's [approvals] names the signers file and how
    /// many must approve; with fewer, the run refuses before the token is
    /// opened. With --dry-run, shows who approved.
    #[arg(long = "approval", value_name = "FILE")]
    pub approvals: Vec<PathBuf>,
    #[command(flatten)]
    pub so_pin: SoPinArgs,
    /// A custodian's share for a restore-keys step: the sealed share file,
    /// `=`, and that custodian's age identity file (mode 0600); or the share
    /// file alone, and the custodian types their identity (AGE-SECRET-KEY-1…)
    /// at the terminal when it is opened. Repeatable, one per custodian
    /// present; each is checked alone and a bad one is named.
    #[arg(long = "share", value_name = "SHARE[=IDENTITY]")]
    pub shares: Vec<ceremony::ceremony::ShareInput>,
    /// For a token whose user PIN is under a quorum (activate-quorum): an
    /// officer's share of it, `=`, and that officer's age identity file
    /// (mode 0600), or the share file alone and the officer types their
    /// identity at the terminal. Repeatable; M of them rebuild the PIN in
    /// memory for the login, instead of --pin-file, --pin-fd or the prompt.
    #[arg(long = "pin-share", value_name = "SHARE[=IDENTITY]", conflicts_with_all = ["pin_file", "pin_fd"])]
    pub pin_shares: Vec<ceremony::ceremony::ShareInput>,
}

/// Where the security officer's PIN comes from, for a step that logs in as
/// the SO (backup-keys, restore-keys); without either flag, a prompt on the
/// terminal when such a step runs. Never asked for otherwise.
#[derive(Debug, Args)]
pub struct SoPinArgs {
    /// Read the SO PIN from this file (mode 0600; one trailing newline is ignored).
    #[arg(long, value_name = "FILE", conflicts_with = "so_pin_fd")]
    pub so_pin_file: Option<PathBuf>,
    /// Read the SO PIN from this inherited file descriptor.
    #[arg(long, value_name = "N")]
    pub so_pin_fd: Option<u32>,
}

/// Where the user PIN comes from; without either flag, a prompt on the terminal.
#[derive(Debug, Args)]
pub struct PinArgs {
    /// Read the PIN from this file (mode 0600; one trailing newline is ignored).
    #[arg(long, value_name = "FILE", conflicts_with = "pin_fd")]
    pub pin_file: Option<PathBuf>,
    /// Read the PIN from this inherited file descriptor.
    #[arg(long, value_name = "N")]
    pub pin_fd: Option<u32>,
}

#[derive(Debug, Subcommand)]
pub enum TranscriptCommand {
    /// Check that a transcript is whole: every entry's hash, sequence and
    /// chain, every embedded checkpoint, and (with --checkpoint) that it holds
    /// exactly the checkpointed prefix. It says how many entries at the end
    /// no checkpoint covers, and names every ceremony that never ended with
    /// the certificates it signed and never delivered.
    #[command(after_long_help = "Exit codes:
  0  verified (without --audit-key, entries no checkpoint covers are only reported)
  1  a file cannot be read, or a checkpoint or key file is malformed
  2  a usage error
  3  the transcript does not verify: a changed, removed, reordered or inserted
     entry; a checkpoint that does not verify or whose prefix the file does not
     hold; with --audit-key, no checkpoint at all, or a key other than the one
     the transcript recorded at generate-audit-key
  4  with --audit-key: everything verifies, but the last entries are covered
     by no signature")]
    Verify {
        /// The transcript file (JSON Lines).
        file: PathBuf,
        /// A checkpoint file from the paper record: the transcript must hold
        /// exactly the entries it covers (a cut tail fails).
        #[arg(long, value_name = "CP", requires = "audit_key")]
        checkpoint: Option<PathBuf>,
        /// The audit key's public key (PEM): checks the signature of the
        /// checkpoint and of every checkpoint in the transcript, and that it
        /// is the audit key the transcript recorded. With it, a transcript
        /// with no checkpoint fails, and entries no signature covers exit 4.
        #[arg(long, value_name = "PUB")]
        audit_key: Option<PathBuf>,
        /// An OpenSSH allowed_signers file of the witnesses: the checkpoint
        /// (--checkpoint) must be cosigned by --min-cosigners of them, each
        /// cosignature recorded in the transcript (`transcript cosign`) and
        /// verified again over the checkpoint file's bytes.
        #[arg(long, value_name = "ALLOWED_SIGNERS", requires = "checkpoint")]
        cosigners: Option<PathBuf>,
        /// How many distinct cosigners the checkpoint needs (default 1).
        #[arg(long, value_name = "K", requires = "cosigners", value_parser = clap::value_parser!(u32).range(1..))]
        min_cosigners: Option<u32>,
    },
    /// Record witnesses' cosignatures of a checkpoint file: each witness
    /// signs it with `ssh-keygen -Y sign -f KEY -n ceremony-checkpoint CP`.
    /// Every signature must verify by a distinct signer of --cosigners, and
    /// the checkpoint must be one the transcript holds, or nothing is
    /// recorded (exit 2).
    Cosign {
        /// The transcript file.
        file: PathBuf,
        /// The checkpoint file the witnesses signed.
        #[arg(long, value_name = "CP")]
        checkpoint: PathBuf,
        /// The witnesses' OpenSSH allowed_signers file.
        #[arg(long, value_name = "ALLOWED_SIGNERS")]
        cosigners: PathBuf,
        /// The signature files (CP.sig as ssh-keygen writes it, renamed per witness).
        #[arg(required = true, value_name = "SIG")]
        signatures: Vec<PathBuf>,
    },
    /// Sign a checkpoint of a transcript now, outside a ceremony, with the
    /// audit key in the token; append it and write it to --out.
    Checkpoint(Box<CheckpointArgs>),
    /// Append a note (a deviation, an observation) to a transcript.
    Note {
        /// The transcript file.
        file: PathBuf,
        /// The note.
        text: String,
        /// Who writes it.
        #[arg(long, value_name = "NAME")]
        author: String,
    },
}

/// `ceremony transcript checkpoint`.
#[derive(Debug, Args)]
pub struct CheckpointArgs {
    /// The transcript file.
    pub file: PathBuf,
    /// The PKCS#11 module, for example /usr/lib/softhsm/libsofthsm2.so.
    #[arg(long, value_name = "PATH")]
    pub module: PathBuf,
    #[command(flatten)]
    pub token: TokenArgs,
    #[command(flatten)]
    pub pin: PinArgs,
    /// The audit key's label.
    #[arg(long, value_name = "LABEL", default_value = "ceremony-audit")]
    pub key_label: String,
    /// The origin name (default: the last checkpoint's).
    #[arg(long, value_name = "NAME")]
    pub origin: Option<String>,
    /// Where to write the checkpoint text (replaced if it exists).
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,
}
