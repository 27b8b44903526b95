//! Where each [`Step`] goes on the Proxmox API: method, path and parameters, so that every
//! caller that executes plans (the operator, `pvectl apply`) sends exactly the same requests.

use crate::desired::GuestKind;
use crate::params::Params;
use crate::step::Step;

/// The HTTP method of a step's request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    /// POST (create, clone, power actions).
    Post,
    /// PUT (config, resize).
    Put,
    /// DELETE (destroy).
    Delete,
}

/// One Proxmox API request that executes a step.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Request {
    /// The operation's name for metrics and logs (`guest_create`, `guest_start`, ...).
    pub op: &'static str,
    /// HTTP method.
    pub method: Method,
    /// Path under `/api2/json`, without a leading slash.
    pub path: String,
    /// Form parameters ([`Params::expose`] gives the values to send).
    pub params: Params,
}

impl Step {
    /// The request that executes this step on guest `vmid` of `kind` on `node` (where it is, or
    /// where it is created); `None` for [`Step::WaitForLock`], which sends nothing. Create and
    /// clone, power steps, resize and delete answer with a task UPID; config steps with null.
    pub fn request(&self, kind: GuestKind, node: &str, vmid: i64) -> Option<Request> {
        let kind_path = match kind {
            GuestKind::Qemu => "qemu",
            GuestKind::Lxc => "lxc",
        };
        let guest = format!("nodes/{node}/{kind_path}/{vmid}");
        let config = |params: &Params, delete: &[String], digest: Option<&str>| {
            let mut sent = params.clone();
            if !delete.is_empty() {
                sent.insert("delete", delete.join(","));
            }
            if let Some(digest) = digest {
                sent.insert("digest", digest);
            }
            sent
        };
        let (op, method, path, params) = match self {
            Step::Create { params } => (
                "guest_create",
                Method::Post,
                format!("nodes/{node}/{kind_path}"),
                params.clone(),
            ),
            Step::Clone {
                source_vmid,
                source_node,
                params,
            } => (
                "guest_clone",
                Method::Post,
                format!("nodes/{source_node}/{kind_path}/{source_vmid}/clone"),
                params.clone(),
            ),
            Step::SetConfig {
                params,
                delete,
                digest,
                ..
            } => (
                "guest_config_put",
                Method::Put,
                format!("{guest}/config"),
                config(params, delete, digest.as_deref()),
            ),
            Step::Adopt { params, digest } => (
                "guest_config_put",
                Method::Put,
                format!("{guest}/config"),
                config(params, &[], digest.as_deref()),
            ),
            Step::RemoveOwnership { params, delete } => (
                "guest_config_put",
                Method::Put,
                format!("{guest}/config"),
                config(params, delete, None),
            ),
            Step::ResizeDisk { disk, size } => {
                let mut p = Params::new();
                p.insert("disk", disk.as_str());
                p.insert("size", size.as_str());
                ("guest_resize", Method::Put, format!("{guest}/resize"), p)
            }
            Step::Start => (
                "guest_start",
                Method::Post,
                format!("{guest}/status/start"),
                Params::new(),
            ),
            Step::Shutdown {
                timeout_seconds,
                force,
            } => {
                let mut p = Params::new();
                p.insert("timeout", timeout_seconds.to_string());
                if *force {
                    p.insert("forceStop", "1");
                }
                (
                    "guest_shutdown",
                    Method::Post,
                    format!("{guest}/status/shutdown"),
                    p,
                )
            }
            Step::Stop => (
                "guest_stop",
                Method::Post,
                format!("{guest}/status/stop"),
                Params::new(),
            ),
            Step::Reboot => (
                "guest_reboot",
                Method::Post,
                format!("{guest}/status/reboot"),
                Params::new(),
            ),
            Step::Delete {
                purge,
                destroy_unreferenced_disks,
            } => {
                let mut p = Params::new();
                if *purge {
                    p.insert("purge", "1");
                }
                if *destroy_unreferenced_disks {
                    p.insert("destroy-unreferenced-disks", "1");
                }
                ("guest_delete", Method::Delete, guest, p)
            }
            Step::Migrate {
                target,
                online,
                with_local_disks,
                restart,
            } => {
                let mut p = Params::new();
                p.insert("target", target.as_str());
                for (key, on) in [
                    ("online", online),
                    ("with-local-disks", with_local_disks),
                    ("restart", restart),
                ] {
                    if *on {
                        p.insert(key, "1");
                    }
                }
                ("guest_migrate", Method::Post, format!("{guest}/migrate"), p)
            }
            Step::WaitForLock { .. } => return None,
        };
        Some(Request {
            op,
            method,
            path,
            params,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_map_to_proxmox_endpoints() {
        let r = Step::Start.request(GuestKind::Qemu, "pve1", 150).unwrap();
        assert_eq!(
            (r.op, r.method, r.path.as_str()),
            (
                "guest_start",
                Method::Post,
                "nodes/pve1/qemu/150/status/start"
            )
        );
        let r = Step::Shutdown {
            timeout_seconds: 60,
            force: true,
        }
        .request(GuestKind::Lxc, "pve2", 200)
        .unwrap();
        assert_eq!(r.path, "nodes/pve2/lxc/200/status/shutdown");
        assert_eq!(
            (r.params.get("timeout"), r.params.get("forceStop")),
            (Some("60"), Some("1"))
        );
        let r = Step::Delete {
            purge: true,
            destroy_unreferenced_disks: false,
        }
        .request(GuestKind::Qemu, "pve1", 150)
        .unwrap();
        assert_eq!(
            (r.method, r.path.as_str(), r.params.get("purge")),
            (Method::Delete, "nodes/pve1/qemu/150", Some("1"))
        );
        assert!(!r.params.contains("destroy-unreferenced-disks"));
        let mut params = Params::new();
        params.insert("cores", "4");
        let step = Step::SetConfig {
            params,
            delete: vec!["balloon".into()],
            digest: Some("abc".into()),
            hotplug: vec![],
            needs_reboot: vec![],
        };
        let r = step.request(GuestKind::Qemu, "pve1", 150).unwrap();
        assert_eq!(
            (r.method, r.path.as_str()),
            (Method::Put, "nodes/pve1/qemu/150/config")
        );
        assert_eq!(
            (
                r.params.get("cores"),
                r.params.get("delete"),
                r.params.get("digest")
            ),
            (Some("4"), Some("balloon"), Some("abc"))
        );
        let clone = Step::Clone {
            source_vmid: 9000,
            source_node: "pve3".into(),
            params: Params::new(),
        };
        assert_eq!(
            clone.request(GuestKind::Qemu, "pve1", 150).unwrap().path,
            "nodes/pve3/qemu/9000/clone"
        );
        assert!(
            Step::WaitForLock {
                lock: "backup".into()
            }
            .request(GuestKind::Qemu, "pve1", 150)
            .is_none()
        );
    }
}
