//! The harness's tests as one test binary (as cargo's own `tests/testsuite`), like every crate's
//! here. A new test file goes into this folder with a `mod` line below.

mod smoke;
