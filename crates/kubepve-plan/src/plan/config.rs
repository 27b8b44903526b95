//! The config step of an existing guest: managed keys that differ, disks to add or grow, a
//! cloud-init drive to add, and the owner line to drop from the description.
//!
//! Keys the spec does not manage, disks and NICs it does not list, and unused volumes are never
//! touched (never delete data). Disks are only added or grown: a smaller spec size or another
//! storage is a warning, because Proxmox cannot shrink and moving disks is out of scope.

use kubepve_api::OWNER_DESCRIPTION_PREFIX;

use super::strip_owner_lines;
use crate::compare::{equal, render};
use crate::desired::{Desired, DiskWant, GuestKind};
use crate::format::{Props, format_size, parse_size};
use crate::hotplug::{applies_live, qemu_classes};
use crate::observed::{Observed, Power};
use crate::params::Params;
use crate::step::{Change, Plan, Step};

/// Slots a cloud-init drive may go into, in order of preference.
const CLOUDINIT_SLOTS: [&str; 10] = [
    "ide2", "ide0", "ide1", "ide3", "sata0", "sata1", "sata2", "sata3", "sata4", "sata5",
];

/// The first cloud-init slot that `taken` says is free.
pub(super) fn free_cloudinit_slot(taken: impl Fn(&str) -> bool) -> Option<&'static str> {
    CLOUDINIT_SLOTS.into_iter().find(|s| !taken(s))
}

/// The config changes being collected: what to send and which keys apply live.
struct Collect {
    params: Params,
    delete: Vec<String>,
    /// (key, adds a new disk)
    keys: Vec<(String, bool)>,
}

/// Push the SetConfig and ResizeDisk steps; return the keys the SetConfig leaves pending.
pub(super) fn plan_config(d: &Desired, o: &Observed, p: &mut Plan) -> Vec<String> {
    let mut c = Collect {
        params: Params::new(),
        delete: Vec::new(),
        keys: Vec::new(),
    };
    for (key, s) in &d.settings {
        let obs = o.config.get(key).map(String::as_str);
        if !equal(s, obs) {
            let value = render(s, obs);
            p.changes
                .push(Change::new(key, obs, Some(&value), s.secret));
            c.params.insert_as(key, value, s.secret);
            c.keys.push((key.clone(), false));
        }
    }
    owner_line_cleanup(d, o, p, &mut c);
    let mut resizes = Vec::new();
    for disk in &d.disks {
        disk_changes(d, o, disk, p, &mut c, &mut resizes);
    }
    cloudinit_drive(d, o, p, &mut c);
    if let (Some(want), Some(have)) = (&d.pool, &o.pool)
        && want != have
    {
        p.warnings.push(format!(
            "pool: the guest is in pool {have:?}, not {want:?}; the pool is only set at creation"
        ));
    }

    let mut needs_reboot = Vec::new();
    if !c.keys.is_empty() {
        let running = matches!(o.power, Power::Running | Power::Paused | Power::Unknown);
        let classes = qemu_classes(o.config.get("hotplug").map(String::as_str));
        let mut hotplug = Vec::new();
        for (key, new_disk) in c.keys {
            if !running || applies_live(d.kind, &key, new_disk, &classes) {
                hotplug.push(key);
            } else {
                needs_reboot.push(key);
            }
        }
        hotplug.sort();
        needs_reboot.sort();
        p.steps.push(Step::SetConfig {
            params: c.params,
            delete: c.delete,
            digest: o.config.get("digest").cloned(),
            hotplug,
            needs_reboot: needs_reboot.clone(),
        });
    }
    if o.is_template() && !resizes.is_empty() {
        p.warnings
            .push("the guest is a template; its disks are not resized".into());
    } else {
        p.steps.extend(resizes);
    }
    needs_reboot
}

/// After a clone the description holds the owner line; once the spec's tags are set it is no
/// longer needed. With a spec description the managed key replaces it; without one, drop it.
fn owner_line_cleanup(d: &Desired, o: &Observed, p: &mut Plan, c: &mut Collect) {
    if d.settings.contains_key("description") {
        return;
    }
    let Some(desc) = o.config.get("description") else {
        return;
    };
    if !desc
        .lines()
        .any(|l| l.trim().starts_with(OWNER_DESCRIPTION_PREFIX))
    {
        return;
    }
    let kept = strip_owner_lines(desc);
    p.changes.push(Change::new(
        "description",
        Some(desc),
        kept.as_deref(),
        false,
    ));
    match kept {
        Some(text) => c.params.insert("description", text),
        None => c.delete.push("description".into()),
    }
    c.keys.push(("description".into(), false));
}

fn disk_changes(
    d: &Desired,
    o: &Observed,
    disk: &DiskWant,
    p: &mut Plan,
    c: &mut Collect,
    resizes: &mut Vec<Step>,
) {
    let field = match (d.kind, disk.slot.as_str()) {
        (GuestKind::Lxc, "rootfs") => "rootfs".to_string(),
        (GuestKind::Lxc, slot) => format!("mountPoints[{slot}]"),
        (GuestKind::Qemu, slot) => format!("disks[{slot}]"),
    };
    let Some(current) = o.config.get(&disk.slot) else {
        let value = disk.allocate();
        p.changes
            .push(Change::new(&disk.slot, None, Some(&value), false));
        c.params.insert(disk.slot.clone(), value);
        c.keys.push((disk.slot.clone(), true));
        return;
    };
    let mut props = Props::parse_lenient(current);
    let volid = props
        .default_value
        .clone()
        .or_else(|| {
            props
                .get("volume")
                .or(props.get("file"))
                .map(str::to_string)
        })
        .unwrap_or_default();
    let storage = volid.split(':').next().unwrap_or_default();
    if storage != disk.storage {
        p.warnings.push(format!(
            "{field}.storage: the disk is on {storage:?}, not {:?}; moving disks is not supported",
            disk.storage
        ));
    }
    let want = disk.gib << 30;
    match props.get("size").and_then(|s| parse_size(s).ok()) {
        Some(have) if want > have => {
            let size = format_size(want);
            p.changes.push(Change::new(
                &disk.slot,
                Some(&format_size(have)),
                Some(&size),
                false,
            ));
            resizes.push(Step::ResizeDisk {
                disk: disk.slot.clone(),
                size,
            });
        }
        Some(have) if want < have => p.warnings.push(format!(
            "{field}.size: the disk has {}, more than {}Gi; Proxmox cannot shrink disks",
            format_size(have),
            disk.gib
        )),
        _ => {}
    }
    let differs: Vec<&String> = disk
        .options
        .iter()
        .filter(|(k, v)| props.get(k) != Some(v.as_str()))
        .map(|(k, _)| k)
        .collect();
    if !differs.is_empty() {
        for (k, v) in &disk.options {
            props.set(k, v.clone());
        }
        let value = props.to_string();
        p.changes
            .push(Change::new(&disk.slot, Some(current), Some(&value), false));
        c.params.insert(disk.slot.clone(), value);
        c.keys.push((disk.slot.clone(), false));
    }
}

/// Add a cloud-init drive on `cloudInit.storage` when the VM has none.
fn cloudinit_drive(d: &Desired, o: &Observed, p: &mut Plan, c: &mut Collect) {
    let Some(storage) = d
        .cloudinit_storage
        .as_ref()
        .filter(|_| d.kind == GuestKind::Qemu)
    else {
        return;
    };
    let has_drive = o.config.iter().any(|(k, v)| {
        let drive_slot = CLOUDINIT_SLOTS.contains(&k.as_str()) || k.starts_with("scsi");
        drive_slot
            && Props::parse_lenient(v)
                .default_value
                .is_some_and(|vol| vol.contains("cloudinit"))
    });
    if has_drive {
        return;
    }
    let taken = |slot: &str| {
        o.config.contains_key(slot)
            || c.params.contains(slot)
            || d.disks.iter().any(|x| x.slot == slot)
    };
    match free_cloudinit_slot(taken) {
        Some(slot) => {
            let value = format!("{storage}:cloudinit");
            p.changes.push(Change::new(slot, None, Some(&value), false));
            c.params.insert(slot, value);
            c.keys.push((slot.to_string(), true));
        }
        None => p
            .warnings
            .push("cloudInit.storage: no free ide or sata slot for a cloud-init drive".into()),
    }
}
