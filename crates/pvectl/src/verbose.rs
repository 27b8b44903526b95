//! `-v`/`--verbose` (repeatable, like kubectl's `-v=N`): each Proxmox request on stderr as
//! `method=GET path=/api2/json/... status=200 ms=12 attempt=0` (`-v`), plus the client's retries
//! and logins (`-vv`), plus pvectl's own debug events (`-vvv`). Request bodies, query strings,
//! tokens and tickets are never logged: the client's events carry none.

use std::io::IsTerminal;

/// The log filter for a verbosity level, or None for no logging.
pub fn filter(level: u8) -> Option<&'static str> {
    match level {
        0 => None,
        1 => Some("pve_client::request=info"),
        2 => Some("pve_client=debug"),
        _ => Some("pve_client=debug,pvectl=debug"),
    }
}

/// Start logging to stderr at `level` (nothing for 0).
pub fn init(level: u8) {
    let Some(filter) = filter(level) else {
        return;
    };
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .without_time()
        .with_target(false)
        .with_level(false)
        .try_init();
}
