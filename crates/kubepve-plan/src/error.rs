//! Why a spec cannot be turned into a desired guest: the checks the CRD schema cannot express.
//!
//! Every message names the spec field to fix, because it ends up in the object's Stalled
//! condition and in `pvectl apply` output, where the user reads it and edits the YAML.

use kubepve_api::QuantityError;

/// A spec that the planner refuses, with the field to fix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    /// A quantity field does not parse to whole bytes.
    #[error("{field}: {source}")]
    Quantity {
        /// The spec field, such as `memory` or `disks[scsi0].size`.
        field: String,
        /// What is wrong with the quantity.
        source: QuantityError,
    },
    /// Memory (or swap) that is not a whole number of MiB.
    #[error(
        "{field}: {value} is not a whole number of MiB; Proxmox counts memory in MiB (use Mi or Gi)"
    )]
    NotWholeMib {
        /// The spec field.
        field: String,
        /// The quantity as written.
        value: String,
    },
    /// Memory below the 16 MiB Proxmox accepts.
    #[error("{field}: {value} is less than the 16Mi Proxmox accepts")]
    MemoryTooSmall {
        /// The spec field.
        field: String,
        /// The quantity as written.
        value: String,
    },
    /// A size too large for Proxmox's integer fields.
    #[error("{field}: {value} is too large")]
    TooLarge {
        /// The spec field.
        field: String,
        /// The quantity as written.
        value: String,
    },
    /// An extraConfig key that is not a Proxmox option name.
    #[error(
        "extraConfig: key {key:?} is not a Proxmox option name (lowercase letters, digits, '_' and '-', starting with a letter)"
    )]
    ExtraConfigMalformed {
        /// The key as written.
        key: String,
    },
    /// An extraConfig key that a spec field already manages.
    #[error("extraConfig: key {key:?} is managed by spec field {field}; set it there instead")]
    ExtraConfigManaged {
        /// The key as written.
        key: String,
        /// The spec field that manages this key.
        field: &'static str,
    },
    /// An extraConfig key that would break the operator's bookkeeping or Proxmox's.
    #[error("extraConfig: key {key:?} cannot be set: {reason}")]
    ExtraConfigForbidden {
        /// The key as written.
        key: String,
        /// Why the key is refused.
        reason: &'static str,
    },
    /// An extraConfig value Proxmox could not store (a line break would end the config line).
    #[error("extraConfig: the value of {key:?} contains a line break")]
    ExtraConfigValue {
        /// The key whose value is bad.
        key: String,
    },
    /// The VMID is outside 100..=999999999.
    #[error("vmid: {vmid} is outside the Proxmox range 100..999999999")]
    Vmid {
        /// The VMID given.
        vmid: i64,
    },
    /// A clone source that the caller has not resolved to a template VMID.
    #[error(
        "source.clone: the template is not resolved to a VMID (templateName must be looked up before planning)"
    )]
    TemplateUnresolved,
    /// A VM spec without exactly one of source.clone and source.blank.
    #[error("source: set exactly one of source.clone and source.blank")]
    Source,
    /// A root password shorter than Proxmox's minimum of 5 characters.
    #[error("passwordSecretRef: the password must have at least 5 characters")]
    PasswordTooShort,
    /// Two entries with the same slot.
    #[error("{field}: slot {slot} is listed twice")]
    DuplicateSlot {
        /// The list field.
        field: &'static str,
        /// The repeated slot.
        slot: String,
    },
    /// An option key inside a disk or mount point that the spec manages itself.
    #[error("{field}: option {key:?} is set by the spec itself")]
    ReservedOption {
        /// The spec field, such as `disks[scsi0].options`.
        field: String,
        /// The option key.
        key: String,
    },
}
