//! Cluster, node, storage and pool calls: the reads that feed every reconcile
//! (`/cluster/resources` is the one bulk read per poll) plus `nextid` and pool writes.

use reqwest::Method;

use crate::types::{
    BackupJob, ClusterResource, HaResource, NodeInfo, NodeStatus, Pool, ReplicationJob,
    StorageContent, StorageInfo, Version,
};
use crate::{Client, Error, Params};

impl Client {
    /// `GET /version`; also a cheap credentials check.
    pub async fn version(&self) -> Result<Version, Error> {
        self.call("version", Method::GET, &["version"], Params::new())
            .await
    }

    /// `GET /nodes`.
    pub async fn nodes(&self) -> Result<Vec<NodeInfo>, Error> {
        self.call("nodes", Method::GET, &["nodes"], Params::new())
            .await
    }

    /// `GET /nodes/{node}/status`.
    pub async fn node_status(&self, node: &str) -> Result<NodeStatus, Error> {
        self.call(
            "node_status",
            Method::GET,
            &["nodes", node, "status"],
            Params::new(),
        )
        .await
    }

    /// `GET /nodes/{node}/storage`, optionally only storages that allow `content`.
    pub async fn storages(
        &self,
        node: &str,
        content: Option<&str>,
    ) -> Result<Vec<StorageInfo>, Error> {
        let params = Params::new().opt("content", content);
        self.call("storages", Method::GET, &["nodes", node, "storage"], params)
            .await
    }

    /// `GET /nodes/{node}/storage/{storage}/content`, optionally one content type
    /// (`vztmpl`, `iso`, `images`, `rootdir`, `backup`) or one guest's volumes.
    pub async fn storage_content(
        &self,
        node: &str,
        storage: &str,
        content: Option<&str>,
        vmid: Option<u32>,
    ) -> Result<Vec<StorageContent>, Error> {
        let params = Params::new().opt("content", content).opt("vmid", vmid);
        let segs = ["nodes", node, "storage", storage, "content"];
        self.call("storage_content", Method::GET, &segs, params)
            .await
    }

    /// `GET /cluster/resources`, optionally of one type (`vm`, `node`, `storage`).
    pub async fn cluster_resources(
        &self,
        kind: Option<&str>,
    ) -> Result<Vec<ClusterResource>, Error> {
        let params = Params::new().opt("type", kind);
        self.call(
            "cluster_resources",
            Method::GET,
            &["cluster", "resources"],
            params,
        )
        .await
    }

    /// All guests (QEMU and LXC) in one call.
    pub async fn guests(&self) -> Result<Vec<ClusterResource>, Error> {
        let all = self.cluster_resources(Some("vm")).await?;
        Ok(all.into_iter().filter(ClusterResource::is_guest).collect())
    }

    /// `GET /cluster/nextid`: the lowest free VMID (nothing is reserved; a create may still
    /// find it taken). With `vmid`, checks that one is free ([`Error::InvalidParams`] if not).
    pub async fn next_id(&self, vmid: Option<u32>) -> Result<u32, Error> {
        let params = Params::new().opt("vmid", vmid);
        // The wire value is a JSON string ("100"); accept a number too.
        let v: serde_json::Value = self
            .call("next_id", Method::GET, &["cluster", "nextid"], params)
            .await?;
        let parsed = match &v {
            serde_json::Value::String(s) => s.parse().ok(),
            serde_json::Value::Number(n) => n.as_u64().and_then(|n| u32::try_from(n).ok()),
            _ => None,
        };
        parsed.ok_or_else(|| Error::Decode {
            path: "cluster/nextid".into(),
            message: format!("not a VMID: {v}"),
        })
    }

    /// `GET /cluster/ha/resources`: the guests HA manages.
    pub async fn ha_resources(&self) -> Result<Vec<HaResource>, Error> {
        let segs = ["cluster", "ha", "resources"];
        self.call("ha_resources", Method::GET, &segs, Params::new())
            .await
    }

    /// `GET /cluster/replication`: storage replication jobs.
    pub async fn replication_jobs(&self) -> Result<Vec<ReplicationJob>, Error> {
        let segs = ["cluster", "replication"];
        self.call("replication_jobs", Method::GET, &segs, Params::new())
            .await
    }

    /// `GET /cluster/backup`: scheduled backup (vzdump) jobs.
    pub async fn backup_jobs(&self) -> Result<Vec<BackupJob>, Error> {
        let segs = ["cluster", "backup"];
        self.call("backup_jobs", Method::GET, &segs, Params::new())
            .await
    }

    /// `GET /pools`.
    pub async fn pools(&self) -> Result<Vec<Pool>, Error> {
        self.call("pools", Method::GET, &["pools"], Params::new())
            .await
    }

    /// `POST /pools`.
    pub async fn create_pool(&self, poolid: &str, comment: Option<&str>) -> Result<(), Error> {
        let params = Params::new().set("poolid", poolid).opt("comment", comment);
        self.call("create_pool", Method::POST, &["pools"], params)
            .await
    }

    /// `DELETE /pools?poolid=`.
    pub async fn delete_pool(&self, poolid: &str) -> Result<(), Error> {
        let params = Params::new().set("poolid", poolid);
        self.call("delete_pool", Method::DELETE, &["pools"], params)
            .await
    }
}
