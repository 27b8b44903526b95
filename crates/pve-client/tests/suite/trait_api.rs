//! The reconcile's calls through [`PveApi`]: the real client over fakepve, generic code that
//! takes any implementation, and a no-HTTP stand-in compiles against the same trait.

#![allow(clippy::unwrap_used)]

use crate::common;

use pve_client::types::{ClusterResource, GuestConfig, GuestStatus, Version};
use pve_client::{
    DeleteOptions, Error, GuestKind, Params, PveApi, ShutdownOptions, TaskStatus, Upid,
};
use pve_testkit::FakePve;

/// What a reconcile does: find the guest cluster-wide, create it if missing.
async fn ensure_guest(api: &impl PveApi, vmid: u32) -> Result<Option<Upid>, Error> {
    let guests = api.guests().await?;
    if guests.iter().any(|g| g.vmid == Some(u64::from(vmid))) {
        return Ok(None);
    }
    let upid = api
        .create_guest(
            GuestKind::Qemu,
            "pve1",
            vmid,
            Params::new().set("name", "t"),
        )
        .await?;
    Ok(Some(upid))
}

#[tokio::test]
async fn real_client_through_the_trait() {
    let pve = FakePve::start().await;
    let c = common::token_client(&pve).await;
    let upid = ensure_guest(&c, 150).await.unwrap().unwrap();
    let status = PveApi::task_status(&c, &upid).await.unwrap();
    assert!(status.outcome().unwrap().is_success());
    assert!(ensure_guest(&c, 150).await.unwrap().is_none());
    let st = PveApi::guest_status(&c, GuestKind::Qemu, "pve1", 150)
        .await
        .unwrap();
    assert_eq!(st.status, "stopped");
    let cfg = PveApi::guest_config(&c, GuestKind::Qemu, "pve1", 150)
        .await
        .unwrap();
    assert_eq!(cfg.get("name").as_deref(), Some("t"));
}

/// A stand-in that knows no guests and refuses writes: enough to show the trait is swappable.
struct Empty;

impl PveApi for Empty {
    async fn version(&self) -> Result<Version, Error> {
        Err(Error::Config("offline".into()))
    }
    async fn guests(&self) -> Result<Vec<ClusterResource>, Error> {
        Ok(Vec::new())
    }
    async fn guest_config(&self, _: GuestKind, _: &str, _: u32) -> Result<GuestConfig, Error> {
        Ok(GuestConfig::default())
    }
    async fn guest_status(&self, _: GuestKind, _: &str, _: u32) -> Result<GuestStatus, Error> {
        Err(Error::NotFound {
            message: "no guest".into(),
        })
    }
    async fn create_guest(&self, _: GuestKind, _: &str, _: u32, _: Params) -> Result<Upid, Error> {
        "UPID:pve1:00000001:00000001:66F1A2B3:qmcreate:150:root@pam:".parse()
    }
    async fn update_config(&self, _: GuestKind, _: &str, _: u32, _: Params) -> Result<(), Error> {
        Ok(())
    }
    async fn start(&self, _: GuestKind, _: &str, _: u32) -> Result<Upid, Error> {
        Err(Error::Config("offline".into()))
    }
    async fn shutdown(
        &self,
        _: GuestKind,
        _: &str,
        _: u32,
        _: ShutdownOptions,
    ) -> Result<Upid, Error> {
        Err(Error::Config("offline".into()))
    }
    async fn stop(&self, _: GuestKind, _: &str, _: u32) -> Result<Upid, Error> {
        Err(Error::Config("offline".into()))
    }
    async fn delete(&self, _: GuestKind, _: &str, _: u32, _: DeleteOptions) -> Result<Upid, Error> {
        Err(Error::Config("offline".into()))
    }
    async fn task_status(&self, _: &Upid) -> Result<TaskStatus, Error> {
        Err(Error::Config("offline".into()))
    }
}

#[tokio::test]
async fn stand_in_without_http() {
    let upid = ensure_guest(&Empty, 150).await.unwrap().unwrap();
    assert_eq!(upid.task_type, "qmcreate");
}
