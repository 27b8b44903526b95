//! Every typed call against fakepve: reads, the QEMU and LXC lifecycles, pools and tasks.

#![allow(clippy::unwrap_used)]

use crate::common;

use common::quick_wait;
use pve_client::{
    CloneOptions, DeleteOptions, Error, GuestKind, Params, ShutdownOptions, TaskFilter, TaskOutcome,
};
use pve_testkit::{CtSeed, FakePve, VmSeed};

#[tokio::test]
async fn cluster_node_and_storage_reads() {
    let pve = FakePve::start().await;
    pve.add_node("pve2", true).await;
    pve.add_vm(VmSeed::new(100, "web").running().config("tags", "a;b"))
        .await;
    pve.add_ct(CtSeed::new(101, "db")).await;
    pve.store_file(
        "local",
        "debian-12-standard_12.7-1_amd64.tar.zst",
        1 << 20,
        "vztmpl",
    )
    .await;
    pve.store_file("local", "alpine.iso", 1 << 20, "iso").await;
    let c = common::token_client(&pve).await;

    assert!(!c.version().await.unwrap().version.is_empty());
    let nodes = c.nodes().await.unwrap();
    assert_eq!(
        nodes.iter().map(|n| n.node.as_str()).collect::<Vec<_>>(),
        ["pve1", "pve2"]
    );
    assert!(c.node_status("pve1").await.unwrap().uptime.is_some());

    let storages = c.storages("pve1", None).await.unwrap();
    assert!(storages.iter().any(|s| s.storage == "local-lvm"));
    let templates = c
        .storage_content("pve1", "local", Some("vztmpl"), None)
        .await
        .unwrap();
    assert_eq!(templates.len(), 1);
    assert_eq!(
        templates[0].volid,
        "local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst"
    );
    let isos = c
        .storage_content("pve1", "local", Some("iso"), None)
        .await
        .unwrap();
    assert!(isos.iter().any(|v| v.volid.ends_with("alpine.iso")));

    let guests = c.guests().await.unwrap();
    let web = guests.iter().find(|g| g.vmid == Some(100)).unwrap();
    assert_eq!(
        (web.kind.as_str(), web.status.as_deref()),
        ("qemu", Some("running"))
    );
    assert!(
        guests
            .iter()
            .any(|g| g.kind == "lxc" && g.vmid == Some(101))
    );
    let all = c.cluster_resources(None).await.unwrap();
    assert!(all.iter().any(|r| r.kind == "node"));
    // The storage entries say what the node's storage list says about enabled storages, so a
    // create's storage check needs no read of its own.
    let listed = c.storages("pve1", None).await.unwrap();
    let from_resources: Vec<_> = all
        .iter()
        .filter(|r| r.node.as_deref() == Some("pve1"))
        .filter_map(|r| r.storage_info())
        .collect();
    assert!(!from_resources.is_empty(), "{all:#?}");
    for s in &from_resources {
        let l = listed.iter().find(|l| l.storage == s.storage).unwrap();
        assert_eq!(
            (&s.content, &s.kind, s.shared),
            (&l.content, &l.kind, l.shared),
            "{s:?} / {l:?}"
        );
    }
    let enabled = listed.iter().filter(|l| l.enabled != Some(false)).count();
    assert_eq!(
        from_resources.len(),
        enabled,
        "{from_resources:?} / {listed:?}"
    );

    assert_eq!(c.next_id(None).await.unwrap(), 102);
    assert_eq!(c.next_id(Some(500)).await.unwrap(), 500);
    match c.next_id(Some(100)).await.unwrap_err() {
        Error::InvalidParams { errors, .. } => assert_eq!(errors["vmid"], "VM 100 already exists"),
        e => panic!("{e:?}"),
    }
    let qemu = c.list_guests(GuestKind::Qemu, "pve1").await.unwrap();
    assert_eq!(qemu.len(), 1);
    let lxc = c.list_guests(GuestKind::Lxc, "pve1").await.unwrap();
    assert_eq!(lxc[0].vmid, 101);
}

#[tokio::test]
async fn pools_create_list_delete() {
    let pve = FakePve::start().await;
    let c = common::token_client(&pve).await;
    c.create_pool("kubepve", Some("managed")).await.unwrap();
    let pools = c.pools().await.unwrap();
    assert!(pools.iter().any(|p| p.poolid == "kubepve"));
    let again = c.create_pool("kubepve", None).await.unwrap_err();
    assert!(matches!(again, Error::AlreadyExists { .. }), "{again:?}");
    c.delete_pool("kubepve").await.unwrap();
    assert!(c.pools().await.unwrap().is_empty());
}

#[tokio::test]
async fn qemu_lifecycle() {
    let pve = FakePve::start().await;
    let c = common::token_client(&pve).await;
    let w = quick_wait();
    let config = Params::new()
        .set("name", "web")
        .set("memory", 1024)
        .set("cores", 1)
        .set("scsi0", "local-lvm:4")
        .set("net0", "virtio,bridge=vmbr0,tag=10");
    let upid = c.create_qemu("pve1", 200, config).await.unwrap();
    assert_eq!(
        (upid.task_type.as_str(), upid.vmid()),
        ("qmcreate", Some(200))
    );
    assert_eq!(c.wait_task(&upid, w).await.unwrap(), TaskOutcome::Ok);

    let vm = c.qemu("pve1", 200);
    let cfg = vm.config().await.unwrap();
    assert_eq!(
        cfg.get("scsi0").as_deref(),
        Some("local-lvm:vm-200-disk-0,size=4G")
    );
    let net = pve_client::PropertyString::parse(&cfg.get("net0").unwrap()).unwrap();
    assert_eq!(
        (net.first().unwrap().0, net.get("bridge"), net.get("tag")),
        ("virtio", Some("vmbr0"), Some("10"))
    );
    assert!(cfg.digest().is_some());
    assert!(c.current_config_is_readable(&vm).await);

    vm.update_config(Params::new().set("description", "hello"))
        .await
        .unwrap();
    c.wait_task(
        &vm.update_config_async(Params::new().set("onboot", 1))
            .await
            .unwrap(),
        w,
    )
    .await
    .unwrap();
    assert_eq!(
        vm.config().await.unwrap().get("onboot").as_deref(),
        Some("1")
    );

    c.wait_task(&vm.start().await.unwrap(), w).await.unwrap();
    assert!(vm.status().await.unwrap().is_running());
    vm.update_config(Params::new().set("cores", 2))
        .await
        .unwrap();
    let pending = vm.pending().await.unwrap();
    assert!(
        pending
            .iter()
            .any(|p| p.key == "cores" && p.pending.is_some()),
        "{pending:?}"
    );

    c.wait_task(&vm.suspend().await.unwrap(), w).await.unwrap();
    assert_eq!(
        vm.status().await.unwrap().qmpstatus.as_deref(),
        Some("paused")
    );
    c.wait_task(&vm.resume().await.unwrap(), w).await.unwrap();
    c.wait_task(&vm.reboot().await.unwrap(), w).await.unwrap();
    c.wait_task(&vm.reset().await.unwrap(), w).await.unwrap();
    let resize = vm.resize("scsi0", "+1G").await.unwrap();
    assert_eq!(resize.task_type, "resize");
    c.wait_task(&resize, w).await.unwrap();

    let shutdown = ShutdownOptions {
        timeout: Some(30),
        force_stop: true,
    };
    c.wait_task(&vm.shutdown(shutdown).await.unwrap(), w)
        .await
        .unwrap();
    assert!(!vm.status().await.unwrap().is_running());
    c.wait_task(&vm.stop().await.unwrap(), w).await.unwrap(); // stopping a stopped VM is OK

    let clone = vm
        .clone_to(
            201,
            &CloneOptions {
                name: Some("web-copy".into()),
                full: Some(true),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(
        (clone.task_type.as_str(), clone.vmid()),
        ("qmclone", Some(200))
    );
    c.wait_task(&clone, w).await.unwrap();
    assert_eq!(
        c.qemu("pve1", 201)
            .config()
            .await
            .unwrap()
            .get("name")
            .as_deref(),
        Some("web-copy")
    );

    let opts = DeleteOptions {
        purge: true,
        destroy_unreferenced_disks: true,
    };
    c.wait_task(&vm.delete(opts).await.unwrap(), w)
        .await
        .unwrap();
    assert!(vm.status().await.unwrap_err().is_not_found());
    assert!(pve.guest(200).await.is_none());

    let tasks = c
        .task_list(
            "pve1",
            &TaskFilter {
                vmid: Some(200),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert!(tasks.iter().any(|t| t.kind == "qmdestroy"));
}

#[tokio::test]
async fn lxc_lifecycle() {
    let pve = FakePve::start().await;
    pve.store_file(
        "local",
        "debian-12-standard_12.7-1_amd64.tar.zst",
        1 << 20,
        "vztmpl",
    )
    .await;
    let c = common::token_client(&pve).await;
    let w = quick_wait();
    let config = Params::new()
        .set("hostname", "db")
        .set("rootfs", "local-lvm:1")
        .set("net0", "name=eth0,bridge=vmbr0,ip=dhcp");
    let upid = c
        .create_lxc(
            "pve1",
            300,
            "local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst",
            config,
        )
        .await
        .unwrap();
    assert_eq!(upid.task_type, "vzcreate");
    c.wait_task(&upid, w).await.unwrap();
    let ct = c.lxc("pve1", 300);
    assert_eq!(
        ct.config().await.unwrap().get("hostname").as_deref(),
        Some("db")
    );
    ct.update_config(Params::new().set("memory", 256))
        .await
        .unwrap();
    assert!(ct.pending().await.is_ok());
    assert!(ct.update_config_async(Params::new()).await.is_err()); // PVE has no POST config for CTs

    c.wait_task(&ct.start().await.unwrap(), w).await.unwrap();
    assert!(ct.status().await.unwrap().is_running());
    let again = ct.start().await.unwrap_err();
    assert!(matches!(again, Error::GuestRunning { .. }), "{again:?}");
    c.wait_task(&ct.reboot().await.unwrap(), w).await.unwrap();
    c.wait_task(&ct.shutdown(ShutdownOptions::default()).await.unwrap(), w)
        .await
        .unwrap();
    let stopped = ct.stop().await.unwrap_err();
    assert!(
        matches!(stopped, Error::GuestNotRunning { .. }),
        "{stopped:?}"
    );
    c.wait_task(&ct.resize("rootfs", "+1G").await.unwrap(), w)
        .await
        .unwrap();
    let opts = CloneOptions {
        name: Some("db2".into()),
        full: Some(true),
        ..Default::default()
    };
    c.wait_task(&ct.clone_to(301, &opts).await.unwrap(), w)
        .await
        .unwrap();
    c.wait_task(&ct.delete(DeleteOptions::default()).await.unwrap(), w)
        .await
        .unwrap();
    assert!(ct.config().await.unwrap_err().is_not_found());
}

trait Probe {
    async fn current_config_is_readable(&self, vm: &pve_client::Guest) -> bool;
}

impl Probe for pve_client::Client {
    async fn current_config_is_readable(&self, vm: &pve_client::Guest) -> bool {
        vm.current_config().await.is_ok()
    }
}
