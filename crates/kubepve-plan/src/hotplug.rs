//! Which config changes a running guest takes live, and which wait for a cold start.
//!
//! This is a prediction for the plan's `hotplug`/`needs_reboot` lists and `restart_required`.
//! Proxmox decides for real (qemu `vmconfig_hotplug_pending`, lxc `vmconfig_hotplug_pending`),
//! and what it left pending shows up in `GET .../pending` on the next observation, which the
//! planner trusts over this table.
//!
//! QEMU: "fast plug" keys (name, description, tags, onboot, protection, startup, cloud-init
//! options, ...) always apply; NICs, new scsi/virtio disks, usb, vcpus and memory apply when the
//! VM's `hotplug` option names their class (default `network,disk,usb`); balloon, cpuunits and
//! cpulimit apply too. Everything else (cores, sockets, cpu, bios, machine, ostype, scsihw,
//! changed options of an existing disk, ide/sata disks, ...) needs a cold start.
//!
//! LXC: cores, cpulimit, cpuunits, memory, swap, NICs and mount points apply live, as do the
//! bookkeeping keys (tags, description, onboot, protection, startup); the rest waits.

use std::collections::BTreeSet;

use crate::desired::GuestKind;

/// Keys a running QEMU VM always takes at once.
const QEMU_FAST: &[&str] = &[
    "name",
    "description",
    "tags",
    "onboot",
    "protection",
    "startup",
    "hookscript",
    "migrate_downtime",
    "migrate_speed",
    "shares",
    "vmstatestorage",
    "ciuser",
    "cipassword",
    "sshkeys",
    "nameserver",
    "searchdomain",
    "citype",
    "ciupgrade",
    "cicustom",
    "balloon",
    "cpuunits",
    "cpulimit",
];

/// Keys a running container takes at once.
const LXC_LIVE: &[&str] = &[
    "description",
    "tags",
    "onboot",
    "protection",
    "startup",
    "hookscript",
    "cores",
    "cpulimit",
    "cpuunits",
    "memory",
    "swap",
];

/// The hotplug classes a VM's `hotplug` option enables.
pub(crate) fn qemu_classes(hotplug: Option<&str>) -> BTreeSet<String> {
    match hotplug.map(str::trim) {
        None | Some("1") => ["network", "disk", "usb"].map(String::from).into(),
        Some("0") | Some("") => BTreeSet::new(),
        Some(list) => list
            .split(',')
            .map(|c| c.trim().to_string())
            .filter(|c| !c.is_empty())
            .collect(),
    }
}

/// Whether a change of `key` on a running guest applies at once. `new_disk` says that the key
/// adds a disk rather than changing an existing one.
pub(crate) fn applies_live(
    kind: GuestKind,
    key: &str,
    new_disk: bool,
    classes: &BTreeSet<String>,
) -> bool {
    let indexed = |prefix: &str| {
        key.strip_prefix(prefix)
            .is_some_and(|n| !n.is_empty() && n.chars().all(|c| c.is_ascii_digit()))
    };
    match kind {
        GuestKind::Qemu => {
            if QEMU_FAST.contains(&key) || indexed("ipconfig") {
                return true;
            }
            let class = if indexed("net") {
                "network"
            } else if (indexed("scsi") || indexed("virtio")) && new_disk {
                "disk"
            } else if indexed("usb") {
                "usb"
            } else if key == "vcpus" {
                "cpu"
            } else if key == "memory" {
                "memory"
            } else {
                return false;
            };
            classes.contains(class)
        }
        GuestKind::Lxc => LXC_LIVE.contains(&key) || indexed("net") || indexed("mp"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn qemu_defaults() {
        let c = qemu_classes(None);
        assert!(applies_live(GuestKind::Qemu, "net0", false, &c));
        assert!(applies_live(GuestKind::Qemu, "scsi1", true, &c));
        assert!(!applies_live(GuestKind::Qemu, "scsi1", false, &c));
        assert!(!applies_live(GuestKind::Qemu, "sata1", true, &c));
        assert!(!applies_live(GuestKind::Qemu, "memory", false, &c));
        assert!(!applies_live(GuestKind::Qemu, "cores", false, &c));
        assert!(applies_live(GuestKind::Qemu, "ipconfig0", false, &c));
        assert!(applies_live(GuestKind::Qemu, "tags", false, &c));
        let mem = qemu_classes(Some("network,disk,memory,cpu"));
        assert!(applies_live(GuestKind::Qemu, "memory", false, &mem));
        assert!(applies_live(GuestKind::Qemu, "vcpus", false, &mem));
        assert!(!applies_live(
            GuestKind::Qemu,
            "net0",
            false,
            &qemu_classes(Some("0"))
        ));
    }

    #[test]
    fn lxc_table() {
        let c = BTreeSet::new();
        assert!(applies_live(GuestKind::Lxc, "memory", false, &c));
        assert!(applies_live(GuestKind::Lxc, "mp3", true, &c));
        assert!(applies_live(GuestKind::Lxc, "net0", false, &c));
        assert!(!applies_live(GuestKind::Lxc, "hostname", false, &c));
        assert!(!applies_live(GuestKind::Lxc, "features", false, &c));
    }
}
