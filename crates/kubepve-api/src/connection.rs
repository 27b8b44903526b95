//! `ProxmoxConnection`: how to reach one Proxmox VE cluster, with credentials from a Secret.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use kube::{CustomResource, KubeSchema};
use serde::{Deserialize, Serialize};

/// Pattern of a certificate fingerprint in Proxmox's form: 32 hex pairs joined by `:`.
pub const FINGERPRINT_PATTERN: &str = r"^([0-9A-Fa-f]{2}:){31}[0-9A-Fa-f]{2}$";

/// A Proxmox VE cluster endpoint and the credentials to use it.
#[derive(CustomResource, Clone, Debug, PartialEq, Serialize, Deserialize, KubeSchema)]
#[kube(
    group = "kubepve.io",
    doc = "How kubepve reaches a Proxmox VE cluster.",
    version = "v1alpha1",
    kind = "ProxmoxConnection",
    plural = "proxmoxconnections",
    singular = "proxmoxconnection",
    shortname = "pxconn",
    category = "proxmox",
    namespaced,
    status = "ProxmoxConnectionStatus",
    printcolumn = r#"{"name":"Endpoint","type":"string","jsonPath":".spec.endpoint"}"#,
    printcolumn = r#"{"name":"Reachable","type":"boolean","jsonPath":".status.reachable"}"#,
    printcolumn = r#"{"name":"Version","type":"string","jsonPath":".status.version"}"#,
    printcolumn = r#"{"name":"Ready","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].status"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#,
    printcolumn = r#"{"name":"Message","type":"string","priority":1,"jsonPath":".status.conditions[?(@.type==\"Ready\")].message"}"#
)]
#[serde(rename_all = "camelCase")]
pub struct ProxmoxConnectionSpec {
    /// Base URL of the Proxmox API, such as `https://pve1.example.com:8006`.
    #[schemars(
        length(min = 9, max = 2048),
        regex(pattern = r"^https://[^\s/?#]+(:[0-9]{1,5})?/?$")
    )]
    pub endpoint: String,
    /// Secret (same namespace) holding either `tokenId` (`user@realm!name`) and `tokenSecret`, or
    /// `username` (`user@realm`) and `password`.
    pub credentials_secret_ref: CredentialsSecretRef,
    /// How the server's certificate is verified. With nothing set the system's trusted roots are
    /// used; Proxmox's default self-signed certificate then needs caBundle or fingerprint.
    #[serde(default)]
    pub tls: ConnectionTls,
    /// Limits on the load the operator puts on this Proxmox cluster.
    #[serde(default)]
    pub limits: ConnectionLimits,
    /// The VMIDs the operator allocates from for guests without `spec.vmid`: the lowest free id
    /// in the range. Unset: the lowest id Proxmox reports free (`/cluster/nextid`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vmid_range: Option<VmidRange>,
    /// Default placement for guests on this connection that set neither `node` nor
    /// `placement.allowedNodes`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub placement: Option<crate::common::Placement>,
}

/// An inclusive range of VMIDs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = kube::core::Rule::new("self.start <= self.end").message("vmidRange.start must not be greater than vmidRange.end"))]
pub struct VmidRange {
    /// First VMID of the range.
    #[schemars(range(min = 100, max = 999_999_999))]
    pub start: i64,
    /// Last VMID of the range (inclusive).
    #[schemars(range(min = 100, max = 999_999_999))]
    pub end: i64,
}

/// The Secret with the Proxmox credentials and, optionally, which keys hold them.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct CredentialsSecretRef {
    /// Name of the Secret, in the same namespace as the connection.
    #[schemars(length(min = 1, max = 253))]
    pub name: String,
}

/// TLS verification settings.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = kube::core::Rule::new("!(has(self.insecureSkipVerify) && self.insecureSkipVerify) || (!has(self.caBundle) && !has(self.fingerprint))").message("insecureSkipVerify turns verification off; it cannot be combined with caBundle or fingerprint"))]
pub struct ConnectionTls {
    /// PEM CA certificates to trust instead of the system roots (for example the cluster's
    /// `/etc/pve/pve-root-ca.pem`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 65536))]
    pub ca_bundle: Option<String>,
    /// SHA-256 fingerprint of the server certificate (`AA:BB:...`, as `pvenode cert info` shows
    /// it). When set, exactly that certificate is accepted, whoever signed it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = FINGERPRINT_PATTERN))]
    pub fingerprint: Option<String>,
    /// Accept any certificate. Only for throwaway labs: it lets anyone in the path read the
    /// credentials.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub insecure_skip_verify: bool,
}

/// Limits on how the operator talks to this Proxmox cluster.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct ConnectionLimits {
    /// Most Proxmox API requests in flight at once.
    #[serde(default = "default_max_in_flight")]
    #[schemars(range(min = 1, max = 64))]
    pub max_in_flight: i32,
    /// Seconds before one API request is abandoned.
    #[serde(default = "default_request_timeout")]
    #[schemars(range(min = 1, max = 600))]
    pub request_timeout_seconds: i32,
    /// Seconds between the cluster-wide reads that detect drift (one read per connection).
    #[serde(default = "default_poll_interval")]
    #[schemars(range(min = 5, max = 3600))]
    pub poll_interval_seconds: i32,
    /// Most create and clone tasks the operator runs at once on one node.
    #[serde(default = "default_creates_per_node")]
    #[schemars(range(min = 1, max = 64))]
    pub max_concurrent_creates_per_node: i32,
    /// Most clone tasks the operator runs at once from or to one storage. Proxmox serialises
    /// clones on a storage lock, and parallel clones time out waiting for it.
    #[serde(default = "default_clones_per_storage")]
    #[schemars(range(min = 1, max = 64))]
    pub max_concurrent_clones_per_storage: i32,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        Self {
            max_in_flight: default_max_in_flight(),
            request_timeout_seconds: default_request_timeout(),
            poll_interval_seconds: default_poll_interval(),
            max_concurrent_creates_per_node: default_creates_per_node(),
            max_concurrent_clones_per_storage: default_clones_per_storage(),
        }
    }
}

fn default_max_in_flight() -> i32 {
    8
}

fn default_request_timeout() -> i32 {
    30
}

fn default_poll_interval() -> i32 {
    30
}

fn default_creates_per_node() -> i32 {
    16
}

fn default_clones_per_storage() -> i32 {
    2
}

/// A Proxmox node as the connection last saw it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct NodeInfo {
    /// Node name.
    pub name: String,
    /// `online`, `offline` or `unknown`.
    pub status: String,
}

/// The observed state of a ProxmoxConnection.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct ProxmoxConnectionStatus {
    /// The metadata.generation this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// Whether the last check reached the API and authenticated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reachable: Option<bool>,
    /// Proxmox VE version (`/version`), such as `9.1.1`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// The cluster's nodes and whether they are online.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[x_kube(merge_strategy = kube::core::ListMerge::Map(vec!["name".into()]))]
    pub nodes: Vec<NodeInfo>,
    /// The last error talking to Proxmox (never contains credentials).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    /// When the connection was last checked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_checked_time: Option<Time>,
    /// Ready, Reconciling and Stalled (kstatus conventions).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[x_kube(merge_strategy = kube::core::ListMerge::Map(vec!["type".into()]))]
    pub conditions: Vec<Condition>,
}
