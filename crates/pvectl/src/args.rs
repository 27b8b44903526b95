//! Argument groups and value parsers several commands share, declared once: the guest kind as
//! users type it (`vm`/`ct`), the table output flags (`-o`, `--no-headers`) and durations.

use std::time::Duration;

use clap::{Args, ValueEnum};
use pve_client::GuestKind;

use crate::output::OutputFormat;

/// Which kind of guest, as typed on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum KindArg {
    /// A QEMU VM.
    Vm,
    /// An LXC container.
    #[value(alias = "container")]
    Ct,
}

impl From<KindArg> for GuestKind {
    fn from(kind: KindArg) -> Self {
        match kind {
            KindArg::Vm => GuestKind::Qemu,
            KindArg::Ct => GuestKind::Lxc,
        }
    }
}

/// `-o` and `--no-headers`, for commands that print a table by default.
#[derive(Debug, Args)]
pub struct TableOutput {
    /// Output format.
    #[arg(short, long, default_value = "table")]
    pub output: OutputFormat,
    /// Do not print the header line.
    #[arg(long)]
    pub no_headers: bool,
}

/// Parse `90s`, `10m`, `1h`, `500ms`, `1h30m` (jiff's friendly duration format, the one
/// `history --since` reads too) or plain seconds.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    let wrong = || format!("{text:?} is not a duration like 90s, 10m or 1h");
    if let Ok(secs) = t.parse::<u64>() {
        return Ok(Duration::from_secs(secs));
    }
    let d: jiff::SignedDuration = t.parse().map_err(|_| wrong())?;
    Duration::try_from(d).map_err(|_| wrong())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("90s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("10m"), Ok(Duration::from_secs(600)));
        assert_eq!(parse_duration("2"), Ok(Duration::from_secs(2)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("1h30m"), Ok(Duration::from_secs(5400)));
        assert!(parse_duration("soon").is_err());
        assert!(parse_duration("-5s").is_err());
    }
}
