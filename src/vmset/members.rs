//! A set's members as the planner sees them (read from the API, never remembered), and the
//! member objects the set writes: a new member `<set>-<ordinal>` with a controller owner
//! reference (blockOwnerDeletion, so a foreground deletion of the set waits for its members),
//! and an existing member given the current template.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube::{Resource, ResourceExt};
use kubepve_api::vmset::{ORDINAL_LABEL, SET_LABEL, TEMPLATE_HASH_LABEL};
use kubepve_api::{ProxmoxVM, ProxmoxVMSet, RESTARTED_AT_ANNOTATION};
use kubepve_plan::vmset::Member;

use crate::conditions::{READY, find};

/// The label and annotation keys a member last got from its set's template (JSON
/// `{"labels": [..], "annotations": [..]}`): a template update removes those the template no
/// longer has and leaves every other key (a person's, another tool's) as it is.
const TEMPLATE_KEYS_ANNOTATION: &str = "kubepve.io/template-keys";

/// The template's keys on a member, as [`TEMPLATE_KEYS_ANNOTATION`] records them.
#[derive(Default, serde::Serialize, serde::Deserialize)]
struct TemplateKeys {
    labels: Vec<String>,
    annotations: Vec<String>,
}

/// `current` with the keys of `previous` that `wanted` no longer has removed, then `wanted`.
fn merged(
    current: &BTreeMap<String, String>,
    previous: &[String],
    wanted: &BTreeMap<String, String>,
) -> BTreeMap<String, String> {
    let mut out: BTreeMap<String, String> = current
        .iter()
        .filter(|(k, _)| !previous.contains(k) || wanted.contains_key(*k))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    out.extend(wanted.clone());
    out
}

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
    let previous: TemplateKeys = vm
        .annotations()
        .get(TEMPLATE_KEYS_ANNOTATION)
        .and_then(|text| serde_json::from_str(text).ok())
        .unwrap_or_default();
    let mut labels = merged(vm.labels(), &previous.labels, &template.metadata.labels);
    labels.insert(SET_LABEL.into(), set.name_any());
    labels.insert(ORDINAL_LABEL.into(), ordinal);
    labels.insert(TEMPLATE_HASH_LABEL.into(), hash.into());
    vm.metadata.labels = Some(labels);
    let mut from_template = template.metadata.annotations.clone();
    // The set alone asks members for reboots (one at a time); a restart request already made
    // stays, so that it is not seen as a new one.
    from_template.remove(RESTARTED_AT_ANNOTATION);
    let mut annotations = merged(vm.annotations(), &previous.annotations, &from_template);
    let keys = TemplateKeys {
        labels: template.metadata.labels.keys().cloned().collect(),
        annotations: from_template.keys().cloned().collect(),
    };
    if let Ok(text) = serde_json::to_string(&keys) {
        annotations.insert(TEMPLATE_KEYS_ANNOTATION.into(), text);
    }
    let requested = vm.annotations().get(RESTARTED_AT_ANNOTATION).cloned();
    let restarted_at = if restart {
        Some(hash.to_string())
    } else {
        requested
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
