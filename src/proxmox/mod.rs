//! The Proxmox side every controller shares: the registry of connections (one client per
//! `ProxmoxConnection`, its policy, its cached `/cluster/resources` read, placement and create
//! slots) and the pace of the full resync. The `ProxmoxConnection` controller fills the registry
//! (`crate::connection`); the guest, snapshot and restore controllers read it. It imports no
//! controller, so every controller can import it.

mod creates;
pub mod registry;
pub mod resync;
