use super::*;
use der::DecodePem;

// Made once with openssl req -x509 (P-256): an old root, a new root
// (pathlen 1), a CA with the old root's key, a leaf, and a CA with another
// key but the old root's subject key identifier.
const OLD: &str = "-----BEGIN CERTIFICATE-----\nMIIBejCCASGgAwIBAgIUIm903eVMh3PQHxX8mopJl1Hnwl8wCgYIKoZIzj0EAwIw\nEzERMA8GA1UEAwwIb2xkLXJvb3QwHhcNMjYxMjAzMDgzNzUyWhcNMzYxMTMwMDgz\nNzUyWjATMREwDwYDVQQDDAhvbGQtcm9vdDBZMBMGByqGSM49AgEGCCqGSM49AwEH\nA0IABAD8DbrlDRINcYyKUWuxC64poQlk7WmJXJrYEiZOcRZjLyD+7vUMZgJ1YGC/\nxqf/gMYqW5pywuz1NMkDx+P8GGijUzBRMB0GA1UdDgQWBBSX9B9IGhenxoz4dIrF\nG02IOHByEzAfBgNVHSMEGDAWgBSX9B9IGhenxoz4dIrFG02IOHByEzAPBgNVHRMB\nAf8EBTADAQH/MAoGCCqGSM49BAMCA0cAMEQCIEsd4mJ+j9qD8hYSETVPFuNT9b0I\nUoVLB3ReXCTopOasAiBU+pmQLjzNENSW0PMtJEqftGF7Qw0ifbjWJRjhkv4JBg==\n-----END CERTIFICATE-----\n";
const NEW: &str = "-----BEGIN CERTIFICATE-----\nMIIBfTCCASSgAwIBAgIUY86j/zahU/w3RHJHRY9X1h9cSjgwCgYIKoZIzj0EAwIw\nEzERMA8GA1UEAwwIbmV3LXJvb3QwHhcNMjYxMjAzMDgzNzUyWhcNMzYxMTMwMDgz\nNzUyWjATMREwDwYDVQQDDAhuZXctcm9vdDBZMBMGByqGSM49AgEGCCqGSM49AwEH\nA0IABD3I+hWHFXji6sGAHYGcEg7ekTTyVGx5ke4NvzUYxf9Jz8vFbg/cSbBjJEYK\nrZMh27OdJj4ai0s4GV2qJDxGww+jVjBUMB0GA1UdDgQWBBReIrXY4WVMz9kuos+v\n1n4/ldWFeDAfBgNVHSMEGDAWgBReIrXY4WVMz9kuos+v1n4/ldWFeDASBgNVHRMB\nAf8ECDAGAQH/AgEBMAoGCCqGSM49BAMCA0cAMEQCIBu1UP0QyXj+uCkz8zKm2nTF\nuw/RBeRKO8/RMpDQ5mW7AiBvbt4VrXIPNporUwdIk0sice/Sv2kfkBPO8ahGvNYw\n2w==\n-----END CERTIFICATE-----\n";
const SAME_KEY: &str = "-----BEGIN CERTIFICATE-----\nMIIBezCCASGgAwIBAgIUUo175C7G92TidsUrjon3zdc/UwAwCgYIKoZIzj0EAwIw\nEzERMA8GA1UEAwwIc2FtZS1rZXkwHhcNMjYxMjAzMDgzNzUyWhcNMzYxMTMwMDgz\nNzUyWjATMREwDwYDVQQDDAhzYW1lLWtleTBZMBMGByqGSM49AgEGCCqGSM49AwEH\nA0IABAD8DbrlDRINcYyKUWuxC64poQlk7WmJXJrYEiZOcRZjLyD+7vUMZgJ1YGC/\nxqf/gMYqW5pywuz1NMkDx+P8GGijUzBRMB0GA1UdDgQWBBSX9B9IGhenxoz4dIrF\nG02IOHByEzAfBgNVHSMEGDAWgBSX9B9IGhenxoz4dIrFG02IOHByEzAPBgNVHRMB\nAf8EBTADAQH/MAoGCCqGSM49BAMCA0gAMEUCIChCA6GVbzN6oUxKHO51KvknxflJ\nUuJQ45lvxrW7dn9cAiEAyT/5fV0pNvEAzwQJSm70usisXbL+s13BCKOAY9c6gsY=\n-----END CERTIFICATE-----\n";
const LEAF: &str = "-----BEGIN CERTIFICATE-----\nMIIBcDCCARagAwIBAgIUCWvRCKuRvxNGZ5peoCZZXn5wiIAwCgYIKoZIzj0EAwIw\nDzENMAsGA1UEAwwEbGVhZjAeFw0yNjEyMDMwODM3NTJaFw0yNzAxMDIwODM3NTJa\nMA8xDTALBgNVBAMMBGxlYWYwWTATBgcqhkjOPQIBBggqhkjOPQMBBwNCAAQu9Gh7\nXfFy0pKa0CWd/Y/4sy6b2+5XwW8i1jazPmwqpQsSbxDlgwDbrmGUhPIRyIMcZMI/\nzlCAMu6AsdUJ3y9vo1AwTjAdBgNVHQ4EFgQUhEKMh6e279NQlmH/oYaBxKstgN4w\nHwYDVR0jBBgwFoAUhEKMh6e279NQlmH/oYaBxKstgN4wDAYDVR0TAQH/BAIwADAK\nBggqhkjOPQQDAgNIADBFAiA3gTyIQQmDd1e74+AeIWIe9byjHbyL0N9bZKIsFPhk\n6wIhAIPprmCJvKRATCyWcIfPi/wkPslWSKIujDcJLSI0jUtX\n-----END CERTIFICATE-----\n";
const SAME_SKI: &str = "-----BEGIN CERTIFICATE-----\nMIIBezCCASGgAwIBAgIURXFdKFMMKcp+0CH2bTtMV5jwy8UwCgYIKoZIzj0EAwIw\nEzERMA8GA1UEAwwIc2FtZS1za2kwHhcNMjYxMjAzMDgzNzUyWhcNMzYxMTMwMDgz\nNzUyWjATMREwDwYDVQQDDAhzYW1lLXNraTBZMBMGByqGSM49AgEGCCqGSM49AwEH\nA0IABA/vK3FBwVyY6GdvMlWS7ufpBERsfBFg8McVW+YfTAYWCnz45TthvSzzqDtw\nXKIcR2ouVL5VxVvimoBK0RxgB8SjUzBRMB8GA1UdIwQYMBaAFIfDrvOkIJBGqyqx\n7/9p+KwVTcJDMA8GA1UdEwEB/wQFMAMBAf8wHQYDVR0OBBYEFJf0H0gaF6fGjPh0\nisUbTYg4cHITMAoGCCqGSM49BAMCA0gAMEUCIQDe5ymjqui/+3y5bo1eUAYNb+Zo\nG6EgTEr/n1QDE5te+QIgTWt0UGm8eVPiRekEXQgeoArlM2QsW5lv0OME+FBwj/o=\n-----END CERTIFICATE-----\n";

fn cert(pem: &str) -> Certificate {
    Certificate::from_pem(pem.as_bytes()).expect("a test certificate")
}

#[test]
fn a_link_takes_the_subjects_name_key_id_and_constraints_and_the_issuers_name() {
    let (old, new) = (cert(OLD), cert(NEW));
    let link = LinkProfile::new(&old, &new).expect("links");
    assert_eq!(link.subject(), "CN=new-root");
    assert_eq!(link.issuer(), "CN=old-root");
    assert_eq!(link.path_len(), Some(1));
    assert_eq!(link.subject_key_id, subject_key_id(&new).expect("ski"));
    assert_eq!(link.issuer_key_id, subject_key_id(&old).expect("ski"));
    // And the reverse.
    let back = LinkProfile::new(&new, &old).expect("links back");
    assert_eq!(back.subject(), "CN=old-root");
    assert_eq!(back.path_len(), None);
}

#[test]
fn pairs_that_cannot_link_are_refused_with_the_rule() {
    let old = cert(OLD);
    for (pem, rule) in [
        (SAME_KEY, "has the issuer's own public key"),
        (LEAF, "is not a CA certificate"),
        (SAME_SKI, "has the issuer's subject key identifier"),
        (OLD, "has the issuer's own public key"),
    ] {
        let err = LinkProfile::new(&old, &cert(pem)).expect_err(rule);
        assert!(err.contains(rule), "{err:?} does not say {rule:?}");
    }
}
