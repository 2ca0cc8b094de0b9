use super::*;
use getrandom::SysRng;
use p256::elliptic_curve::ff::PrimeField;
use proptest::prelude::*;

fn random_secret() -> Scalar {
    *NonZeroScalar::try_generate_from_rng(&mut SysRng).expect("os rng")
}

fn deal(m: u8, n: u8) -> (Scalar, Vec<Share>, Commitments) {
    let secret = random_secret();
    let (shares, commitments) = split(&secret, m, n, &mut SysRng).expect("split");
    (secret, shares, commitments)
}

/// Every subset of `items` of size `k`, in lexicographic order of positions.
fn subsets<T: Clone>(items: &[T], k: usize) -> Vec<Vec<T>> {
    if k == 0 {
        return vec![Vec::new()];
    }
    if items.len() < k {
        return Vec::new();
    }
    let mut with: Vec<Vec<T>> = subsets(&items[1..], k - 1)
        .into_iter()
        .map(|mut rest| {
            rest.insert(0, items[0].clone());
            rest
        })
        .collect();
    with.extend(subsets(&items[1..], k));
    with
}

fn every_subset_rebuilds(m: u8, n: u8) {
    let (secret, shares, commitments) = deal(m, n);
    assert_eq!(shares.len(), usize::from(n));
    assert_eq!(commitments.threshold(), m);
    let indices: Vec<u8> = shares.iter().map(|s| s.index).collect();
    assert_eq!(indices, (1..=n).collect::<Vec<_>>());
    assert!(shares.iter().all(|s| verify_share(s, &commitments)));
    let all = subsets(&shares, usize::from(m));
    assert_eq!(all.len(), binomial(n, m));
    for subset in all {
        let rebuilt = combine(&subset, &commitments).expect("m good shares");
        assert_eq!(*rebuilt, secret, "subset {:?}", subset);
    }
}

fn binomial(n: u8, k: u8) -> usize {
    (0..usize::from(k)).fold(1, |acc, i| acc * (usize::from(n) - i) / (i + 1))
}

#[test]
fn seven_of_ten_every_subset_rebuilds_the_secret() {
    every_subset_rebuilds(7, 10);
}

#[test]
fn one_of_n_every_share_is_the_secret() {
    let (secret, shares, commitments) = deal(1, 4);
    for share in &shares {
        assert_eq!(share.value, secret);
        assert_eq!(
            *combine(std::slice::from_ref(share), &commitments).expect("1 of 4"),
            secret
        );
    }
    every_subset_rebuilds(1, 1);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(12))]

    #[test]
    fn every_subset_of_m_rebuilds_the_secret(n in 1u8..=7, m_offset in 0u8..7) {
        let m = 1 + m_offset % n;
        every_subset_rebuilds(m, n);
    }

    #[test]
    fn a_share_with_one_bit_flipped_is_named(bit in 0usize..256, pick in 0usize..5) {
        let (_, shares, commitments) = deal(3, 5);
        let mut given: Vec<Share> = shares[..4].to_vec();
        let target = pick % given.len();
        let mut repr = given[target].value.to_repr();
        repr[bit / 8] ^= 1 << (bit % 8);
        // A flip that leaves the scalar range is no share at all (the file reader refuses it).
        if let Some(altered) = Option::<Scalar>::from(Scalar::from_repr(repr)) {
            given[target].value = altered;
            prop_assert!(!verify_share(&given[target], &commitments));
            prop_assert_eq!(
                combine(&given, &commitments).map(|_| ()),
                Err(CombineError::BadShare { index: given[target].index })
            );
        }
    }

    #[test]
    fn a_share_with_a_changed_index_is_named(bit in 0u32..8) {
        let (_, shares, commitments) = deal(3, 10);
        // Shares 1, 2 and 4 given; share 4 claims another index not given.
        let mut given = vec![shares[0].clone(), shares[1].clone(), shares[3].clone()];
        let changed = 4u8 ^ (1 << bit);
        prop_assume!(changed != 0 && changed != 1 && changed != 2);
        given[2].index = changed;
        prop_assert!(!verify_share(&given[2], &commitments));
        prop_assert_eq!(
            combine(&given, &commitments).map(|_| ()),
            Err(CombineError::BadShare { index: changed })
        );
    }

    #[test]
    fn commitments_hex_round_trips(m in 1u8..=8) {
        let (_, _, commitments) = deal(m, 8);
        let text = commitments.to_hex();
        prop_assert_eq!(text.len(), usize::from(m) * 67 - 1);
        let back = Commitments::from_hex(&text).expect("own output");
        prop_assert_eq!(&back, &commitments);
        prop_assert_eq!(back.fingerprint(), commitments.fingerprint());
    }
}

#[test]
fn fewer_than_the_threshold_are_refused() {
    let (_, shares, commitments) = deal(4, 6);
    for given in 0..4 {
        assert_eq!(
            combine(&shares[..given], &commitments).map(|_| ()),
            Err(CombineError::TooFew {
                given,
                threshold: 4
            })
        );
    }
    // M-1 shares plus a copy of one of them are still only M-1 distinct shares.
    let mut padded = shares[..3].to_vec();
    padded.push(shares[1].clone());
    assert_eq!(
        combine(&padded, &commitments).map(|_| ()),
        Err(CombineError::Duplicate { index: 2 })
    );
}

#[test]
fn more_than_the_threshold_still_rebuilds_and_checks_every_share() {
    let (secret, shares, commitments) = deal(3, 6);
    assert_eq!(*combine(&shares, &commitments).expect("all six"), secret);
    // A bad share beyond the first M is still named, not ignored.
    let mut given = shares.clone();
    given[5].value += Scalar::ONE;
    assert_eq!(
        combine(&given, &commitments).map(|_| ()),
        Err(CombineError::BadShare { index: 6 })
    );
}

#[test]
fn duplicate_and_zero_indices_are_refused() {
    let (_, shares, commitments) = deal(2, 3);
    let twice = vec![shares[2].clone(), shares[2].clone()];
    assert_eq!(
        combine(&twice, &commitments).map(|_| ()),
        Err(CombineError::Duplicate { index: 3 })
    );
    let zero = vec![
        Share {
            index: 0,
            value: shares[0].value,
        },
        shares[1].clone(),
    ];
    assert!(!verify_share(&zero[0], &commitments));
    assert_eq!(
        combine(&zero, &commitments).map(|_| ()),
        Err(CombineError::ZeroIndex)
    );
}

#[test]
fn altered_commitments_are_refused() {
    let (_, shares, commitments) = deal(3, 5);
    for j in 0..3 {
        let mut points = commitments.0.clone();
        points[j] = (ProjectivePoint::from(points[j]) + ProjectivePoint::GENERATOR).to_affine();
        let altered = Commitments(points);
        assert_ne!(altered.fingerprint(), commitments.fingerprint());
        assert!(shares.iter().all(|s| !verify_share(s, &altered)), "C_{j}");
        assert_eq!(
            combine(&shares[..3], &altered).map(|_| ()),
            Err(CombineError::BadShare { index: 1 }),
            "C_{j}"
        );
    }
    // Commitments of another split of the same secret do not fit these shares.
    let secret = random_secret();
    let (first, _) = split(&secret, 2, 3, &mut SysRng).expect("split");
    let (_, other) = split(&secret, 2, 3, &mut SysRng).expect("split");
    assert_eq!(
        other.secret_point(),
        (ProjectivePoint::GENERATOR * secret).to_affine()
    );
    assert!(first.iter().all(|s| !verify_share(s, &other)));
    // Fewer commitments than the shares were made for: the threshold read
    // from them is lower, and the shares do not verify.
    let (_, shares, commitments) = deal(3, 4);
    let truncated = Commitments(commitments.0[..2].to_vec());
    assert_eq!(
        combine(&shares[..2], &truncated).map(|_| ()),
        Err(CombineError::BadShare { index: 1 })
    );
}

#[test]
fn no_share_is_the_secret_when_the_threshold_is_above_one() {
    for (m, n) in [(2, 2), (2, 3), (3, 5), (7, 10)] {
        let (secret, shares, _) = deal(m, n);
        assert!(shares.iter().all(|s| s.value != secret), "{m} of {n}");
    }
}

#[test]
fn split_limits() {
    let secret = random_secret();
    for (m, n) in [(0, 0), (0, 3), (4, 3), (255, 254)] {
        assert!(
            matches!(split(&secret, m, n, &mut SysRng), Err(SplitError::Threshold { m: a, n: b }) if a == m && b == n),
            "{m} of {n}"
        );
    }
    assert!(matches!(
        split(&Scalar::ZERO, 2, 3, &mut SysRng),
        Err(SplitError::ZeroSecret)
    ));
    let (shares, commitments) = split(&secret, 2, 255, &mut SysRng).expect("2 of 255");
    assert_eq!(shares.last().map(|s| s.index), Some(255));
    assert!(verify_share(&shares[254], &commitments));
    assert_eq!(
        *combine(&[shares[254].clone(), shares[0].clone()], &commitments).expect("2 of 255"),
        secret
    );
}

#[derive(Debug)]
struct Broken;

impl std::fmt::Display for Broken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("entropy source broken")
    }
}

impl std::error::Error for Broken {}

impl p256::elliptic_curve::rand_core::TryRng for Broken {
    type Error = Broken;
    fn try_next_u32(&mut self) -> Result<u32, Broken> {
        Err(Broken)
    }
    fn try_next_u64(&mut self) -> Result<u64, Broken> {
        Err(Broken)
    }
    fn try_fill_bytes(&mut self, _: &mut [u8]) -> Result<(), Broken> {
        Err(Broken)
    }
}

impl TryCryptoRng for Broken {}

#[test]
fn a_failing_rng_is_an_error_not_a_weak_split() {
    let err = split(&random_secret(), 2, 3, &mut Broken).expect_err("rng fails");
    assert_eq!(
        err.to_string(),
        "random number generator failed: entropy source broken"
    );
    // 1 of N needs no random coefficient.
    assert!(split(&random_secret(), 1, 3, &mut Broken).is_ok());
}

#[test]
fn commitments_text_is_strict() {
    let (_, _, commitments) = deal(2, 3);
    let text = commitments.to_hex();
    let (first, second) = text.split_once(',').expect("two points");
    assert_eq!(
        Commitments::from_hex(&text.to_uppercase()),
        Err(DecodeError::Hex { position: 0 })
    );
    assert_eq!(
        Commitments::from_hex(""),
        Err(DecodeError::Hex { position: 0 })
    );
    assert_eq!(
        Commitments::from_hex(&format!("{first},")),
        Err(DecodeError::Hex { position: 1 })
    );
    assert_eq!(
        Commitments::from_hex(&format!("{first}, {second}")),
        Err(DecodeError::Hex { position: 1 })
    );
    assert_eq!(
        Commitments::from_hex(&format!("{first},{}", &second[..64])),
        Err(DecodeError::Hex { position: 1 })
    );
    let identity = format!("{first},00{}", "00".repeat(32));
    assert_eq!(
        Commitments::from_hex(&identity),
        Err(DecodeError::Point { position: 1 })
    );
    // Other SEC1 tags over the same x (compact 05, the other parity) are
    // refused or a different point: only the canonical form reads back as itself.
    for tag in ["00", "01", "04", "05", "06", "07"] {
        assert_eq!(
            Commitments::from_hex(&format!("{tag}{}", &first[2..])),
            Err(DecodeError::Point { position: 0 }),
            "tag {tag}"
        );
    }
    let too_many = vec![first; 256].join(",");
    assert_eq!(
        Commitments::from_hex(&too_many),
        Err(DecodeError::Count { count: 256 })
    );
    assert_eq!(
        Commitments::from_hex(&vec![first; 255].join(",")).map(|c| c.threshold()),
        Ok(255)
    );
}

#[test]
fn fingerprint_is_sha256_of_the_compressed_points() {
    let (_, _, commitments) = deal(3, 3);
    let bytes = commitments.to_bytes();
    assert_eq!(bytes.len(), 3 * POINT_BYTES);
    assert!(bytes.chunks(POINT_BYTES).all(|p| p[0] == 2 || p[0] == 3));
    assert_eq!(
        commitments.fingerprint(),
        crate::hex::encode(&Sha256::digest(&bytes))
    );
}

#[test]
fn a_share_never_prints_its_value() {
    let (_, shares, _) = deal(2, 2);
    let printed = format!("{:?}", shares[0]);
    assert_eq!(printed, "Share { index: 1, value: \"[redacted]\" }");
    let hex = crate::hex::encode(&shares[0].value.to_repr());
    assert!(!printed.contains(&hex));
}
