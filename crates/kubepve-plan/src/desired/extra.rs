//! Which `extraConfig` keys are allowed.
//!
//! extraConfig is an escape hatch for Proxmox options the API does not model (`bios`, `machine`,
//! `scsihw`, `balloon`, ...). It must not fight a spec field for the same key (two writers make a
//! perpetual diff) and must not reach keys that break Proxmox's or the operator's bookkeeping
//! (`lock`, `digest`, `template`, the API call's own parameters).

use super::GuestKind;
use crate::error::PlanError;

/// Keys both kinds' specs manage, with the field to use instead.
const COMMON: &[(&str, &str)] = &[
    ("tags", "tags"),
    ("description", "description"),
    ("protection", "protection"),
    ("onboot", "onBoot"),
    ("startup", "startup"),
    ("pool", "pool"),
    ("memory", "memory"),
    ("cores", "cpu.cores / cores"),
    ("nameserver", "nameservers"),
    ("searchdomain", "searchDomain"),
    ("ostype", "ostype"),
];

/// Keys the VM spec manages.
const QEMU: &[(&str, &str)] = &[
    ("name", "name"),
    ("sockets", "cpu.sockets"),
    ("cpu", "cpu.type"),
    ("agent", "agent"),
    ("ciuser", "cloudInit.user"),
    ("cipassword", "cloudInit.passwordSecretRef"),
    ("sshkeys", "cloudInit.sshKeysSecretRef / sshAuthorizedKeys"),
    ("hostname", "name"),
];

/// Keys the container spec manages.
const LXC: &[(&str, &str)] = &[
    ("hostname", "hostname"),
    ("swap", "swap"),
    ("rootfs", "rootfs"),
    ("features", "features"),
    ("unprivileged", "unprivileged"),
    ("ostemplate", "ostemplate"),
    ("password", "passwordSecretRef"),
    ("ssh-public-keys", "sshKeysSecretRef / sshAuthorizedKeys"),
    ("name", "hostname"),
];

/// Indexed keys (`net3`, `scsi1`, `mp0`) and the fields that manage them.
const INDEXED: &[(&str, &str)] = &[
    ("net", "networks"),
    ("ipconfig", "cloudInit.ipConfigs / networks"),
    ("scsi", "disks"),
    ("virtio", "disks"),
    ("sata", "disks"),
    ("ide", "disks"),
    ("mp", "mountPoints"),
    ("unused", "disks (unused volumes are never touched)"),
];

/// Keys that nobody may set through extraConfig, and why.
const FORBIDDEN: &[(&str, &str)] = &[
    ("lock", "locks belong to Proxmox tasks"),
    ("vmid", "the VMID is spec.vmid"),
    ("digest", "the config digest is computed by Proxmox"),
    (
        "template",
        "converting a guest to a template is not managed",
    ),
    (
        "delete",
        "it is a parameter of the config call, not an option",
    ),
    (
        "revert",
        "it is a parameter of the config call, not an option",
    ),
    ("skiplock", "it bypasses Proxmox's locks"),
    ("node", "the node is spec.node"),
    ("parent", "snapshots are not managed"),
    ("snaptime", "snapshots are not managed"),
    ("vmstate", "snapshots are not managed"),
    ("meta", "Proxmox writes it"),
    ("runningmachine", "Proxmox writes it"),
    ("runningcpu", "Proxmox writes it"),
    ("start", "the power state is spec.runStrategy"),
    ("archive", "restores are not managed"),
    ("force", "it overwrites existing guests"),
    ("unique", "restores are not managed"),
    ("storage", "disks name their storage"),
    ("efidisk0", "it is a disk slot; list it in spec.disks"),
    ("tpmstate0", "it is a disk slot; list it in spec.disks"),
];

/// Check one extraConfig key for this guest kind.
pub(super) fn check_key(kind: GuestKind, key: &str) -> Result<(), PlanError> {
    let well_formed = key.chars().next().is_some_and(|c| c.is_ascii_lowercase())
        && key
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-');
    if !well_formed {
        return Err(PlanError::ExtraConfigMalformed { key: key.into() });
    }
    if let Some((_, reason)) = FORBIDDEN.iter().find(|(k, _)| *k == key) {
        return Err(PlanError::ExtraConfigForbidden {
            key: key.into(),
            reason,
        });
    }
    let own = match kind {
        GuestKind::Qemu => QEMU,
        GuestKind::Lxc => LXC,
    };
    if let Some((_, field)) = COMMON.iter().chain(own).find(|(k, _)| *k == key) {
        return Err(PlanError::ExtraConfigManaged {
            key: key.into(),
            field,
        });
    }
    for (prefix, field) in INDEXED {
        if let Some(rest) = key.strip_prefix(prefix)
            && !rest.is_empty()
            && rest.chars().all(|c| c.is_ascii_digit())
        {
            return Err(PlanError::ExtraConfigManaged {
                key: key.into(),
                field,
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allowed_refused_malformed() {
        assert!(check_key(GuestKind::Qemu, "bios").is_ok());
        assert!(check_key(GuestKind::Qemu, "scsihw").is_ok());
        assert!(check_key(GuestKind::Qemu, "net").is_ok());
        assert!(matches!(
            check_key(GuestKind::Qemu, "net0"),
            Err(PlanError::ExtraConfigManaged {
                field: "networks",
                ..
            })
        ));
        assert!(matches!(
            check_key(GuestKind::Lxc, "mp12"),
            Err(PlanError::ExtraConfigManaged { .. })
        ));
        assert!(matches!(
            check_key(GuestKind::Qemu, "lock"),
            Err(PlanError::ExtraConfigForbidden { .. })
        ));
        for bad in ["Bios", "1x", "a b", "", "a.b"] {
            assert!(matches!(
                check_key(GuestKind::Qemu, bad),
                Err(PlanError::ExtraConfigMalformed { .. })
            ));
        }
    }
}
