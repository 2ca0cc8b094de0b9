//! Benchmark probe: the token's raw signing rate for one key, the ceiling a
//! batch ceremony can reach. Uses cryptoki directly, not the tool's signer.
//!
//! ```text
//! cargo run --release --example token_rate -- --module PATH --token LABEL \
//!     --pin-file FILE --key LABEL [--count M] [--sessions S]
//! ```
//!
//! Loads the module, finds the token by label, logs in with the PIN read
//! from FILE, finds the private key by label and times M `C_Sign` calls:
//! `CKM_ECDSA` over 32-byte (P-256) or 48-byte (P-384) digests, or
//! `CKM_SHA256_RSA_PKCS` over a 512-byte message shaped like a TBS
//! certificate. With S sessions (default 1, what `ceremony run` uses today)
//! each session signs M/S times on its own thread. Prints one line:
//! `key=p256 sessions=1 signs=M seconds=… signs_per_s=…`.

use std::path::PathBuf;
use std::time::Instant;

use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::mechanism::Mechanism;
use cryptoki::object::{Attribute, AttributeType, KeyType, ObjectClass, ObjectHandle};
use cryptoki::session::{Session, UserType};
use cryptoki::types::AuthPin;
use sha2::{Digest, Sha256};

struct Args {
    module: PathBuf,
    token: String,
    pin_file: PathBuf,
    key: String,
    count: usize,
    sessions: usize,
}

fn usage() -> ! {
    eprintln!(
        "usage: token_rate --module PATH --token LABEL --pin-file FILE --key LABEL [--count M] [--sessions S]"
    );
    std::process::exit(2);
}

fn parse_args() -> Args {
    let (mut module, mut token, mut pin_file, mut key) = (None, None, None, None);
    let (mut count, mut sessions) = (5000, 1);
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let value = args.next().unwrap_or_else(|| usage());
        match flag.as_str() {
            "--module" => module = Some(PathBuf::from(value)),
            "--token" => token = Some(value),
            "--pin-file" => pin_file = Some(PathBuf::from(value)),
            "--key" => key = Some(value),
            "--count" => count = value.parse().unwrap_or_else(|_| usage()),
            "--sessions" => sessions = value.parse().unwrap_or_else(|_| usage()),
            _ => usage(),
        }
    }
    match (module, token, pin_file, key) {
        (Some(module), Some(token), Some(pin_file), Some(key)) if count > 0 && sessions > 0 => {
            Args {
                module,
                token,
                pin_file,
                key,
                count,
                sessions,
            }
        }
        _ => usage(),
    }
}

fn fail(what: &str, e: impl std::fmt::Display) -> ! {
    eprintln!("error: {what}: {e}");
    std::process::exit(1);
}

/// The mechanism to sign with (cryptoki's `Mechanism` cannot cross threads).
#[derive(Clone, Copy)]
enum Mech {
    /// `CKM_ECDSA` over a digest.
    Ecdsa,
    /// `CKM_SHA256_RSA_PKCS`: the token hashes and pads.
    Sha256RsaPkcs,
}

/// What to sign with the key and how: the mechanism, the input length and a name.
fn mechanism(session: &Session, key: ObjectHandle) -> (Mech, usize, String) {
    let attrs = session
        .get_attributes(key, &[AttributeType::KeyType, AttributeType::EcParams])
        .unwrap_or_else(|e| fail("C_GetAttributeValue", e));
    let key_type = attrs.iter().find_map(|a| match a {
        Attribute::KeyType(k) => Some(*k),
        _ => None,
    });
    let ec_params = attrs.iter().find_map(|a| match a {
        Attribute::EcParams(p) => Some(p.clone()),
        _ => None,
    });
    match key_type {
        Some(KeyType::EC) => {
            // DER OID 1.3.132.0.34 is P-384; anything else is taken as P-256.
            let p384 = ec_params.as_deref() == Some(&[0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22]);
            if p384 {
                (Mech::Ecdsa, 48, "p384".into())
            } else {
                (Mech::Ecdsa, 32, "p256".into())
            }
        }
        Some(KeyType::RSA) => {
            // A private key has no CKA_MODULUS_BITS in SoftHSM; its modulus is public.
            let bits = session
                .get_attributes(key, &[AttributeType::Modulus])
                .ok()
                .and_then(|a| {
                    a.iter().find_map(|a| match a {
                        Attribute::Modulus(m) => Some(m.len() * 8),
                        _ => None,
                    })
                });
            let name = bits.map_or("rsa".to_string(), |b| format!("rsa{b}"));
            (Mech::Sha256RsaPkcs, 512, name)
        }
        other => fail("key type", format!("{other:?} is not EC or RSA")),
    }
}

fn sign_loop(session: &Session, key: ObjectHandle, mech: Mech, len: usize, n: usize) {
    let mech = match mech {
        Mech::Ecdsa => Mechanism::Ecdsa,
        Mech::Sha256RsaPkcs => Mechanism::Sha256RsaPkcs,
    };
    for i in 0..n {
        let seed = Sha256::digest((i as u64).to_be_bytes());
        let data: Vec<u8> = seed.iter().copied().cycle().take(len).collect();
        session
            .sign(&mech, key, &data)
            .unwrap_or_else(|e| fail("C_Sign", e));
    }
}

fn main() {
    let args = parse_args();
    let ctx = Pkcs11::new(&args.module)
        .unwrap_or_else(|e| fail(&format!("module {}", args.module.display()), e));
    ctx.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK))
        .unwrap_or_else(|e| fail("C_Initialize", e));
    let slot = ctx
        .get_slots_with_token()
        .unwrap_or_else(|e| fail("C_GetSlotList", e))
        .into_iter()
        .find(|s| {
            ctx.get_token_info(*s)
                .is_ok_and(|i| i.label().trim_end() == args.token)
        })
        .unwrap_or_else(|| fail("token", format!("no token labelled {:?}", args.token)));
    let mut sessions: Vec<Session> = (0..args.sessions)
        .map(|_| {
            ctx.open_ro_session(slot)
                .unwrap_or_else(|e| fail("C_OpenSession", e))
        })
        .collect();
    let pin = std::fs::read_to_string(&args.pin_file)
        .unwrap_or_else(|e| fail(&format!("PIN file {}", args.pin_file.display()), e));
    let pin = AuthPin::from(pin.trim_end_matches(['\r', '\n']).to_string());
    // Login state belongs to the token, so one login covers every session.
    sessions[0]
        .login(UserType::User, Some(&pin))
        .unwrap_or_else(|e| fail("C_Login", e));
    drop(pin);
    let key = sessions[0]
        .find_objects(&[
            Attribute::Class(ObjectClass::PRIVATE_KEY),
            Attribute::Label(args.key.as_bytes().to_vec()),
        ])
        .unwrap_or_else(|e| fail("C_FindObjects", e))
        .into_iter()
        .next()
        .unwrap_or_else(|| fail("key", format!("no private key labelled {:?}", args.key)));
    let (mech, len, name) = mechanism(&sessions[0], key);
    // One untimed signature: first-use costs (key unwrap in SoftHSM) stay out.
    sign_loop(&sessions[0], key, mech, len, 1);

    let per_session = args.count.div_ceil(args.sessions);
    let started = Instant::now();
    std::thread::scope(|scope| {
        for session in &mut sessions {
            scope.spawn(move || sign_loop(session, key, mech, len, per_session));
        }
    });
    let seconds = started.elapsed().as_secs_f64();
    let signs = per_session * args.sessions;
    println!(
        "key={name} sessions={} signs={signs} seconds={seconds:.3} signs_per_s={:.0}",
        args.sessions,
        signs as f64 / seconds
    );
}
