//! `export vm|ct ID`: a guest as a ProxmoxVM or ProxmoxContainer manifest that `apply` turns
//! into no changes. Only what the planner compares reliably is exported (name, CPU, memory,
//! disks, NICs, OS type, agent, tags, description, onboot, protection, startup); the run
//! strategy follows the current power state (`Always` when running, `Halted` when stopped,
//! `Manual` for templates). An operator-owned guest keeps its owner: the manifest carries
//! `metadata.uid` from its `kubepve-owner-<uid>` tag. A guest without owner tags needs
//! `apply --adopt` the first time (the manifest says so in a comment), or `export --adopt`,
//! which writes `spec.adopt` so that the operator takes the guest over as well. A linked clone
//! is exported with `source.clone` of its template (its base disks name it); for other VMs
//! Proxmox keeps no trace of a full clone, so the manifest says `source.blank` and a comment
//! says to set `source.clone` if the VM was cloned.

use std::collections::BTreeMap;

use clap::Args;
use pve_client::{GuestKind, PropertyString};
use serde_json::{Map, Value, json};

use crate::App;
use crate::args::KindArg;
use crate::exit::usage;
use crate::output::{OutputFormat, to_yaml};
use crate::select::{self, Selection};

/// `export` flags.
#[derive(Debug, Args)]
pub struct ExportArgs {
    /// `vm` or `ct`.
    pub kind: KindArg,
    /// VMID or name.
    pub target: String,
    /// Output format (yaml or json).
    #[arg(short, long, default_value = "yaml")]
    pub output: OutputFormat,
    /// metadata.namespace of the manifest.
    #[arg(long, default_value = "default")]
    pub namespace: String,
    /// spec.connectionRef.name (default: the context's name).
    #[arg(long)]
    pub connection: Option<String>,
    /// Write a manifest that takes the guest over where it is applied: `spec.adopt` is set and
    /// `metadata.uid` left out, so the kubepve operator (or `pvectl apply`) adds its own owner
    /// tags and changes nothing else. Refused for a guest the operator already owns.
    #[arg(long)]
    pub adopt: bool,
}

fn dns_name(text: &str, vmid: u32) -> String {
    let s: String = text
        .to_ascii_lowercase()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '-'
            }
        })
        .collect();
    let s = s.trim_matches('-').to_string();
    if s.is_empty() {
        format!("guest-{vmid}")
    } else {
        s
    }
}

fn gib(size: &str) -> Option<String> {
    let bytes = pve_client::parse_size(size).ok()?;
    Some(if bytes % (1 << 30) == 0 {
        format!("{}Gi", bytes >> 30)
    } else {
        format!("{}Mi", bytes.div_ceil(1 << 20))
    })
}

/// `{storage, size, options}` of a disk value `local-lvm:vm-150-disk-0,size=32G,discard=on`.
fn disk(slot: &str, value: &str, ct: bool) -> Option<Value> {
    let ps = PropertyString::parse(value).ok()?;
    if ps.get("media") == Some("cdrom") {
        return None;
    }
    let volume = ps
        .default_value
        .clone()
        .or_else(|| ps.get("volume").map(str::to_string))?;
    let (storage, _) = volume.split_once(':')?;
    let size = gib(ps.get("size")?)?;
    let mut options = Map::new();
    let mut path = None;
    for (k, v) in &ps.items {
        match k.as_str() {
            "size" | "volume" | "file" | "media" => {}
            "mp" if ct => path = Some(v.clone()),
            _ => {
                options.insert(k.clone(), json!(v));
            }
        }
    }
    let mut d = json!({"slot": slot, "storage": storage, "size": size});
    if let Some(p) = path {
        d["path"] = json!(p);
    }
    if !options.is_empty() {
        d["options"] = Value::Object(options);
    }
    Some(d)
}

fn qemu_nic(slot: &str, value: &str) -> Option<Value> {
    let ps = PropertyString::parse(value).ok()?;
    let models = ["virtio", "e1000", "e1000e", "rtl8139", "vmxnet3"];
    // `virtio=MAC,...` as Proxmox writes it, or a bare `virtio,...` (Proxmox picks the MAC).
    let (model, mac) = match ps.items.iter().find(|(k, _)| models.contains(&k.as_str())) {
        Some((model, mac)) => (model.clone(), Some(mac.clone())),
        None => (
            ps.default_value
                .clone()
                .filter(|m| models.contains(&m.as_str()))?,
            None,
        ),
    };
    let mut n = json!({"slot": slot, "model": model, "bridge": ps.get("bridge")?});
    if let Some(mac) = mac.filter(|m| !m.is_empty()) {
        n["mac"] = json!(mac);
    }
    if let Some(t) = ps.get("tag").and_then(|t| t.parse::<i64>().ok()) {
        n["vlan"] = json!(t);
    }
    if ps.get("firewall") == Some("1") {
        n["firewall"] = json!(true);
    }
    if let Some(m) = ps.get("mtu").and_then(|t| t.parse::<i64>().ok()) {
        n["mtu"] = json!(m);
    }
    Some(n)
}

fn lxc_nic(slot: &str, value: &str) -> Option<Value> {
    let ps = PropertyString::parse(value).ok()?;
    let mut n = json!({"slot": slot, "name": ps.get("name")?, "bridge": ps.get("bridge")?});
    for (from, to) in [
        ("ip", "ip"),
        ("gw", "gateway"),
        ("ip6", "ip6"),
        ("gw6", "gateway6"),
        ("hwaddr", "mac"),
    ] {
        if let Some(v) = ps.get(from) {
            n[to] = json!(v);
        }
    }
    if let Some(t) = ps.get("tag").and_then(|t| t.parse::<i64>().ok()) {
        n["vlan"] = json!(t);
    }
    if ps.get("firewall") == Some("1") {
        n["firewall"] = json!(true);
    }
    if let Some(m) = ps.get("mtu").and_then(|t| t.parse::<i64>().ok()) {
        n["mtu"] = json!(m);
    }
    Some(n)
}

fn slot_order(key: &str) -> (String, u32) {
    let stem = key.trim_end_matches(|c: char| c.is_ascii_digit());
    (stem.to_string(), key[stem.len()..].parse().unwrap_or(0))
}

/// Run `export`.
pub async fn export(app: &App, args: &ExportArgs) -> anyhow::Result<()> {
    let kind = GuestKind::from(args.kind);
    let all = select::all_guests(&app.conn.client).await?;
    let sel = Selection {
        targets: vec![args.target.clone()],
        ..Default::default()
    };
    let guests = sel.resolve(kind, &all, true)?;
    let [g] = guests.as_slice() else {
        return Err(usage("export one guest at a time"));
    };
    let config = app
        .conn
        .client
        .guest(g.kind, &g.node, g.vmid)
        .config()
        .await
        .map_err(|e| anyhow::anyhow!("cannot read {}: {}", g.label(), crate::exit::describe(&e)))?;
    let c: BTreeMap<String, String> = config
        .0
        .keys()
        .filter_map(|k| Some((k.clone(), config.get(k)?)))
        .collect();
    let get = |k: &str| c.get(k).cloned();
    let int = |k: &str| get(k).and_then(|v| v.parse::<i64>().ok());
    let ct = kind == GuestKind::Lxc;
    let owner_uid = g
        .tags
        .iter()
        .find_map(|t| t.strip_prefix(kubepve_api::OWNER_TAG_PREFIX))
        .map(str::to_string);
    let mut spec = Map::new();
    spec.insert(
        "connectionRef".into(),
        json!({"name": args.connection.clone().unwrap_or_else(|| app.conn.context.clone())}),
    );
    spec.insert("node".into(), json!(g.node));
    spec.insert("vmid".into(), json!(g.vmid));
    let tags: Vec<&String> = g
        .tags
        .iter()
        .filter(|t| *t != kubepve_api::MANAGED_TAG && !t.starts_with(kubepve_api::OWNER_TAG_PREFIX))
        .collect();
    if !tags.is_empty() {
        spec.insert("tags".into(), json!(tags));
    }
    if let Some(d) = get("description") {
        let kept: Vec<&str> = d
            .lines()
            .filter(|l| !l.trim().starts_with(kubepve_api::OWNER_DESCRIPTION_PREFIX))
            .collect();
        let text = kept.join("\n").trim().to_string();
        if !text.is_empty() {
            spec.insert("description".into(), json!(text));
        }
    }
    for (key, field) in [("onboot", "onBoot"), ("protection", "protection")] {
        if let Some(v) = int(key) {
            spec.insert(field.into(), json!(v == 1));
        }
    }
    if let Some(s) = get("startup").and_then(|s| PropertyString::parse(&s).ok()) {
        let mut st = Map::new();
        for (k, f) in [
            ("order", "order"),
            ("up", "upSeconds"),
            ("down", "downSeconds"),
        ] {
            if let Some(v) = s.get(k).and_then(|v| v.parse::<i64>().ok()) {
                st.insert(f.into(), json!(v));
            }
        }
        spec.insert("startup".into(), Value::Object(st));
    }
    let strategy = if g.template {
        "Manual"
    } else if g.status == "running" {
        "Always"
    } else {
        "Halted"
    };
    spec.insert("runStrategy".into(), json!(strategy));
    if let Some(m) = int("memory").or_else(|| {
        get("memory")
            .and_then(|m| PropertyString::parse(&m).ok())
            .and_then(|p| {
                p.get("current")
                    .or(p.default_value.as_deref())
                    .and_then(|v| v.parse().ok())
            })
    }) {
        spec.insert("memory".into(), json!(format!("{m}Mi")));
    }
    if let Some(os) = get("ostype") {
        spec.insert("ostype".into(), json!(os));
    }
    let mut disks = Vec::new();
    let mut nets = Vec::new();
    let mut keys: Vec<&String> = c.keys().collect();
    keys.sort_by_key(|k| slot_order(k));
    for k in keys {
        let (stem, _) = slot_order(k);
        let v = &c[k];
        match stem.as_str() {
            "scsi" | "virtio" | "sata" | "ide"
                if !ct && k.len() > stem.len() && !v.contains("cloudinit") =>
            {
                disks.extend(disk(k, v, false));
            }
            "mp" if ct && k.len() > stem.len() => disks.extend(disk(k, v, true)),
            "net" if k.len() > stem.len() => {
                nets.extend(if ct { lxc_nic(k, v) } else { qemu_nic(k, v) });
            }
            _ => {}
        }
    }
    if !nets.is_empty() {
        spec.insert("networks".into(), json!(nets));
    }
    let mut header = String::new();
    let (api_kind, name) = if ct {
        spec.insert(
            "hostname".into(),
            json!(get("hostname").unwrap_or_else(|| g.name.clone())),
        );
        for (key, field) in [("cores", "cores")] {
            if let Some(v) = int(key) {
                spec.insert(field.into(), json!(v));
            }
        }
        if let Some(s) = int("swap") {
            spec.insert("swap".into(), json!(format!("{s}Mi")));
        }
        let rootfs = get("rootfs")
            .and_then(|r| disk("rootfs", &r, true))
            .ok_or_else(|| anyhow::anyhow!("{} has no readable rootfs", g.label()))?;
        let mut rootfs = rootfs;
        rootfs.as_object_mut().map(|o| o.remove("slot"));
        spec.insert("rootfs".into(), rootfs);
        if !disks.is_empty() {
            spec.insert("mountPoints".into(), json!(disks));
        }
        if int("unprivileged") == Some(1) {
            spec.insert("unprivileged".into(), json!(true));
        }
        // The template a container was made from is not in its config; it only matters for
        // creating the container again elsewhere.
        spec.insert(
            "ostemplate".into(),
            json!("local:vztmpl/REPLACE-ME.tar.zst"),
        );
        header.push_str("# ostemplate is not recorded by Proxmox: set it before creating this container anew.\n");
        (
            "ProxmoxContainer",
            dns_name(&get("hostname").unwrap_or_else(|| g.name.clone()), g.vmid),
        )
    } else {
        let name = get("name").unwrap_or_else(|| g.name.clone());
        spec.insert("name".into(), json!(name));
        // Only a linked clone shows its template in the config; re-creating it elsewhere
        // must clone again, or it would be a different (empty) guest.
        match config.linked_templates().first() {
            Some(template) => {
                spec.insert(
                    "source".into(),
                    json!({"clone": {"templateVmid": template, "mode": "Linked"}}),
                );
            }
            None => {
                spec.insert("source".into(), json!({"blank": {}}));
                header.push_str(
                    "# source: Proxmox does not record whether this VM was a full clone; if it \
                     was, set source.clone before creating it anew (blank makes an empty VM \
                     with these disks).\n",
                );
            }
        }
        let mut cpu = Map::new();
        for k in ["cores", "sockets"] {
            if let Some(v) = int(k) {
                cpu.insert(k.into(), json!(v));
            }
        }
        if let Some(t) = get("cpu") {
            cpu.insert("type".into(), json!(t));
        }
        if !cpu.is_empty() {
            spec.insert("cpu".into(), Value::Object(cpu));
        }
        if let Some(a) = get("agent").and_then(|a| PropertyString::parse(&a).ok()) {
            let on = a.get("enabled").or(a.default_value.as_deref()) == Some("1");
            spec.insert("agent".into(), json!(on));
        }
        if !disks.is_empty() {
            spec.insert("disks".into(), json!(disks));
        }
        ("ProxmoxVM", dns_name(&name, g.vmid))
    };
    let mut metadata = json!({"name": name, "namespace": args.namespace});
    let by_operator = owner_uid
        .as_deref()
        .filter(|uid| !uid.starts_with(kubepve_api::CLI_OWNER_PREFIX));
    match (&owner_uid, args.adopt) {
        (_, true) => {
            if let Some(uid) = by_operator {
                return Err(crate::exit::usage(format!(
                    "{} is owned by the kubepve object with UID {uid}; adopting it elsewhere \
                     would be a conflict: export without --adopt, or delete that object with \
                     deletionPolicy Orphan first",
                    g.label()
                )));
            }
            spec.insert("adopt".into(), json!({}));
            header.push_str(&format!(
                "# spec.adopt: applying this manifest takes {} over (adds the kubepve owner tags) and changes nothing else.\n",
                g.label()
            ));
        }
        (Some(uid), false) => metadata["uid"] = json!(uid),
        (None, false) => header.push_str(&format!(
            "# {} carries no kubepve owner tag: the first `pvectl apply` of this manifest needs --adopt (or export it with --adopt).\n",
            g.label()
        )),
    }
    let doc = json!({
        "apiVersion": format!("{}/{}", kubepve_api::GROUP, kubepve_api::VERSION),
        "kind": api_kind,
        "metadata": metadata,
        "spec": Value::Object(spec),
    });
    match args.output {
        OutputFormat::Json => outln!("{}", serde_json::to_string_pretty(&doc)?),
        _ => out!("{header}{}", to_yaml(&doc)?),
    }
    Ok(())
}
