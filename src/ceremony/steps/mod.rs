//! Every step type, listed once. A step type is a module here behind the
//! traits of [`super::step`]; adding one is a new module and one entry in
//! [`TYPES`].

pub mod activate_quorum;
pub mod backup_keys;
pub mod cross_sign;
pub mod custodians;
pub mod generate_audit_key;
pub mod generate_root;
pub mod issue_crl;
pub mod issuer;
pub mod restore_keys;
pub mod sign_requests;

use super::step::StepType;

/// The step types a script may name, by `action`.
pub static TYPES: &[StepType] = &[
    generate_root::TYPE,
    sign_requests::TYPE,
    generate_audit_key::TYPE,
    issue_crl::TYPE,
    backup_keys::TYPE,
    restore_keys::TYPE,
    activate_quorum::TYPE,
    cross_sign::TYPE,
];

/// The step type with this `action`.
pub fn find(action: &str) -> Option<&'static StepType> {
    TYPES.iter().find(|t| t.action == action)
}

/// Every action a script may name, for the error about one it may not.
pub fn actions() -> String {
    TYPES
        .iter()
        .map(|t| t.action)
        .collect::<Vec<_>>()
        .join(", ")
}
