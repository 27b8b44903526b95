//! The first step of a guest that does not exist yet: create (blank VM, container) or clone.
//!
//! A created guest gets its tags (with both ownership marks) in the create call itself. A clone
//! cannot take tags, so it gets the owner line in its description, and the config step that
//! follows sets tags, the spec's description and everything else the template differs in.

use kubepve_api::RunStrategy;

use super::config::free_cloudinit_slot;
use crate::compare::render;
use crate::desired::{Desired, GuestKind, Source, bool01};
use crate::params::Params;
use crate::step::{Change, Plan, Step};

pub(super) fn plan_creation(d: &Desired, p: &mut Plan) {
    match &d.source {
        Source::Create => {
            let mut params = create_params(d);
            for (k, v) in params.iter() {
                if k != "vmid" {
                    p.changes.push(Change::new(k, None, Some(v), false));
                }
            }
            if d.run_strategy == RunStrategy::Always {
                // Proxmox starts the guest at the end of the create task (`start=1`): one task
                // and one status poll less per guest than a separate start. Should the start
                // fail, the next plan sees a stopped guest and starts it.
                params.insert("start", "1");
                p.changes
                    .push(Change::new("power", None, Some("running"), false));
            }
            p.steps.push(Step::Create { params });
            return;
        }
        Source::Clone {
            template,
            full,
            storage,
        } => {
            let mut params = Params::new();
            params.insert("newid", d.vmid.to_string());
            if let Some(name) = d.settings.get("name") {
                params.insert("name", name.value.clone());
            }
            params.insert("full", bool01(*full));
            if let Some(s) = storage {
                params.insert("storage", s.clone());
            }
            if let Some(pool) = &d.pool {
                params.insert("pool", pool.clone());
            }
            params.insert("description", d.owner_line());
            let source_node = template.node.clone().unwrap_or_else(|| d.node.clone());
            if source_node != d.node {
                params.insert("target", d.node.clone());
            }
            p.changes.push(Change::new(
                "source",
                None,
                Some(&format!("clone of {}", template.vmid)),
                false,
            ));
            p.steps.push(Step::Clone {
                source_vmid: template.vmid,
                source_node,
                params,
            });
        }
    }
    // A forecast: the next plans see the clone, set its config and start it.
    if d.run_strategy == RunStrategy::Always {
        p.changes
            .push(Change::new("power", None, Some("running"), false));
        p.steps.push(Step::Start);
    }
}

/// Every parameter of `POST /nodes/{node}/qemu` or `/lxc`.
fn create_params(d: &Desired) -> Params {
    let mut params = d.create_only.clone();
    params.insert("vmid", d.vmid.to_string());
    for (key, s) in &d.settings {
        params.insert_as(key, render(s, None), s.secret);
    }
    for disk in &d.disks {
        params.insert(disk.slot.clone(), disk.allocate());
    }
    if d.kind == GuestKind::Qemu
        && let Some(storage) = &d.cloudinit_storage
    {
        let taken = |slot: &str| params.contains(slot) || d.disks.iter().any(|x| x.slot == slot);
        if let Some(slot) = free_cloudinit_slot(taken) {
            params.insert(slot, format!("{storage}:cloudinit"));
        }
    }
    params
}
