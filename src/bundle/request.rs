//! Request bundles: the requester seals CSRs and a manifest into a tar, and
//! the ceremony opens it against the SHA-256 pinned in the approved script.
//!
//! Layout: each CSR's DER bytes as `csr/<id>.csr`, in request order, then
//! `manifest.json` (a [`RequestManifest`]) last. Every member but the
//! manifest belongs to exactly one request, and the manifest pins each CSR's
//! SHA-256. Bundles sealed before sealing streamed hold `manifest.json`
//! first; reading finds members by name, in any order.
//!
//! This module owns the request-bundle format. It never parses a byte of a
//! bundle before the whole file matches the pinned digest, and it does not
//! judge a CSR: that is for `x509` and `profile`.
//!
//! Sealing streams ([`RequestWriter`]): each CSR is checked, hashed and
//! appended to the tar in a temporary file beside the bundle as it comes,
//! so only the manifest entries are held in memory, and the file is renamed
//! into place once `manifest.json` is written. A failure leaves neither the
//! bundle nor the temporary file.
//!
//! A bundle is never held in memory whole (one can be over 100 MB). Opening
//! copies it, in 1 MiB chunks, into a private temporary file while hashing
//! it: a file in the temporary directory that has no name (`O_TMPFILE`, or
//! where the file system lacks it a random name created 0600 and unlinked
//! at once), so only this process can reach it. The digest is compared
//! once the copy is complete, and from then on every byte that is parsed
//! or handed out is read from that copy, never from `path` again: a bundle
//! changed on disk after its digest was checked (a time-of-check to
//! time-of-use race) can be neither parsed nor signed. The size limit is
//! checked on the file before the copy starts and again while copying, so a
//! file that grows while it is read is cut off at the limit. Tar headers are
//! walked with `pread`; only the manifest is read into memory whole, and a
//! CSR only while it is hashed or handed out.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::ops::Range;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::Digest;

use super::archive::FileSource;
use super::stream::{Again, TarStream};
use super::{
    archive, io_err, is_sha256_hex, refuse_existing, sha256_hex, Digesting, Error, Result,
    MANIFEST, MAX_CSR_BYTES, MAX_MANIFEST_BYTES, MAX_MEMBERS, MAX_REQUEST_BUNDLE_BYTES,
};
use crate::fsutil;

/// The `format` of a request bundle's manifest.
pub const FORMAT: &str = "ceremony-request-bundle/1";

/// The longest request id.
const MAX_ID_LEN: usize = 63;

/// A request bundle's `manifest.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RequestManifest {
    /// Always [`FORMAT`].
    pub format: String,
    /// The requests, in the order they are judged and signed.
    pub requests: Vec<RequestEntry>,
}

/// One request: a CSR and what the requester asks for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RequestEntry {
    /// Unique within the bundle; `[a-z0-9][a-z0-9.-]{0,62}`.
    pub id: String,
    /// The profile to judge and sign the request under.
    pub profile: String,
    /// The CSR's member name, `csr/<id>.csr` (filled in by [`seal`]).
    #[serde(default)]
    pub csr: String,
    /// The hex SHA-256 of the CSR member (filled in by [`seal`]).
    #[serde(default)]
    pub csr_sha256: String,
    /// The node the certificate is for, where the profile needs one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
    /// Requested DNS names.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dns: Vec<String>,
    /// Requested IP addresses.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ips: Vec<String>,
    /// Requested email addresses.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub emails: Vec<String>,
    /// Requested URIs.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub uris: Vec<String>,
    /// Requested validity in days, where the profile allows a choice.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub validity_days: Option<u32>,
    /// Where the certificate goes in kubeadm's `pki/` tree.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kubeadm_path: Option<String>,
    /// The kubeadm kubeconfig file that embeds the certificate (`admin.conf`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kubeconfig: Option<String>,
}

impl RequestEntry {
    /// Checks the entry against the request limits of
    /// [`crate::profile::limits`] (SAN count and lengths, node name, profile
    /// name, `kubeadm_path` and `kubeconfig` lengths); returns the rule broken.
    /// Sealing refuses such a request, and opening refuses such a bundle,
    /// so nothing unbounded from a request reaches a message or the transcript.
    pub fn check_bounds(&self) -> std::result::Result<(), String> {
        use crate::profile::limits::{self, MAX_FILE_NAME_LEN, MAX_PROFILE_NAME_LEN};
        limits::check_len("profile", &self.profile, MAX_PROFILE_NAME_LEN)?;
        if let Some(path) = &self.kubeadm_path {
            limits::check_len("kubeadm_path", path, MAX_FILE_NAME_LEN)?;
        }
        if let Some(conf) = &self.kubeconfig {
            limits::check_len("kubeconfig", conf, MAX_FILE_NAME_LEN)?;
        }
        limits::check_params(&crate::profile::RequestParams {
            node: self.node.as_deref(),
            dns: &self.dns,
            ips: &self.ips,
            emails: &self.emails,
            uris: &self.uris,
            validity_days: self.validity_days,
        })
    }
}

/// Writes a new request bundle at `path` from `requests` and returns its
/// SHA-256 (hex): a [`RequestWriter`] given each request in turn.
///
/// Duplicate ids, ids outside the pattern, empty or oversized CSRs, no
/// requests at all and an existing `path` are refused; the file is written
/// under a temporary name and renamed into place, so a failure leaves nothing.
pub fn seal(
    path: &Path,
    requests: impl IntoIterator<Item = (RequestEntry, Vec<u8>)>,
) -> Result<String> {
    let mut writer = RequestWriter::create(path)?;
    for (entry, der) in requests {
        writer.add(entry, &der)?;
    }
    writer.finish()
}

/// Streams a new request bundle: each CSR is checked, hashed and appended
/// to the tar as it is added, in a temporary file beside the bundle, and
/// only the manifest entries stay in memory. [`RequestWriter::finish`]
/// appends `manifest.json` last and renames the file into place.
///
/// A request refused by [`RequestWriter::add`] is not written and the
/// writer stays usable; after a failed write to the file it refuses
/// everything. Dropping it before `finish` removes the temporary file.
pub struct RequestWriter {
    /// The bundle, named in errors.
    path: PathBuf,
    /// The tar, hashed on its way into the temporary file.
    tar: TarStream<BufWriter<Digesting<File>>>,
    /// The temporary file's name. Declared after `out`, so the file is
    /// closed before it is removed.
    tmp: fsutil::TempName,
    /// The ids so far, to refuse duplicates.
    ids: HashSet<String>,
    /// The manifest entries so far, with `csr` and `csr_sha256` filled in.
    entries: Vec<RequestEntry>,
}

impl fmt::Debug for RequestWriter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RequestWriter")
            .field("path", &self.path)
            .field("requests", &self.entries.len())
            .field("tar_len", &self.tar.len())
            .finish_non_exhaustive()
    }
}

impl RequestWriter {
    /// Refuses an existing `path`, then creates the temporary file (0644)
    /// beside it.
    pub fn create(path: &Path) -> Result<RequestWriter> {
        refuse_existing(path)?;
        // Not ours when the name is taken (a leftover of this process id,
        // or a squatter): it is left alone.
        let (file, tmp) = fsutil::create_beside(path, 0o644).map_err(io_err(path, "write"))?;
        Ok(RequestWriter {
            path: path.to_path_buf(),
            tar: TarStream::new(BufWriter::new(Digesting::new(file, u64::MAX))),
            tmp,
            ids: HashSet::new(),
            entries: Vec::new(),
        })
    }

    /// Checks one request and appends its CSR to the tar as `csr/<id>.csr`.
    ///
    /// Refuses an id outside `[a-z0-9][a-z0-9.-]{0,62}` or seen before, an
    /// entry over the request limits ([`RequestEntry::check_bounds`]), an
    /// empty CSR or one over [`MAX_CSR_BYTES`], and a request that would
    /// take the tar over [`MAX_MEMBERS`] (counting `manifest.json`) or over
    /// [`MAX_REQUEST_BUNDLE_BYTES`] (counting the end-of-archive marker;
    /// the manifest's own size is checked by [`RequestWriter::finish`]). A
    /// refused request is not written. `entry.csr` and `entry.csr_sha256`
    /// are filled in here.
    pub fn add(&mut self, mut entry: RequestEntry, der: &[u8]) -> Result<()> {
        self.check_usable()?;
        let fail = |rule: String| Error::Request {
            path: self.path.clone(),
            id: entry.id.clone(),
            rule,
        };
        check_id(&entry.id).map_err(fail)?;
        if self.ids.contains(&entry.id) {
            return Err(fail("duplicate id".into()));
        }
        entry.check_bounds().map_err(fail)?;
        if der.is_empty() {
            return Err(fail("CSR is empty".into()));
        }
        let size = der.len() as u64;
        if size > MAX_CSR_BYTES {
            return Err(fail(format!(
                "CSR is {size} bytes, over the limit of {MAX_CSR_BYTES} bytes"
            )));
        }
        // This CSR and manifest.json.
        if self.entries.len() + 2 > MAX_MEMBERS {
            return Err(Error::Archive {
                path: self.path.clone(),
                rule: format!("more than {MAX_MEMBERS} members"),
            });
        }
        let at_least = self.tar.len_with(&[size]);
        if at_least > MAX_REQUEST_BUNDLE_BYTES {
            return Err(Error::TooLarge {
                path: self.path.clone(),
                size: at_least,
                limit: MAX_REQUEST_BUNDLE_BYTES,
            });
        }
        let name = format!("csr/{}.csr", entry.id);
        let member_err = |rule: String| Error::Member {
            path: self.path.clone(),
            member: name.clone(),
            rule,
        };
        archive::check_name(&name).map_err(member_err)?;
        let header = archive::header(&name, size).map_err(member_err)?;

        self.tar
            .append(&header, der)
            .map_err(io_err(&self.path, "write"))?;
        self.ids.insert(entry.id.clone());
        entry.csr = name;
        entry.csr_sha256 = sha256_hex(der);
        self.entries.push(entry);
        Ok(())
    }

    /// Appends `manifest.json` (pretty JSON of the manifest with
    /// [`FORMAT`], then a newline) as the last member and the
    /// end-of-archive marker, fsyncs the file, renames it into place
    /// (never over an existing file) and returns the bundle's SHA-256 (hex).
    ///
    /// Refuses a bundle with no requests, a manifest over
    /// [`MAX_MANIFEST_BYTES`] and a tar over [`MAX_REQUEST_BUNDLE_BYTES`].
    /// The manifest is encoded twice, first only to learn its size for the
    /// tar header, so it is never held in memory as JSON.
    pub fn finish(self) -> Result<String> {
        self.check_usable()?;
        let RequestWriter {
            path,
            mut tar,
            tmp,
            entries,
            ..
        } = self;
        if entries.is_empty() {
            return Err(Error::Invalid {
                path,
                rule: "no requests to seal".into(),
            });
        }
        let manifest = RequestManifest {
            format: FORMAT.to_string(),
            requests: entries,
        };
        let encode = |out: &mut dyn Write| -> io::Result<()> {
            serde_json::to_writer_pretty(&mut *out, &manifest)?;
            out.write_all(b"\n")
        };
        let manifest_err = |rule: String| Error::Manifest {
            path: path.clone(),
            rule,
        };
        let mut first = Digesting::new(io::sink(), u64::MAX);
        encode(&mut first).map_err(|e| manifest_err(format!("cannot encode: {e}")))?;
        let (json_len, json_sha256) = (first.len, first.digest());
        if json_len > MAX_MANIFEST_BYTES {
            return Err(manifest_err(format!(
                "{json_len} bytes, over the limit of {MAX_MANIFEST_BYTES} bytes"
            )));
        }
        let tar_len = tar.len_with(&[json_len]);
        if tar_len > MAX_REQUEST_BUNDLE_BYTES {
            return Err(Error::TooLarge {
                path: path.clone(),
                size: tar_len,
                limit: MAX_REQUEST_BUNDLE_BYTES,
            });
        }
        let header = archive::header(MANIFEST, json_len).map_err(|rule| Error::Member {
            path: path.clone(),
            member: MANIFEST.into(),
            rule,
        })?;

        tar.append_again(&header, json_len, json_sha256, encode)
            .map_err(|e| match e {
                Again::Io(e) => io_err(&path, "write")(e),
                Again::Differs { .. } => manifest_err(
                    "encoded to different bytes the second time; the bundle is not written".into(),
                ),
            })?;
        let Digesting {
            inner: file,
            sha256,
            ..
        } = tar.end().map_err(io_err(&path, "write")).and_then(|out| {
            out.into_inner()
                .map_err(|e| io_err(&path, "write")(e.into_error()))
        })?;
        file.sync_all().map_err(io_err(&path, "sync"))?;
        drop(file);
        tmp.place_new(&path).map_err(|e| {
            if e.kind() == io::ErrorKind::AlreadyExists {
                Error::Exists { path: path.clone() }
            } else {
                io_err(&path, "move into place")(e)
            }
        })?;
        Ok(crate::hex::encode(&sha256.finalize()))
    }

    /// Refuses to go on after a failed write, which left the tar incomplete.
    fn check_usable(&self) -> Result<()> {
        if self.tar.is_broken() {
            return Err(Error::Invalid {
                path: self.path.clone(),
                rule: "an earlier write to the bundle failed; it cannot be completed".into(),
            });
        }
        Ok(())
    }
}

/// A request bundle checked against its pinned digest. It may be shared
/// between threads (`Sync`): every read is a `pread` of the private copy.
pub struct RequestBundle {
    /// Where it was read from.
    pub path: PathBuf,
    /// Its SHA-256 (lowercase hex), equal to the pinned digest.
    pub sha256: String,
    /// Its manifest, checked against the members.
    pub manifest: RequestManifest,
    /// The private copy of the tar, the bytes whose digest was checked.
    copy: FileSource,
    /// CSR member name → its bytes within `copy`.
    csrs: HashMap<String, Range<u64>>,
}

impl fmt::Debug for RequestBundle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RequestBundle")
            .field("path", &self.path)
            .field("sha256", &self.sha256)
            .field("manifest", &self.manifest)
            .field("bytes", &archive::Source::size(&self.copy))
            .finish_non_exhaustive()
    }
}

impl RequestBundle {
    /// Opens the bundle at `path` and checks it, in this order: the file size
    /// against [`MAX_REQUEST_BUNDLE_BYTES`]; its SHA-256 against
    /// `expected_sha256` (hex, either case) before anything is parsed; the
    /// strict tar rules; `manifest.json` (unknown fields refused, `format` must
    /// be [`FORMAT`]); the ids and the request limits
    /// ([`RequestEntry::check_bounds`]); and every CSR member against its entry, with
    /// every member other than the manifest used by exactly one request.
    ///
    /// Everything after the size check reads a private copy of the file made
    /// in [`std::env::temp_dir`] (see the module documentation).
    pub fn open(path: &Path, expected_sha256: &str) -> Result<RequestBundle> {
        RequestBundle::open_with_tmp(path, expected_sha256, &std::env::temp_dir())
    }

    /// [`RequestBundle::open`], with the private copy made in `tmp_dir`.
    fn open_with_tmp(path: &Path, expected_sha256: &str, tmp_dir: &Path) -> Result<RequestBundle> {
        if !is_sha256_hex(expected_sha256) {
            return Err(Error::Invalid {
                path: path.to_path_buf(),
                rule: format!("pinned digest {expected_sha256:?} is not 64 hex digits"),
            });
        }
        let expected = expected_sha256.to_ascii_lowercase();
        let (copy, actual) = super::copy_private(path, MAX_REQUEST_BUNDLE_BYTES, tmp_dir)?;
        if actual != expected {
            return Err(Error::Digest {
                path: path.to_path_buf(),
                expected,
                actual,
            });
        }
        // From here on only the private copy is read.
        let members = archive::read(path, &copy, |name| {
            if name == MANIFEST {
                MAX_MANIFEST_BYTES
            } else {
                MAX_CSR_BYTES
            }
        })?;
        let manifest_err = |rule: String| Error::Manifest {
            path: path.to_path_buf(),
            rule,
        };
        let by_name: HashMap<&str, &Range<u64>> = members
            .iter()
            .map(|m| (m.name.as_str(), &m.range))
            .collect();
        let manifest_range = by_name
            .get(MANIFEST)
            .ok_or_else(|| manifest_err("missing from the bundle".into()))?;
        // Bounded by MAX_MANIFEST_BYTES: archive::read checked the size.
        let json = copy
            .read_range(manifest_range)
            .map_err(io_err(path, "read"))?;
        let manifest: RequestManifest =
            serde_json::from_slice(&json).map_err(|e| manifest_err(e.to_string()))?;
        drop(json);
        if manifest.format != FORMAT {
            return Err(manifest_err(format!(
                "format is {:?}, expected {FORMAT:?}",
                manifest.format
            )));
        }
        if manifest.requests.is_empty() {
            return Err(manifest_err("lists no requests".into()));
        }
        let mut ids = HashSet::new();
        for entry in &manifest.requests {
            let fail = |rule: String| Error::Request {
                path: path.to_path_buf(),
                id: entry.id.clone(),
                rule,
            };
            check_id(&entry.id).map_err(fail)?;
            if !ids.insert(entry.id.as_str()) {
                return Err(fail("duplicate id".into()));
            }
            entry.check_bounds().map_err(fail)?;
        }
        let mut csrs: HashMap<String, Range<u64>> = HashMap::new();
        let mut used_by: HashMap<&str, &str> = HashMap::new();
        for entry in &manifest.requests {
            let fail = |rule: String| Error::Request {
                path: path.to_path_buf(),
                id: entry.id.clone(),
                rule,
            };
            if entry.csr == MANIFEST {
                return Err(fail("csr names manifest.json, which is not a CSR".into()));
            }
            let Some(range) = by_name.get(entry.csr.as_str()) else {
                return Err(fail(format!(
                    "CSR member {:?} is missing from the bundle",
                    entry.csr
                )));
            };
            if let Some(other) = used_by.insert(&entry.csr, &entry.id) {
                return Err(fail(format!(
                    "CSR member {:?} is also used by request {other:?}",
                    entry.csr
                )));
            }
            if !is_sha256_hex(&entry.csr_sha256) {
                return Err(fail(format!(
                    "csr_sha256 {:?} is not 64 hex digits",
                    entry.csr_sha256
                )));
            }
            // One CSR at a time, dropped once hashed.
            let der = copy.read_range(range).map_err(io_err(path, "read"))?;
            let actual = sha256_hex(&der);
            if actual != entry.csr_sha256.to_ascii_lowercase() {
                return Err(fail(format!(
                    "CSR member {:?}: SHA-256 mismatch: manifest says {}, actual {actual}",
                    entry.csr, entry.csr_sha256
                )));
            }
            csrs.insert(entry.csr.clone(), (*range).clone());
        }
        if let Some(extra) = members
            .iter()
            .find(|m| m.name != MANIFEST && !used_by.contains_key(m.name.as_str()))
        {
            return Err(Error::Member {
                path: path.to_path_buf(),
                member: extra.name.clone(),
                rule: "not the CSR of any request in manifest.json".into(),
            });
        }
        Ok(RequestBundle {
            path: path.to_path_buf(),
            sha256: actual,
            manifest,
            copy,
            csrs,
        })
    }

    /// The CSR bytes for an entry of this bundle's manifest, read from the
    /// private copy. An entry whose `csr` member this bundle does not hold is
    /// an error naming the member.
    pub fn csr(&self, entry: &RequestEntry) -> Result<Vec<u8>> {
        let range = self.csrs.get(&entry.csr).ok_or_else(|| Error::Member {
            path: self.path.clone(),
            member: entry.csr.clone(),
            rule: "not the CSR of any request in this bundle".into(),
        })?;
        // The SHA-256 is not checked again: `open` checked these very bytes,
        // and nothing but this process can reach the private copy.
        self.copy
            .read_range(range)
            .map_err(io_err(&self.path, "read"))
    }
}

/// Checks a request id against `[a-z0-9][a-z0-9.-]{0,62}`; returns the rule broken.
fn check_id(id: &str) -> std::result::Result<(), String> {
    let bytes = id.as_bytes();
    let ok = !bytes.is_empty()
        && bytes.len() <= MAX_ID_LEN
        && (bytes[0].is_ascii_lowercase() || bytes[0].is_ascii_digit())
        && bytes
            .iter()
            .all(|&b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-');
    if ok {
        Ok(())
    } else {
        Err("id must be 1 to 63 of a-z, 0-9, '.', '-', starting with a letter or digit".into())
    }
}

#[cfg(test)]
mod tests;
