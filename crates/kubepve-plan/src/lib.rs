//! The pure planner shared by the operator and `pvectl apply`: given a desired guest spec and the
//! observed Proxmox guest, it returns the ordered steps that make Proxmox match the spec.
//!
//! Nothing is implemented yet: the planner arrives with the operator issue. This crate exists so
//! the workspace has its final shape and nothing else needs to move when it lands.
