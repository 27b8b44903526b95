//! Helpers shared by the integration and end-to-end suites.

pub mod apiserver;
pub mod fakekube;
pub mod fleet;
pub mod guest;
pub mod guest_objects;
#[cfg(feature = "k3s")]
pub mod k3s;
pub mod lab;
pub mod mockkube;
pub mod pki;
pub mod pvectl;
pub mod snapshots;
pub mod vmsets;
