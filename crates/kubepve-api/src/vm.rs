//! `ProxmoxVM`: a QEMU virtual machine, cloned from a template or created blank.

use std::collections::BTreeMap;

use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::common::{
    BRIDGE_PATTERN, DNS_NAME_PATTERN, GuestCommon, GuestStatus, MAC_PATTERN, STORAGE_PATTERN,
    SecretKeySelector,
};
use crate::quantity::Quantity;

/// Pattern of a VM disk slot (`scsi0`..`scsi30`, `virtio0`..`virtio15`, `sata0`..`sata5`,
/// `ide0`..`ide3`, `efidisk0`, `tpmstate0`).
pub const VM_DISK_SLOT_PATTERN: &str =
    r"^(scsi([0-9]|[12][0-9]|30)|virtio([0-9]|1[0-5])|sata[0-5]|ide[0-3]|efidisk0|tpmstate0)$";
/// Pattern of a network slot (`net0`..`net31`).
pub const NET_SLOT_PATTERN: &str = r"^net([0-9]|[12][0-9]|3[01])$";
/// Pattern of a cloud-init ipconfig slot (`ipconfig0`..`ipconfig31`).
pub const IPCONFIG_SLOT_PATTERN: &str = r"^ipconfig([0-9]|[12][0-9]|3[01])$";

/// A QEMU virtual machine on Proxmox VE.
#[derive(CustomResource, Clone, Debug, PartialEq, Serialize, Deserialize, KubeSchema)]
#[kube(
    group = "kubepve.io",
    doc = "A QEMU virtual machine on Proxmox VE, reconciled by kubepve.",
    version = "v1alpha1",
    kind = "ProxmoxVM",
    plural = "proxmoxvms",
    singular = "proxmoxvm",
    shortname = "pvm",
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
pub struct ProxmoxVMSpec {
    /// Connection, node, VMID, tags, policies and the other fields VMs share with containers.
    #[serde(flatten)]
    pub guest: GuestCommon,
    /// The VM name in Proxmox (a DNS name). Defaults to the object's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 253), regex(pattern = DNS_NAME_PATTERN))]
    pub name: Option<String>,
    /// Where the VM comes from when it is created: exactly one of clone or blank. Only used at
    /// creation.
    pub source: VmSource,
    /// Virtual CPUs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu: Option<CpuSpec>,
    /// Memory, as a Kubernetes quantity (`4Gi`); Proxmox counts whole MiB, at least 16Mi.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory: Option<Quantity>,
    /// Disks by slot. A listed disk is created (blank VM) or grown (clone) to its size; Proxmox
    /// cannot shrink disks, so a smaller size is reported, not applied.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 32))]
    #[x_kube(merge_strategy = kube::core::ListMerge::Map(vec!["slot".into()]))]
    pub disks: Vec<Disk>,
    /// Network devices by slot.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 32))]
    #[x_kube(merge_strategy = kube::core::ListMerge::Map(vec!["slot".into()]))]
    pub networks: Vec<Network>,
    /// Cloud-init settings; secrets come from Kubernetes Secrets.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cloud_init: Option<CloudInit>,
    /// Guest operating system type, which tunes Proxmox's defaults (`l26` for Linux).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("enum" = ["other", "wxp", "w2k", "w2k3", "w2k8", "wvista", "win7", "win8", "win10", "win11", "l24", "l26", "solaris"]))]
    pub ostype: Option<String>,
    /// Enable the QEMU guest agent (needed for IP addresses and clean shutdowns).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent: Option<bool>,
    /// How the VM is migrated when `spec.node` changes (see docs/migration.md).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub migration: Option<crate::migration::VmMigration>,
}

/// Where a VM comes from. Exactly one of `clone` and `blank`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = kube::core::Rule::new("has(self.clone) != has(self.blank)").message("set exactly one of source.clone and source.blank"))]
pub struct VmSource {
    /// Clone a template.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clone: Option<CloneSource>,
    /// Create an empty VM from the fields of this spec.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub blank: Option<BlankSource>,
}

/// Clone of a template VM, found by VMID or by name.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = kube::core::Rule::new("has(self.templateVmid) != has(self.templateName)").message("set exactly one of templateVmid and templateName"))]
#[x_kube(validation = kube::core::Rule::new("!has(self.storage) || !has(self.mode) || self.mode == 'Full'").message("storage can only be set for a Full clone; a Linked clone stays on the template's storage").field_path(".storage"))]
pub struct CloneSource {
    /// VMID of the template.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 100, max = 999_999_999))]
    pub template_vmid: Option<i64>,
    /// Name of the template; it must match exactly one template in the cluster.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 253), regex(pattern = DNS_NAME_PATTERN))]
    pub template_name: Option<String>,
    /// Full (an independent copy) or Linked (copy-on-write from the template; faster, but the
    /// template cannot be removed while linked clones exist).
    #[serde(default)]
    pub mode: CloneMode,
    /// Target storage for a Full clone's disks; defaults to the template's storage.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 64), regex(pattern = STORAGE_PATTERN))]
    pub storage: Option<String>,
}

/// How a template is cloned.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum CloneMode {
    /// An independent copy of the template's disks.
    #[default]
    Full,
    /// A copy-on-write clone that shares the template's base disks.
    Linked,
}

/// An empty VM; disks, networks and the rest come from the spec.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct BlankSource {
    /// ISO image to attach as a CD-ROM on ide2, as a Proxmox volume id
    /// (`local:iso/debian-12.iso`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(
        length(min = 1, max = 255),
        regex(pattern = r"^[a-zA-Z][a-zA-Z0-9_.-]*:iso/.+$")
    )]
    pub iso: Option<String>,
}

/// Virtual CPU layout.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct CpuSpec {
    /// Cores per socket.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 1024))]
    pub cores: Option<i32>,
    /// Number of sockets.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 16))]
    pub sockets: Option<i32>,
    /// Emulated CPU type, such as `host` or `x86-64-v2-AES`.
    #[serde(default, skip_serializing_if = "Option::is_none", rename = "type")]
    #[schemars(length(min = 1, max = 64), regex(pattern = r"^[a-zA-Z0-9_.+-]+$"))]
    pub cpu_type: Option<String>,
}

/// A VM disk.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct Disk {
    /// Proxmox slot: scsi0..30, virtio0..15, sata0..5, ide0..3, efidisk0 or tpmstate0.
    #[schemars(regex(pattern = VM_DISK_SLOT_PATTERN))]
    pub slot: String,
    /// Storage the disk is allocated on (for example `local-lvm`).
    #[schemars(length(min = 1, max = 64), regex(pattern = STORAGE_PATTERN))]
    pub storage: String,
    /// Disk size as a quantity (`32Gi`); Proxmox allocates whole GiB for new disks.
    pub size: Quantity,
    /// Further Proxmox drive options, such as `discard: "on"`, `iothread: "1"`, `ssd: "1"`,
    /// `cache: writeback`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(extend("maxProperties" = 16))]
    pub options: BTreeMap<String, String>,
}

/// A VM network device.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct Network {
    /// Proxmox slot: net0..net31.
    #[schemars(regex(pattern = NET_SLOT_PATTERN))]
    pub slot: String,
    /// Network card model.
    #[serde(default)]
    pub model: NicModel,
    /// Bridge or SDN vnet to attach to (for example `vmbr0`).
    #[schemars(length(min = 1, max = 15), regex(pattern = BRIDGE_PATTERN))]
    pub bridge: String,
    /// VLAN tag.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 4094))]
    pub vlan: Option<i32>,
    /// Protect the interface with the Proxmox firewall.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub firewall: Option<bool>,
    /// MAC address; Proxmox generates one when unset, and the operator keeps what it generated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = MAC_PATTERN))]
    pub mac: Option<String>,
    /// MTU (virtio only); 1 means the bridge's MTU.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 65520))]
    pub mtu: Option<i32>,
}

/// A network card model Proxmox emulates.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum NicModel {
    /// Paravirtualised; the fastest, needs virtio drivers in the guest.
    #[default]
    Virtio,
    /// Intel E1000.
    E1000,
    /// Intel E1000E.
    E1000e,
    /// Realtek RTL8139.
    Rtl8139,
    /// VMware vmxnet3.
    Vmxnet3,
}

/// Cloud-init settings for a VM. The VM needs a cloud-init drive: a template usually has one,
/// otherwise set `storage` and the operator adds one.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct CloudInit {
    /// Default user name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 64), regex(pattern = r"^[a-z_][a-z0-9_-]*$"))]
    pub user: Option<String>,
    /// The user's password, from a Secret; it never appears in status, events or logs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_secret_ref: Option<SecretKeySelector>,
    /// SSH public keys, one per line, from a Secret key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ssh_keys_secret_ref: Option<SecretKeySelector>,
    /// SSH public keys given inline (they are public; use sshKeysSecretRef to keep them out of git).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 32), inner(length(min = 1, max = 16384)))]
    pub ssh_authorized_keys: Vec<String>,
    /// IP configuration per network device (ipconfigN configures netN).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 32))]
    #[x_kube(merge_strategy = kube::core::ListMerge::Map(vec!["slot".into()]))]
    pub ip_configs: Vec<IpConfig>,
    /// DNS servers (IP addresses).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(
        length(max = 3),
        inner(length(min = 2, max = 45), regex(pattern = r"^[0-9a-fA-F.:]+$"))
    )]
    pub nameservers: Vec<String>,
    /// DNS search domain.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 253), regex(pattern = DNS_NAME_PATTERN))]
    pub search_domain: Option<String>,
    /// Storage for the cloud-init drive when the VM has none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 64), regex(pattern = STORAGE_PATTERN))]
    pub storage: Option<String>,
}

/// Cloud-init IP configuration of one network device.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = kube::core::Rule::new("!has(self.gateway) || (has(self.ip) && self.ip != 'dhcp')").message("gateway needs a static ip").field_path(".gateway"))]
#[x_kube(validation = kube::core::Rule::new("!has(self.gateway6) || (has(self.ip6) && self.ip6 != 'dhcp' && self.ip6 != 'auto')").message("gateway6 needs a static ip6").field_path(".gateway6"))]
pub struct IpConfig {
    /// ipconfig0..ipconfig31; ipconfigN applies to netN.
    #[schemars(regex(pattern = IPCONFIG_SLOT_PATTERN))]
    pub slot: String,
    /// `dhcp` or an IPv4 address with prefix length (`10.0.0.5/24`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^(dhcp|([0-9]{1,3}\.){3}[0-9]{1,3}/([0-9]|[12][0-9]|3[0-2]))$"))]
    pub ip: Option<String>,
    /// IPv4 gateway.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^([0-9]{1,3}\.){3}[0-9]{1,3}$"))]
    pub gateway: Option<String>,
    /// `dhcp`, `auto` (SLAAC) or an IPv6 address with prefix length.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(
        length(max = 50),
        regex(pattern = r"^(dhcp|auto|[0-9a-fA-F:]+/[0-9]{1,3})$")
    )]
    pub ip6: Option<String>,
    /// IPv6 gateway.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 45), regex(pattern = r"^[0-9a-fA-F:]+$"))]
    pub gateway6: Option<String>,
}
