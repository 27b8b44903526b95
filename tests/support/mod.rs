//! Helpers shared by the integration and end-to-end suites.

pub mod apiserver;
pub mod fakekube;
pub mod fleet;
pub mod guest;
pub mod lab;
pub mod mockkube;
pub mod pvectl;
pub mod snapshots;
