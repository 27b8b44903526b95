//! Comparing a desired config value with the one Proxmox reports, and writing the value to send.
//!
//! Proxmox rewrites what it is given: it sorts and lowercases tags, adds a generated MAC to
//! `net0`, writes `memory` as a bare number or `current=`, leaves defaults out. Each managed key
//! therefore carries a [`Cmp`] that says what "equal" means for it, so that an applied spec
//! compares equal and a second apply plans nothing. [`render`] builds the value to send from the
//! desired value and the observed one, keeping what the spec does not manage (a generated MAC,
//! `type=veth`, a NIC's `rate=`), so that a change never loses state Proxmox or a user added.

use std::fmt;

use crate::format::{Props, key_lines, normalise_tags, percent_decode, percent_encode};

/// QEMU NIC models, which Proxmox also accepts as the key of the shorthand `virtio=<MAC>`.
const QEMU_NIC_MODELS: [&str; 10] = [
    "virtio", "e1000", "e1000e", "rtl8139", "vmxnet3", "i82551", "i82557b", "i82559er", "ne2k_isa",
    "ne2k_pci",
];

/// How a managed key is compared and written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Cmp {
    /// Exact text.
    Text,
    /// Text compared without trailing whitespace on each line (Proxmox stores a description as
    /// comment lines, and YAML block scalars end with a newline).
    Trimmed,
    /// An integer; absent means `default`.
    Int { default: Option<i64> },
    /// `0`/`1`; absent means `default`.
    Bool { default: bool },
    /// A property string whose default key is the managed value (`memory: current=4096`,
    /// `agent: enabled=1,fstrim_cloned_disks=1`, `cpu: cputype=host,flags=...`).
    DefaultKey {
        key: &'static str,
        default: Option<&'static str>,
    },
    /// A property string where only `keys` are managed; a managed key missing from the desired
    /// value must be absent.
    Props { keys: Vec<String> },
    /// A NIC property string; the MAC is managed only when the spec sets one.
    Nic { qemu: bool },
    /// A tag list, compared as Proxmox stores it.
    Tags,
    /// A whitespace-separated list (`nameserver`).
    Words,
    /// `sshkeys`: percent-encoded on the wire, compared line by line.
    SshKeys,
    /// A value Proxmox never shows (`cipassword` reads back as `**********`): set when absent.
    WriteOnly,
}

/// One managed config key: the desired value and how to compare it.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct Setting {
    pub value: String,
    pub cmp: Cmp,
    pub secret: bool,
}

impl Setting {
    pub fn new(value: impl Into<String>, cmp: Cmp) -> Self {
        Self {
            value: value.into(),
            cmp,
            secret: false,
        }
    }

    pub fn secret(value: impl Into<String>, cmp: Cmp) -> Self {
        Self {
            value: value.into(),
            cmp,
            secret: true,
        }
    }
}

impl fmt::Debug for Setting {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let value = if self.secret {
            crate::params::REDACTED
        } else {
            &self.value
        };
        write!(f, "{value:?} ({:?})", self.cmp)
    }
}

/// Whether the observed value already is what the setting wants.
pub(crate) fn equal(setting: &Setting, observed: Option<&str>) -> bool {
    let want = setting.value.as_str();
    match &setting.cmp {
        Cmp::Text => observed == Some(want),
        Cmp::Trimmed => observed.is_some_and(|o| trimmed(o) == trimmed(want)),
        Cmp::Int { default } => {
            let obs = observed.map_or(*default, |o| o.trim().parse().ok());
            obs.is_some() && obs == want.parse().ok()
        }
        Cmp::Bool { default } => {
            let obs = observed.map_or(Some(*default), parse_bool);
            obs.is_some() && obs == parse_bool(want)
        }
        Cmp::DefaultKey { key, default } => {
            let props = observed.map(Props::parse_lenient);
            let obs = match &props {
                Some(p) => p.default_or(key),
                None => *default,
            };
            obs == Some(want)
        }
        Cmp::Props { keys } => observed.is_some_and(|o| {
            let (obs, des) = (Props::parse_lenient(o), Props::parse_lenient(want));
            keys.iter().all(|k| obs.get(k) == des.get(k))
        }),
        Cmp::Nic { qemu } => observed.is_some_and(|o| {
            let (obs, des) = (nic(o, *qemu), nic(want, *qemu));
            nic_keys(&des, *qemu).all(|k| obs.get(k) == des.get(k))
        }),
        Cmp::Tags => normalise_tags(observed) == normalise_tags([want]),
        Cmp::Words => words(observed.unwrap_or("")) == words(want),
        Cmp::SshKeys => key_lines(&percent_decode(observed.unwrap_or(""))) == key_lines(want),
        Cmp::WriteOnly => observed.is_some_and(|o| !o.is_empty()),
    }
}

/// The value to send so that the key becomes what the setting wants, keeping what the spec does
/// not manage from the observed value.
pub(crate) fn render(setting: &Setting, observed: Option<&str>) -> String {
    let want = setting.value.as_str();
    match (&setting.cmp, observed) {
        (Cmp::DefaultKey { key, .. }, Some(o)) => {
            let mut p = Props::parse_lenient(o);
            p.set_default_or(key, want);
            p.to_string()
        }
        (Cmp::Props { keys }, Some(o)) => {
            let mut p = Props::parse_lenient(o);
            let des = Props::parse_lenient(want);
            for k in keys {
                match des.get(k) {
                    Some(v) => p.set(k, v),
                    None => {
                        p.remove(k);
                    }
                }
            }
            if p.default_value.is_none() {
                p.default_value = des.default_value;
            }
            p.to_string()
        }
        (Cmp::Nic { qemu }, Some(o)) => render_nic(want, o, *qemu),
        (Cmp::Nic { qemu: true }, None) => print_qemu_nic(&nic(want, true)),
        (Cmp::SshKeys, _) => percent_encode(want),
        _ => want.to_string(),
    }
}

fn trimmed(text: &str) -> Vec<&str> {
    text.trim_end().lines().map(str::trim_end).collect()
}

fn parse_bool(text: &str) -> Option<bool> {
    match text.trim() {
        "1" | "true" | "on" | "yes" => Some(true),
        "0" | "false" | "off" | "no" => Some(false),
        _ => None,
    }
}

fn words(text: &str) -> Vec<&str> {
    text.split([' ', ',', ';', '\t', '\n'])
        .filter(|w| !w.is_empty())
        .collect()
}

/// The MAC key of a NIC format.
fn mac_key(qemu: bool) -> &'static str {
    if qemu { "macaddr" } else { "hwaddr" }
}

/// A NIC in a comparable form: qemu's `virtio=<MAC>` shorthand split into `model` and `macaddr`,
/// MACs uppercased, and off-flags (`firewall=0`, `link_down=0`) dropped because absent means off.
fn nic(text: &str, qemu: bool) -> Props {
    let mut p = Props::parse_lenient(text);
    if qemu {
        if let Some(model) = p.default_value.take() {
            p.items.insert(0, ("model".into(), model));
        } else if let Some((k, v)) = p.items.first().cloned()
            && QEMU_NIC_MODELS.contains(&k.as_str())
        {
            p.items.remove(0);
            p.items.insert(0, ("model".into(), k));
            p.set("macaddr", v);
        }
    }
    let mac = mac_key(qemu);
    if let Some(m) = p.remove(mac) {
        p.set(mac, m.to_ascii_uppercase());
    }
    for flag in ["firewall", "link_down"] {
        if p.get(flag) == Some("0") {
            p.remove(flag);
        }
    }
    p
}

/// The keys a desired NIC manages: everything the spec models, and the MAC only when given.
fn nic_keys(desired: &Props, qemu: bool) -> impl Iterator<Item = &'static str> {
    let keys: &'static [&'static str] = if qemu {
        &["model", "bridge", "tag", "firewall", "mtu"]
    } else {
        &[
            "name", "bridge", "ip", "gw", "ip6", "gw6", "tag", "firewall", "mtu",
        ]
    };
    let mac = desired.get(mac_key(qemu)).map(|_| mac_key(qemu));
    keys.iter().copied().chain(mac)
}

fn render_nic(want: &str, observed: &str, qemu: bool) -> String {
    let des = nic(want, qemu);
    let obs = nic(observed, qemu);
    let mut out = des.clone();
    let mac = mac_key(qemu);
    // Sending a NIC without its MAC makes Proxmox generate a new one: keep the observed MAC.
    if out.get(mac).is_none()
        && let Some(m) = obs.get(mac)
    {
        out.set(mac, m);
    }
    let managed: Vec<&str> = nic_keys(&des, qemu).chain([mac]).collect();
    for (k, v) in &obs.items {
        if !managed.contains(&k.as_str()) {
            out.set(k, v.clone());
        }
    }
    if qemu {
        print_qemu_nic(&out)
    } else {
        out.to_string()
    }
}

/// A qemu NIC in the form Proxmox writes: `virtio=<MAC>,bridge=...` or `virtio,bridge=...`.
fn print_qemu_nic(p: &Props) -> String {
    let mut rest = p.clone();
    let model = rest.remove("model").unwrap_or_else(|| "virtio".into());
    rest.default_value = Some(match rest.remove("macaddr") {
        Some(mac) => format!("{model}={mac}"),
        None => model,
    });
    rest.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(value: &str, cmp: Cmp) -> Setting {
        Setting::new(value, cmp)
    }

    #[test]
    fn qemu_nic_with_generated_mac_equals_spec() {
        let want = s(
            "virtio,bridge=vmbr0,tag=20,firewall=1",
            Cmp::Nic { qemu: true },
        );
        let obs = "virtio=BC:24:11:AA:BB:CC,bridge=vmbr0,firewall=1,tag=20";
        assert!(equal(&want, Some(obs)));
        assert!(equal(
            &want,
            Some("model=virtio,macaddr=bc:24:11:aa:bb:cc,bridge=vmbr0,tag=20,firewall=1")
        ));
        let moved = s(
            "virtio,bridge=vmbr1,tag=20,firewall=1",
            Cmp::Nic { qemu: true },
        );
        assert!(!equal(&moved, Some(obs)));
        assert_eq!(
            render(&moved, Some(&format!("{obs},rate=10"))),
            "virtio=BC:24:11:AA:BB:CC,bridge=vmbr1,tag=20,firewall=1,rate=10"
        );
        let fw_off = s("virtio,bridge=vmbr0", Cmp::Nic { qemu: true });
        assert!(equal(
            &fw_off,
            Some("virtio=BC:24:11:AA:BB:CC,bridge=vmbr0,firewall=0")
        ));
        assert!(!equal(&fw_off, Some(obs)));
    }

    #[test]
    fn default_key_values() {
        let mem = s(
            "4096",
            Cmp::DefaultKey {
                key: "current",
                default: Some("512"),
            },
        );
        assert!(equal(&mem, Some("4096")));
        assert!(equal(&mem, Some("current=4096")));
        assert!(!equal(&mem, None));
        let agent = s(
            "1",
            Cmp::DefaultKey {
                key: "enabled",
                default: Some("0"),
            },
        );
        assert!(equal(&agent, Some("enabled=1,fstrim_cloned_disks=1")));
        assert_eq!(
            render(&agent, Some("enabled=0,type=virtio")),
            "enabled=1,type=virtio"
        );
    }

    #[test]
    fn scalars_lists_and_secrets() {
        assert!(equal(&s("1", Cmp::Int { default: Some(1) }), None));
        assert!(!equal(&s("2", Cmp::Int { default: Some(1) }), Some("x")));
        assert!(equal(&s("0", Cmp::Bool { default: false }), None));
        assert!(equal(
            &s("kubepve;prod;web", Cmp::Tags),
            Some("Web;prod,kubepve")
        ));
        assert!(equal(
            &s("1.1.1.1 8.8.8.8", Cmp::Words),
            Some("1.1.1.1  8.8.8.8")
        ));
        let keys = s("ssh-ed25519 AAA a@b\n", Cmp::SshKeys);
        assert!(equal(&keys, Some("ssh-ed25519%20AAA%20a%40b%0A")));
        assert!(equal(&s("pw", Cmp::WriteOnly), Some("**********")));
        let ip = s(
            "ip=10.0.0.5/24,gw=10.0.0.1",
            Cmp::Props {
                keys: vec!["ip".into(), "gw".into(), "ip6".into()],
            },
        );
        assert!(!equal(&ip, Some("ip=dhcp,ip6=auto")));
        assert_eq!(
            render(&ip, Some("ip=dhcp,ip6=auto")),
            "ip=10.0.0.5/24,gw=10.0.0.1"
        );
    }
}
