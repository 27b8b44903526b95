//! Proxmox guest config keys as the PVE API schema defines them, checked before pvectl sends
//! anything: a create that Proxmox refuses after the clone step would leave a half-made guest,
//! and an update that Proxmox refuses should not first print its diff. `pve_params.json` holds
//! the constraints of the qemu and lxc create and config parameters (names, types, ranges,
//! enumerations, lengths, `dns-name`, the keys of property strings), derived from the official
//! schema by `tools/pve-params.py`; regenerate it there, never edit it by hand.

use std::collections::BTreeMap;
use std::sync::LazyLock;

use serde::Deserialize;

use crate::exit::usage;

/// The smallest and largest VMID Proxmox accepts.
pub const VMID_RANGE: std::ops::RangeInclusive<u32> = 100..=999_999_999;

/// The constraint of one parameter, or of one key of a property string.
#[derive(Debug, Default, Deserialize)]
struct Param {
    /// `i` integer, `n` number, `b` boolean, `s` string.
    #[serde(default)]
    t: String,
    min: Option<f64>,
    max: Option<f64>,
    #[serde(rename = "enum")]
    allowed: Option<Vec<String>>,
    ml: Option<f64>,
    f: Option<String>,
    /// Property-string keys (`scsi0: local-lvm:8,ssd=1`).
    sub: Option<BTreeMap<String, Param>>,
    /// The key a value without `key=` belongs to.
    dk: Option<String>,
    /// Another spelling of this key.
    alias: Option<String>,
}

#[derive(Debug, Deserialize)]
struct Table {
    qemu: BTreeMap<String, Param>,
    lxc: BTreeMap<String, Param>,
}

/// The compiled-in table (a parse error is a build defect; a unit test loads it).
static TABLE: LazyLock<Result<Table, String>> = LazyLock::new(|| {
    serde_json::from_str(include_str!("pve_params.json"))
        .map_err(|e| format!("pvectl's table of Proxmox config keys does not load: {e}"))
});

static EMPTY: BTreeMap<String, Param> = BTreeMap::new();

fn params(ct: bool) -> &'static BTreeMap<String, Param> {
    match &*TABLE {
        Ok(t) if ct => &t.lxc,
        Ok(t) => &t.qemu,
        Err(_) => &EMPTY,
    }
}

/// The schema entry of `key`: `net3` is found as `net[n]`.
fn lookup(ct: bool, key: &str) -> Option<&'static Param> {
    let table = params(ct);
    table.get(key).or_else(|| {
        let base = key.trim_end_matches(|c: char| c.is_ascii_digit());
        (base.len() < key.len())
            .then(|| table.get(&format!("{base}[n]")))
            .flatten()
    })
}

/// Whether `key` is a guest config key of this kind.
pub fn is_known(ct: bool, key: &str) -> bool {
    lookup(ct, key).is_some()
}

/// What is wrong with `key=value`, in Proxmox's words, or `None` when the schema allows it.
pub fn problem(ct: bool, key: &str, value: &str) -> Option<String> {
    if let Err(e) = &*TABLE {
        return Some(e.clone());
    }
    let Some(param) = lookup(ct, key) else {
        let guest = if ct { "container" } else { "VM" };
        let near: Vec<&String> = params(ct)
            .keys()
            .filter(|k| {
                let k = k.trim_end_matches("[n]");
                k.starts_with(key) || key.starts_with(k)
            })
            .take(5)
            .collect();
        let hint = if near.is_empty() {
            String::new()
        } else {
            format!(
                " (did you mean {}?)",
                near.iter()
                    .map(|k| k.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        };
        return Some(format!("{key}: not a {guest} config key{hint}"));
    };
    check(param, value).map(|why| format!("{key}: {why}"))
}

fn check(p: &Param, value: &str) -> Option<String> {
    if let Some(sub) = &p.sub {
        return check_property_string(sub, p.dk.as_deref(), value);
    }
    match p.t.as_str() {
        "i" => {
            let Ok(n) = value.trim().parse::<i64>() else {
                return Some(format!("{value:?} is not an integer"));
            };
            #[allow(clippy::cast_precision_loss)]
            range(p, n as f64)
        }
        "n" => match value.trim().parse::<f64>() {
            Ok(n) => range(p, n),
            Err(_) => Some(format!("{value:?} is not a number")),
        },
        "b" => (!matches!(
            value.to_ascii_lowercase().as_str(),
            "0" | "1" | "yes" | "no" | "on" | "off" | "true" | "false"
        ))
        .then(|| format!("{value:?} is not a boolean (use 1 or 0)")),
        _ => {
            if let Some(allowed) = &p.allowed
                && !allowed.iter().any(|a| a == value)
            {
                return Some(format!("{value:?} is not one of {}", allowed.join(", ")));
            }
            #[allow(clippy::cast_precision_loss)]
            if let Some(max) = p.ml
                && value.chars().count() as f64 > max
            {
                return Some(format!("longer than {max} characters"));
            }
            if p.f.as_deref() == Some("dns-name") && !is_dns_name(value) {
                return Some(format!(
                    "{value:?} is not a valid DNS name (letters, digits and `-`, dot-separated \
                     labels that start and end with a letter or digit)"
                ));
            }
            None
        }
    }
}

fn range(p: &Param, n: f64) -> Option<String> {
    if let Some(min) = p.min
        && n < min
    {
        return Some(format!("value must have a minimum value of {min}"));
    }
    if let Some(max) = p.max
        && n > max
    {
        return Some(format!("value must have a maximum value of {max}"));
    }
    None
}

fn check_property_string(
    sub: &BTreeMap<String, Param>,
    default_key: Option<&str>,
    value: &str,
) -> Option<String> {
    for part in value.split(',').filter(|s| !s.is_empty()) {
        let (key, v) = match part.split_once('=') {
            Some((k, v)) => (k, v),
            None => match default_key {
                Some(k) => (k, part),
                None => return Some(format!("{part:?} needs a key (KEY=VALUE)")),
            },
        };
        let Some(mut p) = sub.get(key) else {
            return Some(format!(
                "{key:?} is not a key of this setting (keys: {})",
                sub.iter()
                    .filter(|(_, p)| p.alias.is_none())
                    .map(|(k, _)| k.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        };
        if let Some(target) = p.alias.as_deref().and_then(|a| sub.get(a)) {
            p = target;
        }
        if let Some(why) = check(p, v) {
            return Some(format!("{key}={v}: {why}"));
        }
    }
    None
}

/// PVE's `dns-name`: dot-separated labels of letters, digits and inner `-`.
fn is_dns_name(text: &str) -> bool {
    !text.is_empty()
        && text.split('.').all(|label| {
            !label.is_empty()
                && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        })
}

/// Refuse (exit 2) config keys the schema does not allow, naming every problem.
pub fn validate<'a>(
    ct: bool,
    pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
) -> anyhow::Result<()> {
    let problems: Vec<String> = pairs
        .into_iter()
        .filter_map(|(k, v)| problem(ct, k, v))
        .collect();
    if problems.is_empty() {
        return Ok(());
    }
    Err(usage(format!(
        "invalid settings (nothing was sent to Proxmox):\n  {}",
        problems.join("\n  ")
    )))
}

/// Refuse a VMID Proxmox would refuse.
pub fn validate_vmid(vmid: u32) -> anyhow::Result<()> {
    if VMID_RANGE.contains(&vmid) {
        return Ok(());
    }
    Err(usage(format!(
        "VMID {vmid} is out of range: Proxmox VMIDs are {} to {}",
        VMID_RANGE.start(),
        VMID_RANGE.end()
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_schemas_limits_are_checked() {
        assert!(TABLE.is_ok(), "{:?}", TABLE.as_ref().err());
        assert!(
            problem(false, "cores", "0")
                .unwrap()
                .contains("minimum value of 1")
        );
        assert_eq!(problem(false, "cores", "2"), None);
        assert!(problem(false, "memory", "8").unwrap().contains("minimum"));
        assert_eq!(problem(false, "memory", "2048"), None);
        assert!(
            problem(false, "name", "bad name!")
                .unwrap()
                .contains("DNS name")
        );
        assert_eq!(problem(false, "name", "web-01.lab"), None);
        assert!(
            problem(false, "bogus", "1")
                .unwrap()
                .contains("not a VM config key")
        );
        assert!(problem(false, "ostype", "dos").unwrap().contains("l26"));
        assert!(problem(false, "onboot", "maybe").is_some());
        assert_eq!(problem(false, "net3", "virtio,bridge=vmbr0,tag=20"), None);
        assert_eq!(
            problem(false, "net0", "virtio=BC:24:11:00:00:01,bridge=vmbr0"),
            None
        );
        assert!(problem(false, "net0", "virtio,bridge=vmbr0,tag=5000").is_some());
        assert!(
            problem(false, "scsi0", "local-lvm:8,sdd=1")
                .unwrap()
                .contains("\"sdd\"")
        );
        assert_eq!(problem(false, "scsi1", "local-lvm:8,ssd=1"), None);
        // Containers have their own keys.
        assert_eq!(problem(true, "hostname", "cache"), None);
        assert!(problem(true, "sockets", "1").is_some());
        assert!(problem(true, "memory", "8").is_some());
        assert_eq!(problem(true, "mp0", "local-lvm:4,mp=/data"), None);
        assert!(validate_vmid(50).is_err() && validate_vmid(100).is_ok());
    }
}
