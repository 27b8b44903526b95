//! Typed calls, grouped by area: cluster and node reads, and guests (QEMU and LXC share one
//! handle, since PVE's paths and semantics differ only in details).

mod cluster;
mod guest;

pub use guest::{CloneOptions, DeleteOptions, Guest, ShutdownOptions};
