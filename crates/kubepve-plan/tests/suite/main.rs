//! The planner's tests as one test binary (as cargo's own `tests/testsuite`): the fixture table
//! (`tests/fixtures/`) and the property tests, one module each. A new test file goes into this
//! folder with a `mod` line below.

mod fixtures;
mod manifest_prop;
mod properties;
