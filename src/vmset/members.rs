//! A set's members as the planner sees them (read from the API, never remembered), and the
//! member objects the set writes: a new member `<set>-<ordinal>` with a controller owner
//! reference (blockOwnerDeletion, so a foreground deletion of the set waits for its members),
//! and an existing member given the current template.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube::{Resource, ResourceExt};
use kubepve_api::vmset::{ORDINAL_LABEL, SET_LABEL, TEMPLATE_HASH_LABEL};
use kubepve_api::{ProxmoxVM, ProxmoxVMSet, RESTARTED_AT_ANNOTATION};
use kubepve_plan::vmset::Member;

use crate::conditions::{READY, find};

/// Whether `vm` is a member of `set`: its controller owner reference is the set's UID.
pub fn owned_by(vm: &ProxmoxVM, set: &ProxmoxVMSet) -> bool {
    let uid = set.uid().unwrap_or_default();
    vm.owner_references()
        .iter()
        .any(|o| o.controller == Some(true) && o.uid == uid)
}

/// The planner's view of a member (`None` for an object without a valid ordinal label).
pub fn observe(vm: &ProxmoxVM) -> Option<Member> {
    let ordinal = vm.labels().get(ORDINAL_LABEL)?.parse().ok()?;
    let status = vm.status.clone().unwrap_or_default();
    let ready = find(&status.conditions, READY).is_some_and(|c| c.status == "True");
    let restart = vm.annotations().get(RESTARTED_AT_ANNOTATION);
    let behind = status.observed_generation < vm.meta().generation;
    let restarting = restart.is_some() && restart != status.restarted_at.as_ref();
    Some(Member {
        name: vm.name_any(),
        ordinal,
        template_hash: vm.labels().get(TEMPLATE_HASH_LABEL).cloned(),
        spec: vm.spec.clone(),
        ready,
        deleting: vm.meta().deletion_timestamp.is_some(),
        settling: behind || restarting,
    })
}

/// The new member `ordinal` of `set`, made from its template.
pub fn new_member(set: &ProxmoxVMSet, ordinal: u32, vmid: Option<i64>, hash: &str) -> ProxmoxVM {
    let mut spec = set.spec.template.spec.clone();
    spec.guest.vmid = vmid;
    let mut vm = ProxmoxVM::new(&set.member_name(ordinal), spec);
    vm.metadata.namespace = set.namespace();
    vm.metadata.owner_references = Some(vec![owner(set)]);
    apply_template(set, &mut vm, hash, false);
    vm
}

/// Gives the member `vm` the set's template (its own VMID stays), labelled with `hash`; with
/// `restart`, also asks for one reboot (a new `kubepve.io/restartedAt` value).
pub fn apply_template(set: &ProxmoxVMSet, vm: &mut ProxmoxVM, hash: &str, restart: bool) {
    let template = &set.spec.template;
    let vmid = vm.spec.guest.vmid;
    vm.spec = template.spec.clone();
    vm.spec.guest.vmid = vmid;
    let ordinal = vm
        .labels()
        .get(ORDINAL_LABEL)
        .cloned()
        .unwrap_or_else(|| ordinal_of(set, &vm.name_any()));
    let mut labels = template.metadata.labels.clone();
    labels.insert(SET_LABEL.into(), set.name_any());
    labels.insert(ORDINAL_LABEL.into(), ordinal);
    labels.insert(TEMPLATE_HASH_LABEL.into(), hash.into());
    vm.metadata.labels = Some(labels);
    let mut annotations = template.metadata.annotations.clone();
    // The set alone asks members for reboots (one at a time); a restart request already made
    // stays, so that it is not seen as a new one.
    annotations.remove(RESTARTED_AT_ANNOTATION);
    let previous = vm.annotations().get(RESTARTED_AT_ANNOTATION).cloned();
    let restarted_at = if restart {
        Some(hash.to_string())
    } else {
        previous
    };
    if let Some(value) = restarted_at {
        annotations.insert(RESTARTED_AT_ANNOTATION.into(), value);
    }
    vm.metadata.annotations = Some(annotations);
}

/// The ordinal in a member's name `<set>-<ordinal>`.
fn ordinal_of(set: &ProxmoxVMSet, name: &str) -> String {
    name.strip_prefix(&format!("{}-", set.name_any()))
        .unwrap_or_default()
        .to_string()
}

/// The controller owner reference a member carries.
fn owner(set: &ProxmoxVMSet) -> OwnerReference {
    OwnerReference {
        api_version: ProxmoxVMSet::api_version(&()).into(),
        kind: ProxmoxVMSet::kind(&()).into(),
        name: set.name_any(),
        uid: set.uid().unwrap_or_default(),
        controller: Some(true),
        block_owner_deletion: Some(true),
    }
}
