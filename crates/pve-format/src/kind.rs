//! The one guest kind both binaries and every shared crate use: a QEMU VM or an LXC container.
//! Proxmox spells it `qemu`/`lxc` (API paths, `/cluster/resources` types, serde); `pvectl`
//! shows it to users as `vm`/`ct` ([`GuestKind::short`]).

use serde::{Deserialize, Serialize};

/// Which Proxmox guest type.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum GuestKind {
    /// A QEMU virtual machine (`/nodes/{node}/qemu`).
    Qemu,
    /// An LXC container (`/nodes/{node}/lxc`).
    Lxc,
}

impl GuestKind {
    /// The API path segment and `/cluster/resources` type: `qemu` or `lxc`.
    pub fn as_str(self) -> &'static str {
        match self {
            GuestKind::Qemu => "qemu",
            GuestKind::Lxc => "lxc",
        }
    }

    /// From `qemu`/`lxc`; `None` for anything else (storage, node, ... resources).
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "qemu" => Some(GuestKind::Qemu),
            "lxc" => Some(GuestKind::Lxc),
            _ => None,
        }
    }

    /// The short name users type and see in `pvectl`: `vm` or `ct`.
    pub fn short(self) -> &'static str {
        match self {
            GuestKind::Qemu => "vm",
            GuestKind::Lxc => "ct",
        }
    }

    /// `VM` or `container`, for sentences.
    pub fn noun(self) -> &'static str {
        match self {
            GuestKind::Qemu => "VM",
            GuestKind::Lxc => "container",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_spelling_round_trips() {
        for kind in [GuestKind::Qemu, GuestKind::Lxc] {
            assert_eq!(GuestKind::parse(kind.as_str()), Some(kind));
            let json = serde_json::to_string(&kind).expect("serialises");
            assert_eq!(json, format!("\"{}\"", kind.as_str()));
        }
        assert_eq!(GuestKind::Qemu.short(), "vm");
        assert_eq!(GuestKind::Lxc.short(), "ct");
        assert_eq!(GuestKind::parse("storage"), None);
    }
}
