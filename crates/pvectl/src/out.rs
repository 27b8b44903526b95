//! Everything pvectl prints on stdout goes through `out!`/`outln!` (declared first in `main`, so
//! every module has them). `print!` panics when a write fails (`/dev/full`: "No space left on
//! device"); these keep the first write error instead, drop the output after it, and let the
//! command finish what it started (the journal is still written, nothing is left half-done).
//! `main` then ends with `error: cannot write to stdout: ...`, exit 1. A closed pipe never gets
//! here: SIGPIPE ends the process quietly first, like other Unix tools.

use std::io::Write;
use std::sync::OnceLock;

static FAILED: OnceLock<String> = OnceLock::new();

/// Write formatted text to stdout; the first failure is kept for [`failure`].
pub fn write(args: std::fmt::Arguments<'_>) {
    if FAILED.get().is_some() {
        return;
    }
    let mut out = std::io::stdout().lock();
    if let Err(e) = out.write_fmt(args) {
        let _ = FAILED.set(e.to_string());
    }
}

/// Flush stdout, then the first write error if there was one.
pub fn failure() -> Option<String> {
    if FAILED.get().is_none()
        && let Err(e) = std::io::stdout().lock().flush()
    {
        let _ = FAILED.set(e.to_string());
    }
    FAILED.get().cloned()
}

/// `print!` that never panics (see the module docs).
macro_rules! out {
    ($($arg:tt)*) => {
        $crate::out::write(format_args!($($arg)*))
    };
}

/// `println!` that never panics (see the module docs).
macro_rules! outln {
    () => {
        $crate::out::write(format_args!("\n"))
    };
    ($($arg:tt)*) => {
        $crate::out::write(format_args!("{}\n", format_args!($($arg)*)))
    };
}
