//! The set planner: scale up and down (both policies), rolling updates within maxUnavailable,
//! OnDelete, live changes to every member at once, and a restart mid-scale planning the same
//! from the observed members.

#![allow(clippy::unwrap_used)]

use kubepve_api::{ProxmoxVMSpec, ScaleDownPolicy, UpdateStrategy, VMTemplate, VmidRange};
use serde_json::{Value, json};

use super::*;

fn vm_spec(extra: Value) -> ProxmoxVMSpec {
    let mut spec = json!({
        "connectionRef": {"name": "pve"},
        "source": {"clone": {"templateName": "debian-12-cloudinit"}},
        "memory": "2Gi",
        "cpu": {"cores": 2},
        "networks": [{"slot": "net0", "bridge": "vmbr0"}],
    });
    spec.as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    serde_json::from_value(spec).unwrap()
}

fn strategy(value: Value) -> UpdateStrategy {
    serde_json::from_value(value).unwrap()
}

fn member(ordinal: u32, hash: &str, spec: &ProxmoxVMSpec, ready: bool) -> Member {
    Member {
        name: format!("web-{ordinal}"),
        ordinal,
        template_hash: Some(hash.into()),
        spec: spec.clone(),
        ready,
        deleting: false,
        settling: false,
    }
}

struct Case {
    template: ProxmoxVMSpec,
    strategy: UpdateStrategy,
    policy: ScaleDownPolicy,
    range: Option<VmidRange>,
}

impl Case {
    fn new() -> Self {
        Case {
            template: vm_spec(json!({})),
            strategy: UpdateStrategy::default(),
            policy: ScaleDownPolicy::HighestOrdinal,
            range: None,
        }
    }

    fn plan(&self, replicas: u32, hash: &str, members: &[Member]) -> SetPlan {
        self.try_plan(replicas, hash, members).unwrap()
    }

    fn try_plan(&self, replicas: u32, hash: &str, members: &[Member]) -> Result<SetPlan, SetError> {
        let spec = SetSpec {
            replicas,
            template: &self.template,
            template_hash: hash,
            strategy: &self.strategy,
            scale_down: self.policy,
            vmid_range: self.range.as_ref(),
        };
        plan(&spec, members)
    }
}

fn creates(p: &SetPlan) -> Vec<u32> {
    p.actions
        .iter()
        .filter_map(|a| match a {
            Action::Create { ordinal, .. } => Some(*ordinal),
            _ => None,
        })
        .collect()
}

fn scaled_down(p: &SetPlan) -> Vec<&str> {
    p.actions
        .iter()
        .filter_map(|a| match a {
            Action::ScaleDown { name } => Some(name.as_str()),
            _ => None,
        })
        .collect()
}

fn restarts(p: &SetPlan) -> Vec<&str> {
    p.actions
        .iter()
        .filter_map(|a| match a {
            Action::Update {
                name,
                restart: true,
            } => Some(name.as_str()),
            _ => None,
        })
        .collect()
}

fn live_updates(p: &SetPlan) -> Vec<&str> {
    p.actions
        .iter()
        .filter_map(|a| match a {
            Action::Update {
                name,
                restart: false,
            } => Some(name.as_str()),
            _ => None,
        })
        .collect()
}

#[test]
fn scale_up_from_nothing_creates_ordinals_zero_to_n() {
    let case = Case::new();
    let p = case.plan(3, "h1", &[]);
    assert_eq!(creates(&p), [0, 1, 2]);
    assert_eq!((p.replicas, p.ready, p.updated), (0, 0, 0));
}

#[test]
fn scale_up_fills_holes_first_and_counts_members_being_deleted() {
    let case = Case::new();
    let t = &case.template;
    let mut going = member(1, "h1", t, false);
    going.deleting = true;
    let members = [member(0, "h1", t, true), going, member(3, "h1", t, true)];
    // Three members hold a guest (one going): one more for four, at the lowest free ordinal.
    let p = case.plan(4, "h1", &members);
    assert_eq!(creates(&p), [2]);
    // For three, nothing: the deleting member still counts, so never more than three guests.
    let p = case.plan(3, "h1", &members);
    assert!(p.actions.is_empty(), "{p:?}");
    assert_eq!(
        p.replicas, 2,
        "the deleting member is not reported as a replica"
    );
}

#[test]
fn vmid_range_gives_start_plus_ordinal_and_stalls_beyond_its_end() {
    let mut case = Case::new();
    case.range = Some(VmidRange {
        start: 500,
        end: 502,
    });
    let p = case.plan(3, "h1", &[]);
    let vmids: Vec<_> = p
        .actions
        .iter()
        .map(|a| match a {
            Action::Create { vmid, .. } => vmid.unwrap(),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(vmids, [500, 501, 502]);
    let t = case.template.clone();
    let mut going = member(0, "h1", &t, false);
    going.deleting = true;
    // Member 0 is being replaced while the range is full: member 3 would have no VMID.
    let members = [going, member(1, "h1", &t, true), member(2, "h1", &t, true)];
    let err = case.try_plan(4, "h1", &members).unwrap_err();
    assert!(err.to_string().contains("no VMID for member 3"), "{err}");
}

#[test]
fn scale_down_takes_the_highest_ordinals() {
    let case = Case::new();
    let t = &case.template;
    let members: Vec<_> = (0..5).map(|o| member(o, "h1", t, o != 1)).collect();
    let p = case.plan(2, "h1", &members);
    assert_eq!(scaled_down(&p), ["web-4", "web-3", "web-2"]);
    assert!(creates(&p).is_empty());
}

#[test]
fn scale_down_not_ready_first_takes_those_then_the_highest() {
    let mut case = Case::new();
    case.policy = ScaleDownPolicy::NotReadyFirst;
    let t = &case.template;
    let members: Vec<_> = (0..5)
        .map(|o| member(o, "h1", t, o != 1 && o != 2))
        .collect();
    let p = case.plan(2, "h1", &members);
    assert_eq!(scaled_down(&p), ["web-2", "web-1", "web-4"]);
}

#[test]
fn live_changes_go_to_every_member_at_once_whatever_the_strategy() {
    for strat in [json!({}), json!({"type": "OnDelete"})] {
        let mut case = Case::new();
        case.strategy = strategy(strat);
        let old = case.template.clone();
        // Tags, description and a new NIC are taken live by a running VM.
        case.template = vm_spec(json!({
            "tags": ["web"], "description": "front end",
            "networks": [{"slot": "net0", "bridge": "vmbr0"}, {"slot": "net1", "bridge": "vmbr1"}],
        }));
        let members: Vec<_> = (0..3).map(|o| member(o, "h1", &old, true)).collect();
        let p = case.plan(3, "h2", &members);
        assert_eq!(live_updates(&p), ["web-0", "web-1", "web-2"]);
        assert!(p.held.is_empty());
        assert_eq!(p.updated, 0, "counts are of what is observed");
    }
}

#[test]
fn a_new_node_moves_members_within_max_unavailable_without_a_restart() {
    let mut case = Case::new();
    let old = case.template.clone();
    case.template = vm_spec(json!({"node": "pve2"}));
    let members: Vec<_> = (0..3).map(|o| member(o, "h1", &old, true)).collect();
    let p = case.plan(3, "h2", &members);
    assert_eq!(
        live_updates(&p),
        ["web-2"],
        "one migration at a time: {p:?}"
    );
    assert!(
        restarts(&p).is_empty(),
        "a migration needs no reboot: {p:?}"
    );
    assert_eq!(p.held, ["web-1", "web-0"]);
}

#[test]
fn rolling_update_restarts_within_max_unavailable() {
    let mut case = Case::new();
    let old = case.template.clone();
    // Cores need a cold start.
    case.template = vm_spec(json!({"cpu": {"cores": 4}}));
    let new = case.template.clone();
    let mut members: Vec<_> = (0..4).map(|o| member(o, "h1", &old, true)).collect();

    // maxUnavailable 1 (the default): one at a time, highest ordinal first.
    let p = case.plan(4, "h2", &members);
    assert_eq!(restarts(&p), ["web-3"]);
    assert_eq!(p.held, ["web-2", "web-1", "web-0"]);

    // web-3 took the template and its controller has not caught up: nothing more.
    members[3] = member(3, "h2", &new, true);
    members[3].settling = true;
    let p = case.plan(4, "h2", &members);
    assert!(restarts(&p).is_empty(), "{p:?}");
    // It reboots (not Ready), still nothing more.
    members[3].settling = false;
    members[3].ready = false;
    assert!(restarts(&case.plan(4, "h2", &members)).is_empty());
    // Ready again: the next one.
    members[3].ready = true;
    let p = case.plan(4, "h2", &members);
    assert_eq!(restarts(&p), ["web-2"]);
    assert_eq!(p.updated, 1);

    // maxUnavailable 50% of 4: two at a time.
    case.strategy = strategy(json!({"rollingUpdate": {"maxUnavailable": "50%"}}));
    let p = case.plan(4, "h2", &members);
    assert_eq!(restarts(&p), ["web-2", "web-1"]);
}

#[test]
fn members_already_down_are_updated_without_using_the_budget() {
    let mut case = Case::new();
    let old = case.template.clone();
    case.template = vm_spec(json!({"cpu": {"cores": 4}}));
    let mut members: Vec<_> = (0..3).map(|o| member(o, "h1", &old, true)).collect();
    members[0].ready = false;
    // web-0 is down already: it is updated, and it uses the whole budget of 1 (3 - 1 = 2 must
    // stay available, and only web-1 and web-2 are).
    let p = case.plan(3, "h2", &members);
    assert_eq!(restarts(&p), ["web-0"]);
    assert_eq!(p.held, ["web-2", "web-1"]);
}

#[test]
fn members_whose_controller_lags_are_neither_ready_nor_updated_for_free() {
    let mut case = Case::new();
    let old = case.template.clone();
    case.template = vm_spec(json!({"cpu": {"cores": 4}}));
    // A live change just reached all three; their controllers have not observed it yet.
    let mut members: Vec<_> = (0..3).map(|o| member(o, "h1", &old, true)).collect();
    for m in &mut members {
        m.settling = true;
    }
    let p = case.plan(3, "h2", &members);
    assert_eq!(p.ready, 0, "Ready for an older spec is not ready");
    assert!(restarts(&p).is_empty(), "{p:?}");
    assert_eq!(p.held.len(), 3);
    // Two caught up: one restart, as for any Ready members.
    members[0].settling = false;
    members[1].settling = false;
    let p = case.plan(3, "h2", &members);
    assert_eq!(
        restarts(&p),
        [] as [&str; 0],
        "2 available, 2 must stay: no room"
    );
    members[2].settling = false;
    assert_eq!(restarts(&case.plan(3, "h2", &members)), ["web-2"]);
}

#[test]
fn a_change_that_needs_a_new_guest_replaces_members_one_by_one() {
    let mut case = Case::new();
    let old = case.template.clone();
    case.template = vm_spec(json!({"source": {"clone": {"templateName": "debian-13"}}}));
    let members: Vec<_> = (0..3).map(|o| member(o, "h1", &old, true)).collect();
    let p = case.plan(3, "h2", &members);
    assert_eq!(
        p.actions,
        [Action::Replace {
            name: "web-2".into()
        }]
    );
    // While it goes, the others wait and no second member is created in its place.
    let mut going = members.clone();
    going[2].deleting = true;
    let p = case.plan(3, "h2", &going);
    assert!(p.actions.is_empty(), "{p:?}");
    // Gone: made again at the same ordinal from the new template.
    let p = case.plan(3, "h2", &members[..2]);
    assert_eq!(creates(&p), [2]);
}

#[test]
fn on_delete_leaves_members_alone_until_they_are_deleted() {
    let mut case = Case::new();
    case.strategy = strategy(json!({"type": "OnDelete"}));
    let old = case.template.clone();
    case.template = vm_spec(json!({"memory": "4Gi"}));
    let members: Vec<_> = (0..3).map(|o| member(o, "h1", &old, true)).collect();
    let p = case.plan(3, "h2", &members);
    assert!(p.actions.is_empty(), "{p:?}");
    assert_eq!(p.held, ["web-0", "web-1", "web-2"]);
    // A member the user deleted comes back from the new template.
    let p = case.plan(3, "h2", &members[1..]);
    assert_eq!(creates(&p), [0]);
}

#[test]
fn a_restart_mid_scale_plans_the_same_from_the_observed_members() {
    let case = Case::new();
    let t = &case.template;
    // The operator created web-0 and web-1 of five, then restarted.
    let observed = [member(0, "h1", t, false), member(1, "h1", t, false)];
    let first = case.plan(5, "h1", &observed);
    let again = case.plan(5, "h1", &observed);
    assert_eq!(first, again);
    assert_eq!(creates(&first), [2, 3, 4]);
    // Scaled down to 1 mid-way: web-1 goes, nothing is created.
    let p = case.plan(1, "h1", &observed);
    assert_eq!(scaled_down(&p), ["web-1"]);
    assert!(creates(&p).is_empty());
}

#[test]
fn max_unavailable_resolves_numbers_and_percentages() {
    let s = |v: Value| strategy(json!({"rollingUpdate": {"maxUnavailable": v}}));
    assert_eq!(max_unavailable(&UpdateStrategy::default(), 10).unwrap(), 1);
    assert_eq!(max_unavailable(&s(json!(3)), 10).unwrap(), 3);
    assert_eq!(max_unavailable(&s(json!("25%")), 10).unwrap(), 2);
    assert_eq!(
        max_unavailable(&s(json!("10%")), 3).unwrap(),
        1,
        "at least 1"
    );
    for bad in [json!(0), json!("0%"), json!("abc"), json!("150%")] {
        let err = max_unavailable(&s(bad.clone()), 10).unwrap_err();
        assert!(err.to_string().contains("maxUnavailable"), "{bad}: {err}");
    }
}

#[test]
fn changes_are_classified_like_the_guest_planner_sees_them() {
    let base = vm_spec(json!({}));
    let class = |extra: Value| classify(&base, &vm_spec(extra)).unwrap();
    assert_eq!(classify(&base, &base).unwrap(), ChangeClass::None);
    assert_eq!(class(json!({"tags": ["a"]})), ChangeClass::Live);
    // A new node migrates each member: paced, never all members at once, and no restart.
    assert_eq!(class(json!({"node": "pve2"})), ChangeClass::Move);
    assert_eq!(
        class(json!({"node": "pve2", "memory": "4Gi"})),
        ChangeClass::Restart
    );
    assert_eq!(class(json!({"memory": "4Gi"})), ChangeClass::Restart);
    assert_eq!(
        class(json!({"extraConfig": {"hotplug": "network,disk,memory", "machine": "q35"}})),
        ChangeClass::Restart
    );
    assert_eq!(
        class(json!({"disks": [{"slot": "scsi1", "storage": "local-lvm", "size": "8Gi"}]})),
        ChangeClass::Live,
        "a new scsi disk is hotplugged"
    );
    assert_eq!(
        class(json!({"source": {"blank": {}}})),
        ChangeClass::Replace
    );
    assert_eq!(
        class(json!({"connectionRef": {"name": "other"}})),
        ChangeClass::Replace
    );
    // A member's own VMID (from vmidRange) is not a difference.
    let mut with_vmid = base.clone();
    with_vmid.guest.vmid = Some(500);
    assert_eq!(classify(&with_vmid, &base).unwrap(), ChangeClass::None);
    // A template that does not convert is an error, not a change for members.
    let err = classify(&base, &vm_spec(json!({"memory": "1000k"}))).unwrap_err();
    assert!(err.to_string().contains("memory"), "{err}");
}

#[test]
fn template_hash_is_stable_and_follows_the_template() {
    let template: VMTemplate = serde_json::from_value(json!({
        "metadata": {"labels": {"app": "web"}},
        "spec": serde_json::to_value(vm_spec(json!({}))).unwrap(),
    }))
    .unwrap();
    let h = template_hash(&template);
    assert_eq!(h.len(), 16);
    assert_eq!(h, template_hash(&template.clone()));
    let mut other = template.clone();
    other.metadata.labels.insert("tier".into(), "front".into());
    assert_ne!(h, template_hash(&other));
}
