//! [`PveApi`]: the calls the operator's reconcile makes, as a trait so reconcile tests can use
//! a fake without HTTP. [`Client`] implements it; keep it small and add calls only when the
//! operator needs them.

use std::future::Future;

use crate::api::{DeleteOptions, GuestKind, ShutdownOptions};
use crate::types::{ClusterResource, GuestConfig, GuestStatus, Version};
use crate::{Client, Error, Params, TaskStatus, Upid};

/// The Proxmox calls of one reconcile: observe, act (one task), read the task's end.
pub trait PveApi: Send + Sync {
    /// Server version (connection check).
    fn version(&self) -> impl Future<Output = Result<Version, Error>> + Send;
    /// Every guest in the cluster, one call.
    fn guests(&self) -> impl Future<Output = Result<Vec<ClusterResource>, Error>> + Send;
    /// A guest's config.
    fn guest_config(
        &self,
        kind: GuestKind,
        node: &str,
        vmid: u32,
    ) -> impl Future<Output = Result<GuestConfig, Error>> + Send;
    /// A guest's power state.
    fn guest_status(
        &self,
        kind: GuestKind,
        node: &str,
        vmid: u32,
    ) -> impl Future<Output = Result<GuestStatus, Error>> + Send;
    /// Create a guest (`ostemplate` in `config` for containers).
    fn create_guest(
        &self,
        kind: GuestKind,
        node: &str,
        vmid: u32,
        config: Params,
    ) -> impl Future<Output = Result<Upid, Error>> + Send;
    /// Set config keys synchronously.
    fn update_config(
        &self,
        kind: GuestKind,
        node: &str,
        vmid: u32,
        params: Params,
    ) -> impl Future<Output = Result<(), Error>> + Send;
    /// Start.
    fn start(
        &self,
        kind: GuestKind,
        node: &str,
        vmid: u32,
    ) -> impl Future<Output = Result<Upid, Error>> + Send;
    /// Graceful shutdown.
    fn shutdown(
        &self,
        kind: GuestKind,
        node: &str,
        vmid: u32,
        opts: ShutdownOptions,
    ) -> impl Future<Output = Result<Upid, Error>> + Send;
    /// Hard stop.
    fn stop(
        &self,
        kind: GuestKind,
        node: &str,
        vmid: u32,
    ) -> impl Future<Output = Result<Upid, Error>> + Send;
    /// Destroy.
    fn delete(
        &self,
        kind: GuestKind,
        node: &str,
        vmid: u32,
        opts: DeleteOptions,
    ) -> impl Future<Output = Result<Upid, Error>> + Send;
    /// A task's state.
    fn task_status(&self, upid: &Upid) -> impl Future<Output = Result<TaskStatus, Error>> + Send;
}

impl PveApi for Client {
    async fn version(&self) -> Result<Version, Error> {
        Client::version(self).await
    }
    async fn guests(&self) -> Result<Vec<ClusterResource>, Error> {
        Client::guests(self).await
    }
    async fn guest_config(
        &self,
        kind: GuestKind,
        node: &str,
        vmid: u32,
    ) -> Result<GuestConfig, Error> {
        self.guest(kind, node, vmid).config().await
    }
    async fn guest_status(
        &self,
        kind: GuestKind,
        node: &str,
        vmid: u32,
    ) -> Result<GuestStatus, Error> {
        self.guest(kind, node, vmid).status().await
    }
    async fn create_guest(
        &self,
        kind: GuestKind,
        node: &str,
        vmid: u32,
        config: Params,
    ) -> Result<Upid, Error> {
        match kind {
            GuestKind::Qemu => self.create_qemu(node, vmid, config).await,
            GuestKind::Lxc => {
                let params = Params::new().set("vmid", vmid).extend(config);
                self.call(
                    "guest_create",
                    reqwest::Method::POST,
                    &["nodes", node, "lxc"],
                    params,
                )
                .await
            }
        }
    }
    async fn update_config(
        &self,
        kind: GuestKind,
        node: &str,
        vmid: u32,
        params: Params,
    ) -> Result<(), Error> {
        self.guest(kind, node, vmid).update_config(params).await
    }
    async fn start(&self, kind: GuestKind, node: &str, vmid: u32) -> Result<Upid, Error> {
        self.guest(kind, node, vmid).start().await
    }
    async fn shutdown(
        &self,
        kind: GuestKind,
        node: &str,
        vmid: u32,
        opts: ShutdownOptions,
    ) -> Result<Upid, Error> {
        self.guest(kind, node, vmid).shutdown(opts).await
    }
    async fn stop(&self, kind: GuestKind, node: &str, vmid: u32) -> Result<Upid, Error> {
        self.guest(kind, node, vmid).stop().await
    }
    async fn delete(
        &self,
        kind: GuestKind,
        node: &str,
        vmid: u32,
        opts: DeleteOptions,
    ) -> Result<Upid, Error> {
        self.guest(kind, node, vmid).delete(opts).await
    }
    async fn task_status(&self, upid: &Upid) -> Result<TaskStatus, Error> {
        Client::task_status(self, upid).await
    }
}
