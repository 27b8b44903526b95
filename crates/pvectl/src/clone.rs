//! `create --template/--clone-from`: what the disk and NIC flags do to a clone, and the clone's
//! life until it is configured. A disk flag never replaces a disk the template brought (on
//! Proxmox the replaced disk becomes `unused0` and the VM no longer boots): without a slot it is
//! added at the next free slot of its bus; naming a slot the template uses grows that disk to a
//! larger size, and a smaller size (Proxmox cannot shrink), another storage or disk options are
//! refused with what to do instead. A NIC flag without a slot adds a NIC; one naming a slot
//! replaces that NIC (a NIC holds no data). When Proxmox refuses the settings of the fresh clone,
//! the clone (ours, seconds old) is destroyed again, and the message says so; if that fails too
//! the message names the clone and the command that removes it. The same rule guards raw keys
//! (`--set scsi0=local-lvm:8`, a `-f` file): a key that would put a new volume in a slot holding
//! a disk is refused on a clone, and on `update` unless `--replace-disk` (see
//! [`replaced_disks`]).

use std::collections::BTreeMap;

use pve_client::{DeleteOptions, Guest, GuestKind, Params, Upid};

use crate::App;
use crate::exit::pve_err;
use crate::exit::usage;
use crate::params::shown;

/// A `--disk` or `--net` flag: `[SLOT=]VALUE`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Device {
    /// `scsi1`, `net0`, ... when the user named it.
    pub slot: Option<String>,
    /// The Proxmox value (`local-lvm:8,ssd=1`, `virtio,bridge=vmbr0`).
    pub value: String,
}

/// What configuring the clone will do.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Plan {
    /// Keys to set in one config update.
    pub set: Vec<(String, String)>,
    /// Disks to grow: slot, new size (`16G`), old size.
    pub resize: Vec<(String, String, String)>,
    /// What the user should know (`scsi0 stays: the template's disk`).
    pub notes: Vec<String>,
}

/// Highest slot number per bus (scsi0-30, virtio0-15, sata0-5, ide0-3, mp0-255, net0-31).
fn max_slot(bus: &str) -> u32 {
    match bus {
        "scsi" => 30,
        "virtio" => 15,
        "sata" => 5,
        "ide" => 3,
        "net" => 31,
        _ => 255,
    }
}

fn next_free(bus: &str, taken: &BTreeMap<String, String>) -> anyhow::Result<String> {
    (0..=max_slot(bus))
        .map(|n| format!("{bus}{n}"))
        .find(|s| !taken.contains_key(s))
        .ok_or_else(|| usage(format!("no free {bus} slot left on the clone")))
}

/// GiB of a size like `8G`, `512M`, `1T` (PVE's `size=` and the `STORAGE:GIB` syntax).
fn gib(text: &str) -> Option<f64> {
    let t = text.trim();
    let (num, mult) = match t.chars().last()? {
        'K' | 'k' => (&t[..t.len() - 1], 1.0 / (1024.0 * 1024.0)),
        'M' | 'm' => (&t[..t.len() - 1], 1.0 / 1024.0),
        'G' | 'g' => (&t[..t.len() - 1], 1.0),
        'T' | 't' => (&t[..t.len() - 1], 1024.0),
        _ => (t, 1.0),
    };
    num.parse::<f64>().ok().map(|n| n * mult)
}

/// The size of an existing disk value (`local-lvm:base-9000-disk-0,size=8G`).
fn disk_size(value: &str) -> Option<&str> {
    value.split(',').find_map(|p| p.strip_prefix("size="))
}

/// The volume of a disk value (`local-lvm:vm-100-disk-0,size=8G` -> `local-lvm:vm-100-disk-0`).
fn volume(value: &str) -> &str {
    let first = value.split(',').next().unwrap_or_default();
    first.strip_prefix("file=").unwrap_or(first)
}

/// The disks that setting `keys` would replace: slot, value there now. Proxmox detaches a
/// replaced volume (it becomes `unusedN`; a boot disk replaced means a VM that no longer boots).
/// Setting a slot's own volume again with other options, or changing a CD-ROM, replaces nothing.
pub fn replaced_disks(
    config: &BTreeMap<String, String>,
    keys: &[(String, String)],
) -> Vec<(String, String)> {
    keys.iter()
        .filter(|(k, _)| pve_client::types::is_disk_key(k) && !k.starts_with("unused"))
        .filter_map(|(k, v)| {
            let old = config.get(k)?;
            let replaces =
                volume(old) != "none" && !old.contains("media=cdrom") && volume(old) != volume(v);
            replaces.then(|| (k.clone(), old.clone()))
        })
        .collect()
}

/// The `unusedN` slot Proxmox moves a replaced disk to.
pub fn unused_slot(config: &BTreeMap<String, String>) -> anyhow::Result<String> {
    next_free("unused", config)
}

/// Plan the disk and NIC flags (and the other keys) against the source's config. `bus` is the
/// disk bus for flags without a slot (`scsi`).
pub fn plan(
    source: &BTreeMap<String, String>,
    keys: Vec<(String, String)>,
    disks: &[Device],
    nets: &[Device],
    bus: &str,
) -> anyhow::Result<Plan> {
    let mut plan = Plan::default();
    let mut taken = source.clone();
    for d in disks {
        let Some(slot) = &d.slot else {
            let slot = next_free(bus, &taken)?;
            plan.notes.push(format!(
                "{slot}={} is added (the template's disks stay)",
                d.value
            ));
            taken.insert(slot.clone(), d.value.clone());
            plan.set.push((slot, d.value.clone()));
            continue;
        };
        let Some(existing) = source.get(slot) else {
            taken.insert(slot.clone(), d.value.clone());
            plan.set.push((slot.clone(), d.value.clone()));
            continue;
        };
        let (storage, size) = d.value.split_once(':').unwrap_or((&d.value, ""));
        let old_storage = existing.split(':').next().unwrap_or_default();
        let old_size = disk_size(existing).unwrap_or("0");
        let refuse = |why: String| {
            usage(format!(
                "{slot} is the template's disk ({existing}): {why}; to add a disk instead, \
                 leave out the slot (--disk {storage}:{})",
                if size.is_empty() { "SIZE" } else { size }
            ))
        };
        if storage != old_storage {
            return Err(refuse(format!(
                "create does not move it to {storage} (use --full --storage {storage} for a full \
                 clone there)"
            )));
        }
        if size.contains(',') || !size.chars().all(|c| c.is_ascii_digit() || c == '.') {
            return Err(refuse(
                "create only grows it (--disk SLOT=STORAGE:SIZE_GB); change its options with \
                 `pvectl vm update` afterwards"
                    .into(),
            ));
        }
        match (gib(size), gib(old_size)) {
            (Some(new), Some(old)) if new > old => {
                plan.resize
                    .push((slot.clone(), format!("{size}G"), old_size.to_string()));
            }
            (Some(new), Some(old)) if new < old => {
                return Err(refuse(format!(
                    "Proxmox cannot shrink a disk: give {old} GiB or more"
                )));
            }
            (Some(_), Some(_)) => plan
                .notes
                .push(format!("{slot} already has {old_size}: left as it is")),
            _ => return Err(refuse(format!("{size:?} is not a size in GiB"))),
        }
    }
    for n in nets {
        let slot = match &n.slot {
            Some(s) => {
                if let Some(old) = source.get(s) {
                    plan.notes
                        .push(format!("{s} is replaced (the template's: {old})"));
                }
                s.clone()
            }
            None => {
                let s = next_free("net", &taken)?;
                plan.notes
                    .push(format!("{s} is added (the template's NICs stay)"));
                s
            }
        };
        taken.insert(slot.clone(), n.value.clone());
        plan.set.push((slot, n.value.clone()));
    }
    if let Some((slot, old)) = replaced_disks(source, &keys).into_iter().next() {
        let free = next_free(bus, &taken)?;
        return Err(usage(format!(
            "{slot} is the template's disk ({old}): setting {slot} would detach it from the \
             clone; to grow it use --disk {slot}=STORAGE:SIZE_GB, to add a disk use a free slot \
             (--disk {free}=STORAGE:SIZE_GB, or --disk STORAGE:SIZE_GB for the next free one)"
        )));
    }
    plan.set.extend(keys);
    Ok(plan)
}

/// The clone's config as text values.
pub fn text_config(config: &pve_client::types::GuestConfig) -> BTreeMap<String, String> {
    config
        .0
        .keys()
        .filter_map(|k| config.get(k).map(|v| (k.clone(), v)))
        .collect()
}

/// Print what the plan will do (`--dry-run`).
pub fn show(label: &str, plan: &Plan) {
    let set: Params = plan.set.iter().cloned().collect();
    if !set.is_empty() {
        outln!("{label}: would set {} (dry run)", shown(&set));
    }
    for (slot, to, from) in &plan.resize {
        outln!("{label}: would grow {slot} from {from} to {to} (dry run)");
    }
    for note in &plan.notes {
        outln!("{label}: {note}");
    }
}

/// Configure the fresh clone; when Proxmox refuses, destroy it again (or say how to).
pub async fn configure(
    app: &App,
    handle: &Guest,
    label: &str,
    plan: &Plan,
    upids: &mut Vec<String>,
) -> anyhow::Result<()> {
    let result = apply(app, handle, label, plan, upids).await;
    let Err(refused) = result else {
        return Ok(());
    };
    let removed = async {
        let upid = handle
            .delete(DeleteOptions {
                purge: false,
                destroy_unreferenced_disks: true,
            })
            .await
            .map_err(|e| pve_err("delete failed", e))?;
        upids.push(upid.to_string());
        wait(app, &upid, label).await
    }
    .await;
    let resource = if handle.kind() == GuestKind::Lxc {
        "ct"
    } else {
        "vm"
    };
    let vmid = handle.vmid();
    Err(match removed {
        Ok(()) => anyhow::anyhow!(
            "{refused:#}; the new clone {label} was deleted again (it was created by this \
             command), so nothing is left behind"
        ),
        Err(e) => anyhow::anyhow!(
            "{refused:#}; the new clone {label} is kept with the template's settings because \
             deleting it failed ({e:#}): remove it with `pvectl {resource} delete {vmid} --yes`"
        ),
    })
}

async fn wait(app: &App, upid: &Upid, label: &str) -> anyhow::Result<()> {
    let waiting = crate::progress::WaitSettings {
        no_wait: false,
        ..app.wait
    };
    crate::progress::wait(&app.conn.client, upid, label, waiting, &app.progress)
        .await
        .map(|_| ())
}

async fn apply(
    app: &App,
    handle: &Guest,
    label: &str,
    plan: &Plan,
    upids: &mut Vec<String>,
) -> anyhow::Result<()> {
    if !plan.set.is_empty() {
        let params: Params = plan.set.iter().cloned().collect();
        handle
            .update_config(params)
            .await
            .map_err(|e| pve_err("cannot configure the clone", e))?;
        outln!("{label} configured");
    }
    for (slot, to, _) in &plan.resize {
        let upid = handle
            .resize(slot, to)
            .await
            .map_err(|e| pve_err(&format!("cannot grow {slot}"), e))?;
        outln!("{label} {} {upid}", upid.task_type);
        upids.push(upid.to_string());
        wait(app, &upid, label).await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn template() -> BTreeMap<String, String> {
        [
            ("scsi0", "local-lvm:base-9000-disk-0,size=8G"),
            ("net0", "virtio=BC:24:11:00:00:01,bridge=vmbr0"),
            ("cores", "1"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
    }

    fn dev(slot: Option<&str>, value: &str) -> Device {
        Device {
            slot: slot.map(str::to_string),
            value: value.to_string(),
        }
    }

    #[test]
    fn a_disk_without_a_slot_is_added_and_the_templates_stays() {
        let p = plan(
            &template(),
            vec![],
            &[dev(None, "local-lvm:8")],
            &[],
            "scsi",
        )
        .unwrap();
        assert_eq!(p.set, vec![("scsi1".into(), "local-lvm:8".into())]);
        assert!(p.resize.is_empty());
    }

    #[test]
    fn naming_the_templates_slot_grows_it_and_never_shrinks_it() {
        let grow = dev(Some("scsi0"), "local-lvm:16");
        let p = plan(&template(), vec![], &[grow], &[], "scsi").unwrap();
        assert_eq!(p.resize, vec![("scsi0".into(), "16G".into(), "8G".into())]);
        assert!(p.set.is_empty(), "{p:?}");
        let shrink = dev(Some("scsi0"), "local-lvm:4");
        let e = plan(&template(), vec![], &[shrink], &[], "scsi").unwrap_err();
        assert!(e.to_string().contains("cannot shrink"), "{e}");
        let moved = dev(Some("scsi0"), "ceph:16");
        let e = plan(&template(), vec![], &[moved], &[], "scsi").unwrap_err();
        assert!(e.to_string().contains("leave out the slot"), "{e}");
        let same = dev(Some("scsi0"), "local-lvm:8");
        let p = plan(&template(), vec![], &[same], &[], "scsi").unwrap();
        assert!(p.set.is_empty() && p.resize.is_empty(), "{p:?}");
    }

    #[test]
    fn a_key_that_would_put_a_new_volume_on_a_templates_disk_is_refused() {
        let keys = vec![("scsi0".to_string(), "local-lvm:8".to_string())];
        let e = plan(&template(), keys, &[], &[], "scsi").unwrap_err();
        assert!(
            e.to_string().contains("--disk scsi0=STORAGE:SIZE_GB"),
            "{e}"
        );
        assert!(e.to_string().contains("--disk scsi1="), "{e}");
        let options = vec![(
            "scsi0".to_string(),
            "local-lvm:base-9000-disk-0,size=8G,ssd=1".to_string(),
        )];
        assert!(replaced_disks(&template(), &options).is_empty());
        let added = vec![("scsi1".to_string(), "local-lvm:8".to_string())];
        assert!(plan(&template(), added, &[], &[], "scsi").is_ok());
    }

    #[test]
    fn nics_without_a_slot_are_added_and_a_named_slot_is_replaced() {
        let nets = [
            dev(None, "virtio,bridge=vmbr1"),
            dev(Some("net0"), "virtio,bridge=vmbr2"),
        ];
        let p = plan(&template(), vec![], &[], &nets, "scsi").unwrap();
        assert_eq!(
            p.set,
            vec![
                ("net1".into(), "virtio,bridge=vmbr1".into()),
                ("net0".into(), "virtio,bridge=vmbr2".into())
            ]
        );
        assert!(
            p.notes.iter().any(|n| n.contains("net0 is replaced")),
            "{p:?}"
        );
    }
}
