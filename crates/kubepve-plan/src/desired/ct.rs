//! [`Desired::container`]: a `ProxmoxContainerSpec` as Proxmox LXC config keys.

use kubepve_api::{ContainerNetwork, ProxmoxContainerSpec};

use super::{Desired, GuestKind, Identity, Secrets, Source, bool01, mib, unique_slots};
use crate::compare::Cmp;
use crate::error::PlanError;
use crate::format::key_lines;

impl Desired {
    /// The desired container.
    pub fn container(
        spec: &ProxmoxContainerSpec,
        identity: &Identity,
        secrets: &Secrets,
    ) -> Result<Self, PlanError> {
        let mut d = Desired::common(GuestKind::Lxc, &spec.guest, identity, Source::Create)?;
        let hostname = spec
            .hostname
            .clone()
            .unwrap_or_else(|| identity.name.clone());
        d.set("hostname", hostname, Cmp::Text);
        if let Some(c) = spec.cores {
            d.set("cores", c.to_string(), Cmp::Int { default: None });
        }
        if let Some(m) = &spec.memory {
            let v = mib(m, "memory", 16)?;
            d.set("memory", v.to_string(), Cmp::Int { default: Some(512) });
        }
        if let Some(s) = &spec.swap {
            let v = mib(s, "swap", 0)?;
            d.set("swap", v.to_string(), Cmp::Int { default: Some(512) });
        }
        if let Some(os) = &spec.ostype {
            d.set("ostype", os.clone(), Cmp::Text);
        }
        if let Some(f) = &spec.features {
            let mut parts = Vec::new();
            for (k, v) in [
                ("nesting", f.nesting),
                ("keyctl", f.keyctl),
                ("fuse", f.fuse),
                ("mknod", f.mknod),
            ] {
                if let Some(v) = v {
                    parts.push((k, bool01(v).to_string()));
                }
            }
            if !f.mount.is_empty() {
                parts.push(("mount", f.mount.join(";")));
            }
            if !parts.is_empty() {
                let keys = parts.iter().map(|(k, _)| k.to_string()).collect();
                let value: Vec<String> = parts.iter().map(|(k, v)| format!("{k}={v}")).collect();
                d.set("features", value.join(","), Cmp::Props { keys });
            }
        }
        unique_slots("networks", spec.networks.iter().map(|n| n.slot.as_str()))?;
        for n in &spec.networks {
            d.set(&n.slot, lxc_nic(n), Cmp::Nic { qemu: false });
        }
        if !spec.nameservers.is_empty() {
            d.set("nameserver", spec.nameservers.join(" "), Cmp::Words);
        }
        if let Some(sd) = &spec.search_domain {
            d.set("searchdomain", sd.clone(), Cmp::Text);
        }
        let r = &spec.rootfs;
        d.add_disk(
            "rootfs",
            &r.storage,
            &r.size,
            r.options.clone(),
            "rootfs".into(),
        )?;
        unique_slots(
            "mountPoints",
            spec.mount_points.iter().map(|m| m.slot.as_str()),
        )?;
        for mp in &spec.mount_points {
            let mut options = mp.options.clone();
            let field = format!("mountPoints[{}]", mp.slot);
            if options.contains_key("mp") {
                return Err(PlanError::ReservedOption {
                    field: format!("{field}.options"),
                    key: "mp".into(),
                });
            }
            options.insert("mp".into(), mp.path.clone());
            d.add_disk(&mp.slot, &mp.storage, &mp.size, options, field)?;
        }
        // Creation-only: Proxmox takes these at create and never shows them again.
        d.create_only.insert("ostemplate", spec.ostemplate.clone());
        d.create_only
            .insert("unprivileged", bool01(spec.unprivileged));
        if spec.password_secret_ref.is_some()
            && let Some(pw) = &secrets.password
        {
            if pw.chars().count() < 5 {
                return Err(PlanError::PasswordTooShort);
            }
            d.create_only.insert_secret("password", pw.clone());
        }
        let mut keys: Vec<String> = spec
            .ssh_authorized_keys
            .iter()
            .flat_map(|k| key_lines(k))
            .collect();
        if spec.ssh_keys_secret_ref.is_some()
            && let Some(text) = &secrets.ssh_keys
        {
            keys.extend(key_lines(text));
        }
        if !keys.is_empty() {
            d.create_only
                .insert_secret("ssh-public-keys", keys.join("\n"));
        }
        d.add_extra(&spec.guest.extra_config)?;
        Ok(d)
    }
}

/// A container NIC: `name=eth0,bridge=vmbr0[,hwaddr=..],ip=dhcp,...`.
fn lxc_nic(n: &ContainerNetwork) -> String {
    let mut out = format!("name={},bridge={}", n.name, n.bridge);
    if let Some(mac) = &n.mac {
        out.push_str(&format!(",hwaddr={}", mac.to_ascii_uppercase()));
    }
    for (k, v) in [
        ("ip", &n.ip),
        ("gw", &n.gateway),
        ("ip6", &n.ip6),
        ("gw6", &n.gateway6),
    ] {
        if let Some(v) = v {
            out.push_str(&format!(",{k}={v}"));
        }
    }
    if let Some(tag) = n.vlan {
        out.push_str(&format!(",tag={tag}"));
    }
    if n.firewall == Some(true) {
        out.push_str(",firewall=1");
    }
    if let Some(mtu) = n.mtu {
        out.push_str(&format!(",mtu={mtu}"));
    }
    out
}
