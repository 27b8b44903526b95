//! [`Desired::vm`]: a `ProxmoxVMSpec` as Proxmox QEMU config keys.

use kubepve_api::{CloneMode, Network, ProxmoxVMSpec};

use super::{
    Desired, GuestKind, Identity, Secrets, Source, TemplateRef, bool01, mib, unique_slots,
};
use crate::compare::Cmp;
use crate::error::PlanError;
use crate::format::key_lines;

impl Desired {
    /// The desired VM. `template` is the resolved clone source (required when
    /// `source.clone.templateName` is used; `templateVmid` is taken from the spec otherwise).
    pub fn vm(
        spec: &ProxmoxVMSpec,
        identity: &Identity,
        secrets: &Secrets,
        template: Option<TemplateRef>,
    ) -> Result<Self, PlanError> {
        let source = match (&spec.source.clone, &spec.source.blank) {
            (Some(c), None) => {
                let template = match (template, c.template_vmid) {
                    (Some(t), _) => t,
                    (None, Some(vmid)) => TemplateRef { vmid, node: None },
                    (None, None) => return Err(PlanError::TemplateUnresolved),
                };
                let full = c.mode == CloneMode::Full;
                Source::Clone {
                    template,
                    full,
                    storage: c.storage.clone().filter(|_| full),
                }
            }
            (None, Some(_)) => Source::Create,
            _ => return Err(PlanError::Source),
        };
        let mut d = Desired::common(GuestKind::Qemu, &spec.guest, identity, source)?;
        d.migration.with_local_disks = spec.migration.as_ref().is_some_and(|m| m.with_local_disks);
        let name = spec.name.clone().unwrap_or_else(|| identity.name.clone());
        d.set("name", name, Cmp::Text);
        if let Some(m) = &spec.memory {
            let mib = mib(m, "memory", 16)?;
            let cmp = Cmp::DefaultKey {
                key: "current",
                default: Some("512"),
            };
            d.set("memory", mib.to_string(), cmp);
        }
        if let Some(cpu) = &spec.cpu {
            if let Some(c) = cpu.cores {
                d.set("cores", c.to_string(), Cmp::Int { default: Some(1) });
            }
            if let Some(s) = cpu.sockets {
                d.set("sockets", s.to_string(), Cmp::Int { default: Some(1) });
            }
            if let Some(t) = &cpu.cpu_type {
                let cmp = Cmp::DefaultKey {
                    key: "cputype",
                    default: None,
                };
                d.set("cpu", t.clone(), cmp);
            }
        }
        if let Some(os) = &spec.ostype {
            d.set("ostype", os.clone(), Cmp::Text);
        }
        if let Some(a) = spec.agent {
            let cmp = Cmp::DefaultKey {
                key: "enabled",
                default: Some("0"),
            };
            d.set("agent", bool01(a), cmp);
        }
        unique_slots("networks", spec.networks.iter().map(|n| n.slot.as_str()))?;
        for n in &spec.networks {
            d.set(&n.slot, qemu_nic(n), Cmp::Nic { qemu: true });
        }
        unique_slots("disks", spec.disks.iter().map(|x| x.slot.as_str()))?;
        for disk in &spec.disks {
            let field = format!("disks[{}]", disk.slot);
            d.add_disk(
                &disk.slot,
                &disk.storage,
                &disk.size,
                disk.options.clone(),
                field,
            )?;
        }
        if let Some(iso) = spec.source.blank.as_ref().and_then(|b| b.iso.as_ref()) {
            d.create_only.insert("ide2", format!("{iso},media=cdrom"));
        }
        if let Some(ci) = &spec.cloud_init {
            d.cloudinit_storage = ci.storage.clone();
            if let Some(user) = &ci.user {
                d.set("ciuser", user.clone(), Cmp::Text);
            }
            if ci.password_secret_ref.is_some()
                && let Some(pw) = &secrets.password
            {
                d.set_secret("cipassword", pw.clone(), Cmp::WriteOnly);
            }
            let mut keys: Vec<String> = ci
                .ssh_authorized_keys
                .iter()
                .flat_map(|k| key_lines(k))
                .collect();
            if ci.ssh_keys_secret_ref.is_some()
                && let Some(text) = &secrets.ssh_keys
            {
                keys.extend(key_lines(text));
            }
            if !keys.is_empty() {
                d.set_secret("sshkeys", keys.join("\n"), Cmp::SshKeys);
            }
            unique_slots(
                "cloudInit.ipConfigs",
                ci.ip_configs.iter().map(|c| c.slot.as_str()),
            )?;
            for ip in &ci.ip_configs {
                let parts: Vec<String> = [
                    ("ip", &ip.ip),
                    ("gw", &ip.gateway),
                    ("ip6", &ip.ip6),
                    ("gw6", &ip.gateway6),
                ]
                .into_iter()
                .filter_map(|(k, v)| v.as_ref().map(|v| format!("{k}={v}")))
                .collect();
                let keys = ["ip", "gw", "ip6", "gw6"].map(String::from).to_vec();
                d.set(&ip.slot, parts.join(","), Cmp::Props { keys });
            }
            if !ci.nameservers.is_empty() {
                d.set("nameserver", ci.nameservers.join(" "), Cmp::Words);
            }
            if let Some(sd) = &ci.search_domain {
                d.set("searchdomain", sd.clone(), Cmp::Text);
            }
        }
        d.add_extra(&spec.guest.extra_config)?;
        Ok(d)
    }
}

/// A NIC as Proxmox writes it: `virtio[=MAC],bridge=vmbr0,tag=20,firewall=1,mtu=1500`.
fn qemu_nic(n: &Network) -> String {
    let model = serde_json::to_value(n.model)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_else(|| "virtio".to_string());
    let mut out = match &n.mac {
        Some(mac) => format!("{model}={}", mac.to_ascii_uppercase()),
        None => model,
    };
    out.push_str(&format!(",bridge={}", n.bridge));
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
