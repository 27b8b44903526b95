//! The fake Proxmox the samples in `config/samples/` expect: node `pve1`, the cloud-init template
//! `debian-12-cloudinit` (VMID 9000), the LXC template
//! `local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst`, the installer ISO
//! `local:iso/debian-12.8.0-amd64-netinst.iso`, the pool `web`, and an API token.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use pve_client::{Auth, Client, Tls};
use pve_testkit::{FakePve, Token, VmSeed};

/// A started fakepve seeded for the samples, and a token for it.
pub async fn sample_lab(time_scale: f64) -> (FakePve, Token) {
    let pve = FakePve::builder().time_scale(time_scale).start().await;
    pve.add_vm(
        VmSeed::new(9000, "debian-12-cloudinit")
            .template()
            .config("memory", 2048)
            .config("scsi0", "local-lvm:base-9000-disk-0,size=32G")
            .config("ide2", "local-lvm:vm-9000-cloudinit,media=cdrom")
            .config("net0", "virtio=BC:24:11:00:00:01,bridge=vmbr0"),
    )
    .await;
    pve.store_file(
        "local",
        "debian-12-standard_12.7-1_amd64.tar.zst",
        120 << 20,
        "vztmpl",
    )
    .await;
    pve.store_file("local", "debian-12.8.0-amd64-netinst.iso", 630 << 20, "iso")
        .await;
    let token = pve.create_token("root@pam", "kubepve").await;
    // The VM sample goes into the pool `web`, which an administrator creates beforehand.
    client(&pve, &token)
        .create_pool("web", Some("web servers"))
        .await
        .unwrap();
    (pve, token)
}

/// A client for `pve` with `token`, trusting the fake's CA.
pub fn client(pve: &FakePve, token: &Token) -> Client {
    Client::builder(
        pve.url(),
        Auth::token(token.id.clone(), token.secret.clone()),
    )
    .tls(Tls::CaBundle(pve.ca_pem().to_string()))
    .build()
    .unwrap()
}
