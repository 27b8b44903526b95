//! Guest calls for QEMU VMs and LXC containers through one handle, [`Guest`]: create, clone,
//! config (sync PUT; async POST for QEMU), pending, status, power actions, resize, snapshots
//! (list, create, delete, rollback) and delete.
//! Async calls return the task's [`Upid`]; waiting is the caller's choice (the operator records
//! the UPID and requeues, the CLI waits).

use reqwest::Method;

use crate::types::{GuestConfig, GuestStatus, PendingItem, Snapshot};
use crate::{Client, Error, GuestKind, Params, Upid};

/// Options for `POST .../clone`.
#[derive(Debug, Clone, Default)]
pub struct CloneOptions {
    /// Name of the copy (`hostname` for containers).
    pub name: Option<String>,
    /// Full copy (default: linked for templates).
    pub full: Option<bool>,
    /// Target storage (full clones only).
    pub storage: Option<String>,
    /// Target node.
    pub target: Option<String>,
    /// Pool for the copy.
    pub pool: Option<String>,
    /// Description.
    pub description: Option<String>,
}

/// Options for `POST .../status/shutdown`.
#[derive(Debug, Clone, Copy, Default)]
pub struct ShutdownOptions {
    /// Seconds to wait for the guest (PVE default 60).
    pub timeout: Option<u32>,
    /// Kill the guest if it does not stop in time, instead of failing.
    pub force_stop: bool,
}

/// Options for `DELETE /nodes/{node}/{kind}/{vmid}`.
#[derive(Debug, Clone, Copy, Default)]
pub struct DeleteOptions {
    /// Also remove the guest from backup jobs, replication and HA.
    pub purge: bool,
    /// Destroy disks on enabled storages that carry the VMID but are not in the config.
    pub destroy_unreferenced_disks: bool,
}

/// One guest on one node. Cheap: a client clone and the address.
#[derive(Debug, Clone)]
pub struct Guest {
    client: Client,
    kind: GuestKind,
    node: String,
    vmid: u32,
}

impl Client {
    /// A handle on QEMU VM `vmid` on `node`.
    pub fn qemu(&self, node: &str, vmid: u32) -> Guest {
        self.guest(GuestKind::Qemu, node, vmid)
    }
    /// A handle on container `vmid` on `node`.
    pub fn lxc(&self, node: &str, vmid: u32) -> Guest {
        self.guest(GuestKind::Lxc, node, vmid)
    }
    /// A handle on a guest of either kind.
    pub fn guest(&self, kind: GuestKind, node: &str, vmid: u32) -> Guest {
        Guest {
            client: self.clone(),
            kind,
            node: node.to_string(),
            vmid,
        }
    }

    /// `GET /nodes/{node}/{qemu|lxc}`: the guests of one node.
    pub async fn list_guests(
        &self,
        kind: GuestKind,
        node: &str,
    ) -> Result<Vec<GuestStatus>, Error> {
        self.call(
            "guest_list",
            Method::GET,
            &["nodes", node, kind.as_str()],
            Params::new(),
        )
        .await
    }

    /// `POST /nodes/{node}/qemu`: create VM `vmid` with raw config keys (`memory`, `cores`,
    /// `scsi0=local-lvm:32`, `net0=virtio,bridge=vmbr0`, ...). Returns the `qmcreate` task.
    /// Never retried once sent: on [`Error::UnknownOutcome`], look the VMID up first.
    pub async fn create_qemu(&self, node: &str, vmid: u32, config: Params) -> Result<Upid, Error> {
        let params = Params::new().set("vmid", vmid).extend(config);
        self.call(
            "guest_create",
            Method::POST,
            &["nodes", node, "qemu"],
            params,
        )
        .await
    }

    /// `POST /nodes/{node}/lxc`: create container `vmid` from `ostemplate`
    /// (`local:vztmpl/...`). Returns the `vzcreate` task.
    pub async fn create_lxc(
        &self,
        node: &str,
        vmid: u32,
        ostemplate: &str,
        config: Params,
    ) -> Result<Upid, Error> {
        let params = Params::new()
            .set("vmid", vmid)
            .set("ostemplate", ostemplate)
            .extend(config);
        self.call(
            "guest_create",
            Method::POST,
            &["nodes", node, "lxc"],
            params,
        )
        .await
    }
}

impl Guest {
    /// The VMID.
    pub fn vmid(&self) -> u32 {
        self.vmid
    }
    /// The node.
    pub fn node(&self) -> &str {
        &self.node
    }
    /// QEMU or LXC.
    pub fn kind(&self) -> GuestKind {
        self.kind
    }

    async fn call<T: serde::de::DeserializeOwned>(
        &self,
        op: &'static str,
        method: Method,
        tail: &[&str],
        params: Params,
    ) -> Result<T, Error> {
        let vmid = self.vmid.to_string();
        let mut segs = vec![
            "nodes",
            self.node.as_str(),
            self.kind.as_str(),
            vmid.as_str(),
        ];
        segs.extend_from_slice(tail);
        self.client.call(op, method, &segs, params).await
    }

    /// `GET .../status/current`.
    pub async fn status(&self) -> Result<GuestStatus, Error> {
        self.call(
            "guest_status",
            Method::GET,
            &["status", "current"],
            Params::new(),
        )
        .await
    }

    /// `GET .../config` (pending changes applied, as PVE shows by default).
    pub async fn config(&self) -> Result<GuestConfig, Error> {
        self.call("guest_config", Method::GET, &["config"], Params::new())
            .await
    }

    /// `GET .../config?current=1`: the values in effect now, without pending changes.
    pub async fn current_config(&self) -> Result<GuestConfig, Error> {
        let params = Params::new().flag("current", true);
        self.call("guest_config", Method::GET, &["config"], params)
            .await
    }

    /// `GET .../pending`.
    pub async fn pending(&self) -> Result<Vec<PendingItem>, Error> {
        self.call("guest_pending", Method::GET, &["pending"], Params::new())
            .await
    }

    /// `GET .../snapshot`: the snapshots, without the `current` pseudo entry.
    pub async fn snapshots(&self) -> Result<Vec<Snapshot>, Error> {
        let all: Vec<Snapshot> = self
            .call("guest_snapshots", Method::GET, &["snapshot"], Params::new())
            .await?;
        Ok(all.into_iter().filter(|s| !s.is_current()).collect())
    }

    /// `POST .../snapshot`: take snapshot `name` (`vmstate`: QEMU only, include the RAM of a
    /// running VM). Returns the `qmsnapshot`/`vzsnapshot` task. Never retried once sent: on
    /// [`Error::UnknownOutcome`], list the snapshots first.
    pub async fn create_snapshot(
        &self,
        name: &str,
        description: Option<&str>,
        vmstate: bool,
    ) -> Result<Upid, Error> {
        if vmstate && self.kind == GuestKind::Lxc {
            return Err(Error::Config(
                "containers have no RAM state to snapshot".into(),
            ));
        }
        let params = Params::new()
            .set("snapname", name)
            .opt("description", description)
            .opt_flag("vmstate", vmstate.then_some(true));
        self.call("guest_snapshot_create", Method::POST, &["snapshot"], params)
            .await
    }

    /// `DELETE .../snapshot/{name}`: returns the `qmdelsnapshot`/`vzdelsnapshot` task.
    pub async fn delete_snapshot(&self, name: &str) -> Result<Upid, Error> {
        self.call(
            "guest_snapshot_delete",
            Method::DELETE,
            &["snapshot", name],
            Params::new(),
        )
        .await
    }

    /// `POST .../snapshot/{name}/rollback`: the guest's disks and config go back to the
    /// snapshot (a running guest is stopped; `start` starts it afterwards). Returns the
    /// `qmrollback`/`vzrollback` task.
    pub async fn rollback_snapshot(&self, name: &str, start: bool) -> Result<Upid, Error> {
        let params = Params::new().opt_flag("start", start.then_some(true));
        self.call(
            "guest_snapshot_rollback",
            Method::POST,
            &["snapshot", name, "rollback"],
            params,
        )
        .await
    }

    /// `PUT .../config` (synchronous): set keys, and `delete`/`digest` as given in `params`.
    pub async fn update_config(&self, params: Params) -> Result<(), Error> {
        let _: serde_json::Value = self
            .call("guest_config_put", Method::PUT, &["config"], params)
            .await?;
        Ok(())
    }

    /// `POST .../config` (asynchronous, QEMU only): returns the `qmconfig` task.
    pub async fn update_config_async(&self, params: Params) -> Result<Upid, Error> {
        if self.kind == GuestKind::Lxc {
            return Err(Error::Config(
                "containers have no asynchronous config update".into(),
            ));
        }
        self.call("guest_config_post", Method::POST, &["config"], params)
            .await
    }

    async fn action(&self, op: &'static str, action: &str, params: Params) -> Result<Upid, Error> {
        self.call(op, Method::POST, &["status", action], params)
            .await
    }

    /// `POST .../status/start`.
    pub async fn start(&self) -> Result<Upid, Error> {
        self.action("guest_start", "start", Params::new()).await
    }
    /// `POST .../status/stop` (hard stop).
    pub async fn stop(&self) -> Result<Upid, Error> {
        self.action("guest_stop", "stop", Params::new()).await
    }
    /// `POST .../status/shutdown` (ACPI or guest agent).
    pub async fn shutdown(&self, opts: ShutdownOptions) -> Result<Upid, Error> {
        let params = Params::new()
            .opt("timeout", opts.timeout)
            .opt_flag("forceStop", opts.force_stop.then_some(true));
        self.action("guest_shutdown", "shutdown", params).await
    }
    /// `POST .../status/reboot`.
    pub async fn reboot(&self) -> Result<Upid, Error> {
        self.action("guest_reboot", "reboot", Params::new()).await
    }
    /// `POST .../status/reset` (QEMU only).
    pub async fn reset(&self) -> Result<Upid, Error> {
        if self.kind == GuestKind::Lxc {
            return Err(Error::Config("containers cannot be reset".into()));
        }
        self.action("guest_reset", "reset", Params::new()).await
    }
    /// `POST .../status/suspend`.
    pub async fn suspend(&self) -> Result<Upid, Error> {
        self.action("guest_suspend", "suspend", Params::new()).await
    }
    /// `POST .../status/resume`.
    pub async fn resume(&self) -> Result<Upid, Error> {
        self.action("guest_resume", "resume", Params::new()).await
    }

    /// `PUT .../resize`: `size` is `+10G` (grow by) or `50G` (grow to); PVE never shrinks.
    pub async fn resize(&self, disk: &str, size: &str) -> Result<Upid, Error> {
        let params = Params::new().set("disk", disk).set("size", size);
        self.call("guest_resize", Method::PUT, &["resize"], params)
            .await
    }

    /// `POST .../clone` to `newid`. The task's UPID names the source VMID.
    pub async fn clone_to(&self, newid: u32, opts: &CloneOptions) -> Result<Upid, Error> {
        let name_key = match self.kind {
            GuestKind::Qemu => "name",
            GuestKind::Lxc => "hostname",
        };
        let params = Params::new()
            .set("newid", newid)
            .opt(name_key, opts.name.as_deref())
            .opt_flag("full", opts.full)
            .opt("storage", opts.storage.as_deref())
            .opt("target", opts.target.as_deref())
            .opt("pool", opts.pool.as_deref())
            .opt("description", opts.description.as_deref());
        self.call("guest_clone", Method::POST, &["clone"], params)
            .await
    }

    /// `DELETE /nodes/{node}/{kind}/{vmid}`: destroy (the guest must be stopped).
    pub async fn delete(&self, opts: DeleteOptions) -> Result<Upid, Error> {
        let params = Params::new()
            .opt_flag("purge", opts.purge.then_some(true))
            .opt_flag(
                "destroy-unreferenced-disks",
                opts.destroy_unreferenced_disks.then_some(true),
            );
        self.call("guest_delete", Method::DELETE, &[], params).await
    }
}
