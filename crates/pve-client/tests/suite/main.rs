//! The Proxmox client's tests as one test binary (as cargo's own `tests/testsuite`): calls, auth and
//! TLS, tasks, faults and parsers against fakepve, one module per area, `common` compiled once. A
//! new test file goes into this folder with a `mod` line below.

mod common;

mod auth_tls;
mod calls;
mod classify;
mod faults;
mod formats;
mod parsers_prop;
mod tasks;
