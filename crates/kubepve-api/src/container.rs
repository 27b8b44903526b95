//! `ProxmoxContainer`: an LXC container created from an OS template.

use std::collections::BTreeMap;

use kube::{CustomResource, KubeSchema};
use serde::{Deserialize, Serialize};

use crate::common::{
    BRIDGE_PATTERN, DNS_NAME_PATTERN, GuestCommon, GuestStatus, MAC_PATTERN, STORAGE_PATTERN,
    SecretKeySelector, default_true,
};
use crate::quantity::Quantity;
use crate::vm::NET_SLOT_PATTERN;

/// Pattern of a container mount point slot (`mp0`..`mp255`).
pub const MP_SLOT_PATTERN: &str = r"^mp([0-9]|[1-9][0-9]|1[0-9][0-9]|2[0-4][0-9]|25[0-5])$";

/// An LXC container on Proxmox VE.
#[derive(CustomResource, Clone, Debug, PartialEq, Serialize, Deserialize, KubeSchema)]
#[kube(
    group = "kubepve.io",
    doc = "An LXC container on Proxmox VE, reconciled by kubepve.",
    version = "v1alpha1",
    kind = "ProxmoxContainer",
    plural = "proxmoxcontainers",
    singular = "proxmoxcontainer",
    shortname = "pct",
    category = "proxmox",
    namespaced,
    status = "GuestStatus",
    printcolumn = r#"{"name":"VMID","type":"integer","jsonPath":".status.vmid"}"#,
    printcolumn = r#"{"name":"Node","type":"string","jsonPath":".status.node"}"#,
    printcolumn = r#"{"name":"Phase","type":"string","jsonPath":".status.phase"}"#,
    printcolumn = r#"{"name":"Ready","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].status"}"#,
    printcolumn = r#"{"name":"Task","type":"string","jsonPath":".status.currentTask.type"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#,
    printcolumn = r#"{"name":"Message","type":"string","priority":1,"jsonPath":".status.conditions[?(@.type==\"Ready\")].message"}"#
)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = kube::core::Rule::new("!has(self.managementPolicy) || self.managementPolicy != 'ObserveOnly' || has(self.vmid)").message("managementPolicy ObserveOnly needs spec.vmid: the VMID of the guest to observe").field_path(".vmid").reason(kube::core::Reason::FieldValueRequired))]
#[x_kube(validation = kube::core::Rule::new("!has(self.adopt) || has(self.vmid)").message("adopt needs spec.vmid: the VMID of the existing guest to take over").field_path(".vmid").reason(kube::core::Reason::FieldValueRequired))]
#[x_kube(validation = kube::core::Rule::new("!has(self.node) || !has(self.placement) || !has(self.placement.allowedNodes) || self.node in self.placement.allowedNodes").message("node must be one of placement.allowedNodes").field_path(".node"))]
#[x_kube(validation = kube::core::Rule::new("!has(oldSelf.vmid) || (has(self.vmid) && self.vmid == oldSelf.vmid)").message("vmid is immutable once set").field_path(".vmid").reason(kube::core::Reason::FieldValueForbidden))]
#[x_kube(validation = kube::core::Rule::new("self.unprivileged == oldSelf.unprivileged").message("unprivileged is immutable: Proxmox cannot convert an existing container").field_path(".unprivileged").reason(kube::core::Reason::FieldValueForbidden))]
pub struct ProxmoxContainerSpec {
    /// Connection, node, VMID, tags, policies and the other fields containers share with VMs.
    #[serde(flatten)]
    pub guest: GuestCommon,
    /// OS template volume (`local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst`). Only used
    /// at creation.
    #[schemars(
        length(min = 1, max = 255),
        regex(pattern = r"^[a-zA-Z][a-zA-Z0-9_.-]*:vztmpl/.+$")
    )]
    pub ostemplate: String,
    /// Container hostname (a DNS name). Defaults to the object's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 253), regex(pattern = DNS_NAME_PATTERN))]
    pub hostname: Option<String>,
    /// Root filesystem.
    pub rootfs: RootFs,
    /// Additional mount points by slot.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 32))]
    #[x_kube(merge_strategy = kube::core::ListMerge::Map(vec!["slot".into()]))]
    pub mount_points: Vec<MountPoint>,
    /// Run the container unprivileged (user namespaces). Fixed at creation.
    #[serde(default = "default_true")]
    pub unprivileged: bool,
    /// Container features.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub features: Option<ContainerFeatures>,
    /// CPU cores the container may use.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 8192))]
    pub cores: Option<i32>,
    /// Memory limit as a quantity (`1Gi`); Proxmox counts whole MiB, at least 16Mi.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory: Option<Quantity>,
    /// Swap as a quantity (`512Mi`, or `0`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub swap: Option<Quantity>,
    /// Network interfaces by slot.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 32))]
    #[x_kube(merge_strategy = kube::core::ListMerge::Map(vec!["slot".into()]))]
    pub networks: Vec<ContainerNetwork>,
    /// Root password, from a Secret (at least 5 characters); it never appears in status, events
    /// or logs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_secret_ref: Option<SecretKeySelector>,
    /// SSH public keys for root, one per line, from a Secret key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ssh_keys_secret_ref: Option<SecretKeySelector>,
    /// SSH public keys for root given inline.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 32), inner(length(min = 1, max = 16384)))]
    pub ssh_authorized_keys: Vec<String>,
    /// DNS servers (IP addresses); the host's when unset.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(
        length(max = 3),
        inner(length(min = 2, max = 45), regex(pattern = r"^[0-9a-fA-F.:]+$"))
    )]
    pub nameservers: Vec<String>,
    /// DNS search domain; the host's when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 253), regex(pattern = DNS_NAME_PATTERN))]
    pub search_domain: Option<String>,
    /// OS type; Proxmox detects it from the template when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("enum" = ["debian", "devuan", "ubuntu", "centos", "fedora", "opensuse", "archlinux", "alpine", "gentoo", "nixos", "unmanaged"]))]
    pub ostype: Option<String>,
}

/// The container's root filesystem.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct RootFs {
    /// Storage for the root volume (for example `local-lvm`).
    #[schemars(length(min = 1, max = 64), regex(pattern = STORAGE_PATTERN))]
    pub storage: String,
    /// Size as a quantity (`8Gi`); it can grow, never shrink.
    pub size: Quantity,
    /// Further Proxmox mount options, such as `acl: "1"` or `mountoptions: noatime`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(extend("maxProperties" = 16))]
    pub options: BTreeMap<String, String>,
}

/// A container mount point backed by a new volume.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct MountPoint {
    /// Proxmox slot: mp0..mp255.
    #[schemars(regex(pattern = MP_SLOT_PATTERN))]
    pub slot: String,
    /// Storage for the volume.
    #[schemars(length(min = 1, max = 64), regex(pattern = STORAGE_PATTERN))]
    pub storage: String,
    /// Size as a quantity (`50Gi`); it can grow, never shrink.
    pub size: Quantity,
    /// Absolute path inside the container.
    #[schemars(length(min = 2, max = 255), regex(pattern = r"^/[^,]*[^/,]$"))]
    pub path: String,
    /// Further Proxmox mount options, such as `backup: "1"` or `ro: "1"`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(extend("maxProperties" = 16))]
    pub options: BTreeMap<String, String>,
}

/// LXC features.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct ContainerFeatures {
    /// Allow nested containers (needed by systemd in many recent distributions).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nesting: Option<bool>,
    /// Allow the keyctl() system call (needed by Docker in unprivileged containers).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keyctl: Option<bool>,
    /// Allow FUSE mounts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fuse: Option<bool>,
    /// Allow mknod() of a safe set of devices.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mknod: Option<bool>,
    /// File system types the container may mount (for example `nfs`, `cifs`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(
        length(max = 16),
        inner(length(min = 1, max = 32), regex(pattern = r"^[a-z0-9]+$"))
    )]
    pub mount: Vec<String>,
}

/// A container network interface.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = kube::core::Rule::new("!has(self.gateway) || (has(self.ip) && self.ip != 'dhcp' && self.ip != 'manual')").message("gateway needs a static ip").field_path(".gateway"))]
#[x_kube(validation = kube::core::Rule::new("!has(self.gateway6) || (has(self.ip6) && self.ip6 != 'dhcp' && self.ip6 != 'auto' && self.ip6 != 'manual')").message("gateway6 needs a static ip6").field_path(".gateway6"))]
pub struct ContainerNetwork {
    /// Proxmox slot: net0..net31.
    #[schemars(regex(pattern = NET_SLOT_PATTERN))]
    pub slot: String,
    /// Interface name inside the container (`eth0`).
    #[schemars(
        length(min = 1, max = 15),
        regex(pattern = r"^[a-zA-Z][a-zA-Z0-9_.-]*$")
    )]
    pub name: String,
    /// Bridge or SDN vnet to attach to (for example `vmbr0`).
    #[schemars(length(min = 1, max = 15), regex(pattern = BRIDGE_PATTERN))]
    pub bridge: String,
    /// `dhcp`, `manual`, or an IPv4 address with prefix length (`10.0.0.5/24`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(
        pattern = r"^(dhcp|manual|([0-9]{1,3}\.){3}[0-9]{1,3}/([0-9]|[12][0-9]|3[0-2]))$"
    ))]
    pub ip: Option<String>,
    /// IPv4 gateway.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^([0-9]{1,3}\.){3}[0-9]{1,3}$"))]
    pub gateway: Option<String>,
    /// `dhcp`, `auto` (SLAAC), `manual`, or an IPv6 address with prefix length.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(
        length(max = 50),
        regex(pattern = r"^(dhcp|auto|manual|[0-9a-fA-F:]+/[0-9]{1,3})$")
    )]
    pub ip6: Option<String>,
    /// IPv6 gateway.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 45), regex(pattern = r"^[0-9a-fA-F:]+$"))]
    pub gateway6: Option<String>,
    /// VLAN tag.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 4094))]
    pub vlan: Option<i32>,
    /// Protect the interface with the Proxmox firewall.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub firewall: Option<bool>,
    /// MAC address; Proxmox generates one when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = MAC_PATTERN))]
    pub mac: Option<String>,
    /// MTU of the interface.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 64, max = 65535))]
    pub mtu: Option<i32>,
}
