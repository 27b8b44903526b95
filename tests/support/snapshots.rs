//! The harness of the snapshot scenarios (`tests/suite/snapshot_*.rs`): a fakepve with a VM and a
//! container on snapshot-capable storage (`local-lvm`, lvmthin), and one fake Kubernetes API
//! holding every kind (a view per kind: ProxmoxVM, ProxmoxContainer, ProxmoxSnapshot, ...), with the guest objects already stored as the guest controller leaves them.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::Duration;

use kubepve::connection::registry::Policy;
use kubepve::context::Context;
use pve_client::{Client, GuestKind};
use pve_testkit::{CtSeed, FakePve, VmSeed};
use serde_json::{Value, json};

use super::fakekube::FakeKube;
use super::guest::{BACKUP_NS, MAX_PASSES, POLL_INTERVAL, fast_settings, new_context};
use super::lab::client;
use super::mockkube::MockKube;

/// The VM's VMID and object name.
pub const VMID: u32 = 150;
/// The container's VMID and object name.
pub const CTID: u32 = 250;

/// Which controller a pass runs.
#[derive(Clone, Copy, Debug)]
pub enum Kind {
    /// ProxmoxSnapshot.
    Snapshot,
    /// ProxmoxSnapshotRestore.
    Restore,
}

/// A fakepve, the fake Kubernetes API of each kind, and an operator context.
pub struct SnapEnv {
    /// The fake Proxmox.
    pub pve: FakePve,
    /// ProxmoxVM objects.
    pub vms: FakeKube,
    /// ProxmoxContainer objects.
    pub cts: FakeKube,
    /// ProxmoxSnapshot objects (and Events, ConfigMaps).
    pub snaps: FakeKube,
    /// ProxmoxSnapshotRestore objects.
    pub restores: FakeKube,
    /// ProxmoxSnapshotSchedule objects.
    pub schedules: FakeKube,
    mock: Arc<MockKube>,
    token: pve_testkit::Token,
    ctx: Arc<Context>,
}

impl SnapEnv {
    /// VM 150 `web` (running) and container 250 `cache` (running), each with its object.
    pub async fn new() -> Self {
        Self::with_settings(fast_settings()).await
    }

    /// Like [`SnapEnv::new`], with these operator timings.
    pub async fn with_settings(settings: kubepve::context::Settings) -> Self {
        let pve = FakePve::builder().time_scale(0.001).start().await;
        pve.add_vm(
            VmSeed::new(VMID, "web")
                .running()
                .config("memory", 2048)
                .config("scsi0", "local-lvm:vm-150-disk-0,size=8G")
                .config("tags", "kubepve;kubepve-owner-uid-web"),
        )
        .await;
        pve.add_ct(
            CtSeed::new(CTID, "cache")
                .running()
                .config("memory", 512)
                .config("rootfs", "local-lvm:vm-250-disk-0,size=4G")
                .config("tags", "kubepve;kubepve-owner-uid-cache"),
        )
        .await;
        let token = pve.create_token("root@pam", "kubepve").await;
        let vms = FakeKube::new("proxmoxvms");
        let cts = vms.view("proxmoxcontainers");
        let snaps = vms.view("proxmoxsnapshots");
        let restores = vms.view("proxmoxsnapshotrestores");
        let schedules = vms.view("proxmoxsnapshotschedules");
        let mock = vms.mock.clone();
        vms.put(guest_object(
            "ProxmoxVM",
            "web",
            VMID,
            json!({"source": {"blank": {}}}),
        ));
        cts.put(guest_object(
            "ProxmoxContainer",
            "cache",
            CTID,
            json!({
                "ostemplate": "local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst",
                "rootfs": {"storage": "local-lvm", "size": "4Gi"},
            }),
        ));
        vms.create_namespace(BACKUP_NS);
        let ctx = new_context(
            client(&pve, &token),
            &vms,
            &settings,
            POLL_INTERVAL,
            &Policy::default(),
        );
        SnapEnv {
            pve,
            vms,
            cts,
            snaps,
            restores,
            schedules,
            mock,
            token,
            ctx,
        }
    }

    /// The operator's context.
    pub fn ctx(&self) -> Arc<Context> {
        self.ctx.clone()
    }

    /// A Proxmox client of its own, to look and to change things behind the operator's back.
    pub fn pve_client(&self) -> Client {
        client(&self.pve, &self.token)
    }

    /// The snapshots of guest `vmid` in Proxmox (name, description).
    pub async fn proxmox_snapshots(&self, kind: GuestKind, vmid: u32) -> Vec<(String, String)> {
        self.pve_client()
            .guest(kind, "pve1", vmid)
            .snapshots()
            .await
            .unwrap()
            .into_iter()
            .map(|s| (s.name, s.description.unwrap_or_default()))
            .collect()
    }

    /// One ProxmoxSnapshot reconcile of `name`.
    pub async fn pass(&self, name: &str) {
        self.pass_of(Kind::Snapshot, name).await;
    }

    /// One reconcile of the object `name` of `kind`.
    pub async fn pass_of(&self, kind: Kind, name: &str) {
        let store = self.store(kind);
        let object = store.get(name).unwrap_or_else(|| panic!("{name} is gone"));
        let result = match kind {
            Kind::Snapshot => {
                let typed = serde_json::from_value(object).unwrap();
                kubepve::snapshot::reconcile(Arc::new(typed), self.ctx()).await
            }
            Kind::Restore => {
                let typed = serde_json::from_value(object).unwrap();
                kubepve::snapshot::restore::reconcile(Arc::new(typed), self.ctx()).await
            }
        };
        if let Err(e) = result {
            eprintln!("pass of {name} failed: {e}");
        }
    }

    fn store(&self, kind: Kind) -> &FakeKube {
        match kind {
            Kind::Snapshot => &self.snaps,
            Kind::Restore => &self.restores,
        }
    }

    /// Runs ProxmoxSnapshot reconciles of `name` until `done` holds for the stored object.
    pub async fn drive(&self, name: &str, done: impl Fn(Option<&Value>) -> bool) -> Option<Value> {
        self.drive_of(Kind::Snapshot, name, done).await
    }

    /// Runs reconciles of the object `name` of `kind` until `done` holds for it (bounded).
    pub async fn drive_of(
        &self,
        kind: Kind,
        name: &str,
        done: impl Fn(Option<&Value>) -> bool,
    ) -> Option<Value> {
        let store = self.store(kind);
        for _ in 0..MAX_PASSES {
            let object = store.get(name);
            if done(object.as_ref()) {
                return object;
            }
            assert!(object.is_some(), "{name} is gone");
            self.pass_of(kind, name).await;
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!(
            "{name} did not reach the expected state: {:#}",
            store.get(name).unwrap_or_default()
        )
    }

    /// Runs exactly `n` reconciles of `name`.
    pub async fn passes(&self, name: &str, n: usize) {
        for _ in 0..n {
            self.pass(name).await;
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Runs guest reconciles (the guest controller) of the ProxmoxVM `name`, at least one,
    /// until `done` holds for it (bounded).
    pub async fn drive_vm(&self, name: &str, done: impl Fn(Option<&Value>) -> bool) -> Value {
        for _ in 0..MAX_PASSES {
            let object = self.vms.get(name).unwrap();
            let typed: kubepve_api::ProxmoxVM = serde_json::from_value(object).unwrap();
            if let Err(e) = kubepve::guest::reconcile(Arc::new(typed), self.ctx()).await {
                eprintln!("guest pass of {name} failed: {e}");
            }
            let object = self.vms.get(name).unwrap();
            if done(Some(&object)) {
                return object;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("{name} did not converge: {:#}", self.vms.get(name).unwrap())
    }

    /// The events recorded with this reason.
    pub fn events_with(&self, reason: &str) -> Vec<Value> {
        self.snaps
            .events()
            .into_iter()
            .filter(|e| e["reason"] == reason)
            .collect()
    }
}

/// A guest object as the guest controller leaves it: VMID and node in status.
pub fn guest_object(kind: &str, name: &str, vmid: u32, spec: Value) -> Value {
    let mut full = json!({"connectionRef": {"name": "pve"}, "node": "pve1", "vmid": vmid});
    full.as_object_mut()
        .unwrap()
        .extend(spec.as_object().unwrap().clone());
    json!({
        "apiVersion": "kubepve.io/v1alpha1", "kind": kind,
        "metadata": {"name": name, "namespace": "default", "labels": {"backup": "nightly"},
            "finalizers": ["kubepve.io/finalizer"]},
        "spec": full,
        "status": {"vmid": vmid, "node": "pve1", "phase": "Running"},
    })
}

/// A ProxmoxSnapshot of the guest object `guest` of `kind`, with `spec` merged in.
pub fn snapshot(name: &str, kind: &str, guest: &str, spec: Value) -> Value {
    let mut full = json!({"guestRef": {"kind": kind, "name": guest}});
    full.as_object_mut()
        .unwrap()
        .extend(spec.as_object().unwrap().clone());
    json!({
        "apiVersion": "kubepve.io/v1alpha1", "kind": "ProxmoxSnapshot",
        "metadata": {"name": name, "namespace": "default"},
        "spec": full,
    })
}
