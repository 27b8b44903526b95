//! Properties of the planner over generated specs and observed guests:
//!
//! - planning is deterministic;
//! - applying a plan's config and resize steps to the observed config (as Proxmox would store
//!   them) and planning again gives no config or resize step (idempotence), whatever normalised
//!   form Proxmox reported the values in;
//! - the operator's loop (execute the first step, observe, plan again) converges from nothing,
//!   with a small model of Proxmox that normalises like the real one (MACs, sizes, tags,
//!   pending keys on a running guest), and then plans nothing;
//! - secret text never appears in a printed plan.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;

use kubepve_api::{
    BlankSource, CloneSource, CloudInit, CpuSpec, Disk, GuestCommon, LocalObjectReference, Network,
    NicModel, ProxmoxVMSpec, Quantity, RestartPolicy, SecretKeySelector, VmSource,
};
use kubepve_plan::{
    Desired, Identity, Intent, Observed, PendingKey, Plan, Power, Secrets, Step, plan,
};
use proptest::prelude::*;

const UID: &str = "0a1b2c3d";

fn identity() -> Identity {
    Identity {
        name: "web".into(),
        uid: UID.into(),
        vmid: 150,
        node: None,
    }
}

#[derive(Debug, Clone)]
struct NetGen {
    model: NicModel,
    bridge: String,
    vlan: Option<i32>,
    firewall: Option<bool>,
    mac: Option<String>,
}

fn net_gen() -> impl Strategy<Value = NetGen> {
    (
        prop_oneof![
            Just(NicModel::Virtio),
            Just(NicModel::E1000),
            Just(NicModel::Vmxnet3)
        ],
        prop_oneof![Just("vmbr0".to_string()), Just("vmbr1".to_string())],
        proptest::option::of(1..4094i32),
        proptest::option::of(any::<bool>()),
        proptest::option::of("[0-9A-F]{2}(:[0-9A-F]{2}){4}".prop_map(|s| format!("BC:{s}"))),
    )
        .prop_map(|(model, bridge, vlan, firewall, mac)| NetGen {
            model,
            bridge,
            vlan,
            firewall,
            mac,
        })
}

fn spec_gen() -> impl Strategy<Value = ProxmoxVMSpec> {
    (
        proptest::option::of(1..64i32),
        proptest::option::of(1..4i32),
        proptest::option::of((16u64..65536).prop_map(|m| m * 4)),
        proptest::collection::vec("[a-zA-Z][a-zA-Z0-9_-]{0,8}", 0..4),
        proptest::collection::vec(net_gen(), 0..3),
        proptest::option::of(1u64..200),
        any::<bool>(),
    )
        .prop_map(|(cores, sockets, memory, tags, nets, disk_gib, clone)| {
            let guest = GuestCommon {
                connection_ref: LocalObjectReference { name: "pve".into() },
                node: Some("pve1".into()),
                vmid: Some(150),
                tags,
                ..GuestCommon::default()
            };
            let source = if clone {
                VmSource {
                    clone: Some(CloneSource {
                        template_vmid: Some(9000),
                        template_name: None,
                        mode: Default::default(),
                        storage: None,
                    }),
                    blank: None,
                }
            } else {
                VmSource {
                    clone: None,
                    blank: Some(BlankSource::default()),
                }
            };
            ProxmoxVMSpec {
                guest,
                name: None,
                source,
                cpu: Some(CpuSpec {
                    cores,
                    sockets,
                    cpu_type: None,
                }),
                memory: memory.map(|m| Quantity::new(format!("{m}Mi"))),
                disks: disk_gib
                    .map(|g| Disk {
                        slot: "scsi0".into(),
                        storage: "local-lvm".into(),
                        size: Quantity::new(format!("{g}Gi")),
                        options: BTreeMap::new(),
                    })
                    .into_iter()
                    .collect(),
                networks: nets
                    .into_iter()
                    .enumerate()
                    .map(|(i, n)| Network {
                        slot: format!("net{i}"),
                        model: n.model,
                        bridge: n.bridge,
                        vlan: n.vlan,
                        firewall: n.firewall,
                        mac: n.mac,
                        mtu: None,
                    })
                    .collect(),
                cloud_init: None,
                ostype: None,
                agent: None,
                migration: None,
            }
        })
}

/// An existing owned guest with arbitrary values, in the forms Proxmox writes.
fn observed_gen() -> impl Strategy<Value = Observed> {
    (
        proptest::option::of(1..64i32),
        proptest::option::of(prop_oneof![
            (16u64..9000).prop_map(|m| m.to_string()),
            (16u64..9000).prop_map(|m| format!("current={m}")),
        ]),
        proptest::collection::vec("[a-z][a-z0-9]{0,6}", 0..3),
        proptest::option::of(Just(
            "virtio=BC:24:11:AA:BB:CC,bridge=vmbr0,firewall=0,rate=10".to_string(),
        )),
        proptest::option::of(1u64..300),
        prop_oneof![Just(Power::Running), Just(Power::Stopped)],
    )
        .prop_map(|(cores, memory, extra_tags, net0, disk, power)| {
            let mut config = BTreeMap::new();
            config.insert("name".to_string(), "old".to_string());
            let mut tags = vec!["KubePVE".to_string(), format!("kubepve-owner-{UID}")];
            tags.extend(extra_tags);
            config.insert("tags".into(), tags.join(","));
            if let Some(c) = cores {
                config.insert("cores".into(), c.to_string());
            }
            if let Some(m) = memory {
                config.insert("memory".into(), m);
            }
            if let Some(n) = net0 {
                config.insert("net0".into(), n);
            }
            if let Some(g) = disk {
                config.insert("scsi0".into(), format!("local-lvm:vm-150-disk-0,size={g}G"));
            }
            Observed {
                exists: true,
                config,
                power,
                node: "pve1".into(),
                ..Observed::default()
            }
        })
}

/// A small model of what Proxmox stores when it runs a step.
fn execute(step: &Step, o: &mut Observed, d: &Desired) {
    let live_on_running = |key: &str| !matches!(key, "cores" | "sockets" | "memory" | "cpu");
    let store = |o: &mut Observed, key: &str, value: &str| {
        let mut value = value.to_string();
        if key.starts_with("net") && !value.split(',').next().unwrap_or("").contains('=') {
            // Proxmox adds a MAC to a NIC given without one.
            let (model, rest) = value.split_once(',').unwrap_or((&value, ""));
            value = format!("{model}=BC:24:11:00:00:{:02X},{rest}", key.len());
        }
        if key.starts_with("scsi")
            && let Some((storage, rest)) = value.split_once(':')
            && let Some(size) = rest.split(',').next().and_then(|s| s.parse::<u64>().ok())
        {
            let opts: Vec<&str> = rest.split(',').skip(1).collect();
            let mut v = format!("{storage}:vm-150-disk-{key}");
            for opt in opts {
                v.push(',');
                v.push_str(opt);
            }
            value = format!("{v},size={size}G");
        }
        if key == "tags" {
            let mut t: Vec<String> = value.split(';').map(str::to_lowercase).collect();
            t.sort();
            t.dedup();
            value = t.join(";");
        }
        o.config.insert(key.to_string(), value);
    };
    match step {
        Step::Create { params } => {
            o.exists = true;
            o.power = Power::Stopped;
            for (k, v) in params.expose() {
                if k != "vmid" {
                    store(o, k, v);
                }
            }
        }
        Step::SetConfig { params, delete, .. } => {
            for (k, v) in params.expose() {
                store(o, k, v);
                if o.power == Power::Running && !live_on_running(k) {
                    o.pending.push(PendingKey {
                        key: k.to_string(),
                        delete: false,
                    });
                }
            }
            for k in delete {
                o.config.remove(k);
            }
        }
        Step::ResizeDisk { disk, size } => {
            let v = o.config.get(disk).cloned().unwrap_or_default();
            let kept: Vec<&str> = v.split(',').filter(|i| !i.starts_with("size=")).collect();
            o.config
                .insert(disk.clone(), format!("{},size={size}", kept.join(",")));
        }
        Step::Start | Step::Reboot => {
            o.power = Power::Running;
            o.pending.clear();
        }
        Step::Shutdown { .. } | Step::Stop => o.power = Power::Stopped,
        other => panic!("unexpected step {other:?} for {d:?}"),
    }
}

fn has_config_step(p: &Plan) -> bool {
    p.steps
        .iter()
        .any(|s| matches!(s, Step::SetConfig { .. } | Step::ResizeDisk { .. }))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn planning_is_deterministic(spec in spec_gen(), o in observed_gen(), deleting: bool, restart: bool) {
        let d = Desired::vm(&spec, &identity(), &Secrets::default(), None).unwrap();
        let intent = Intent { deleting, restart_requested: restart, adopt: false, placed_node: None };
        let a = plan(&d, &o, &intent);
        let b = plan(&d, &o, &intent);
        prop_assert_eq!(format!("{a:?}"), format!("{b:?}"));
        prop_assert_eq!(a, b);
    }

    #[test]
    fn applying_the_config_step_converges(spec in spec_gen(), o in observed_gen()) {
        let d = Desired::vm(&spec, &identity(), &Secrets::default(), None).unwrap();
        let first = plan(&d, &o, &Intent::default());
        let mut next = o.clone();
        for step in first.steps.iter().filter(|s| matches!(s, Step::SetConfig { .. } | Step::ResizeDisk { .. })) {
            execute(step, &mut next, &d);
        }
        let again = plan(&d, &next, &Intent::default());
        prop_assert!(!has_config_step(&again), "first {first:#?}\nthen {again:#?}\nconfig {:#?}", next.config);
    }

    #[test]
    fn the_operator_loop_converges(spec in spec_gen(), automatic: bool) {
        let mut spec = spec;
        spec.source = VmSource { clone: None, blank: Some(BlankSource::default()) };
        if automatic {
            spec.guest.restart_policy = RestartPolicy::Automatic;
        }
        let d = Desired::vm(&spec, &identity(), &Secrets::default(), None).unwrap();
        let mut o = Observed::absent();
        let mut done = false;
        for _ in 0..6 {
            let p = plan(&d, &o, &Intent::default());
            prop_assert!(p.blocker.is_none(), "{p:?}");
            match p.next_step() {
                Some(step) => execute(step, &mut o, &d),
                None => { done = true; break; }
            }
        }
        prop_assert!(done, "no convergence: {:#?}", o);
        prop_assert_eq!(o.power, Power::Running);
    }

    #[test]
    fn the_operator_loop_converges_from_any_guest(spec in spec_gen(), o in observed_gen(), automatic: bool) {
        let mut spec = spec;
        if automatic {
            spec.guest.restart_policy = RestartPolicy::Automatic;
        }
        let d = Desired::vm(&spec, &identity(), &Secrets::default(), None).unwrap();
        let mut o = o;
        let mut last = None;
        for _ in 0..6 {
            let p = plan(&d, &o, &Intent::default());
            match p.next_step() {
                Some(step) => execute(step, &mut o, &d),
                None => { last = Some(p); break; }
            }
        }
        let last = last.expect("no convergence");
        prop_assert_eq!(o.power, Power::Running);
        if automatic {
            prop_assert!(o.pending.is_empty() && last.restart_required.is_empty());
        } else {
            // Manual: reboot-needing changes stay pending and are reported, never applied by us.
            let mut pending: Vec<String> = o.pending.iter().map(|k| k.key.clone()).collect();
            pending.sort();
            pending.dedup();
            prop_assert_eq!(&last.restart_required, &pending);
        }
    }

    #[test]
    fn secrets_never_print(spec in spec_gen(), password in "[A-Za-z0-9]{12,24}", key in "AAAA[A-Za-z0-9]{16,32}") {
        let mut spec = spec;
        let sel = SecretKeySelector { name: "ci".into(), key: "k".into() };
        spec.cloud_init = Some(CloudInit {
            password_secret_ref: Some(sel.clone()),
            ssh_keys_secret_ref: Some(sel),
            ..CloudInit::default()
        });
        let secrets = Secrets { password: Some(password.clone()), ssh_keys: Some(format!("ssh-ed25519 {key} me@x")) };
        let d = Desired::vm(&spec, &identity(), &secrets, None).unwrap();
        for o in [Observed::absent(), Observed { exists: true, config: [("tags".to_string(), format!("kubepve-owner-{UID}"))].into(), power: Power::Running, ..Observed::default() }] {
            let p = plan(&d, &o, &Intent::default());
            let shown = format!("{p:?}{p}{}{d:?}{secrets:?}", serde_json::to_string(&p).unwrap());
            prop_assert!(!shown.contains(&password));
            prop_assert!(!shown.contains(&key));
        }
    }
}
