//! PVE's task identifier, the UPID, parsed and printed exactly as `PVE::UPID` does:
//! `UPID:<node>:<pid %08X>:<pstart %08X>:<starttime %08X>:<type>:<id>:<user>:`.
//! Decoding accepts either hex case and a 9-digit pstart (long uptimes); encoding is upper-case.

use std::fmt;
use std::str::FromStr;

use crate::Error;

/// A parsed UPID. `Display` gives back PVE's exact string for anything PVE produced.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Upid {
    /// The node the task runs on.
    pub node: String,
    /// The worker's process id.
    pub pid: u32,
    /// The worker's process start time (clock ticks since boot).
    pub pstart: u64,
    /// Task start, Unix seconds.
    pub starttime: u32,
    /// Task type, e.g. `qmstart`, `vzcreate`.
    pub task_type: String,
    /// Task object id, often the VMID (for clones, the source); may be empty.
    pub id: String,
    /// `user@realm` or `user@realm!token`.
    pub user: String,
}

impl Upid {
    /// The VMID the task is about, when its id is one.
    pub fn vmid(&self) -> Option<u32> {
        self.id.parse().ok()
    }

    /// True when the pstart field needs 9 hex digits; PVE prints at least 8.
    fn pstart_width(&self) -> usize {
        if self.pstart > 0xFFFF_FFFF { 9 } else { 8 }
    }
}

impl fmt::Display for Upid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "UPID:{}:{:08X}:{:0width$X}:{:08X}:{}:{}:{}:",
            self.node,
            self.pid,
            self.pstart,
            self.starttime,
            self.task_type,
            self.id,
            self.user,
            width = self.pstart_width()
        )
    }
}

impl FromStr for Upid {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        let bad = || Error::InvalidUpid(s.to_string());
        let rest = s.strip_prefix("UPID:").ok_or_else(bad)?;
        let rest = rest.strip_suffix(':').ok_or_else(bad)?;
        let parts: Vec<&str> = rest.split(':').collect();
        let [node, pid, pstart, starttime, task_type, id, user] = parts[..] else {
            return Err(bad());
        };
        if !valid_node(node)
            || !hex_len(pid, 8, 8)
            || !hex_len(pstart, 8, 9)
            || !hex_len(starttime, 8, 8)
            || !valid_field(task_type, false)
            || !valid_field(id, true)
            || !valid_field(user, false)
        {
            return Err(bad());
        }
        Ok(Upid {
            node: node.to_string(),
            pid: u32::from_str_radix(pid, 16).map_err(|_| bad())?,
            pstart: u64::from_str_radix(pstart, 16).map_err(|_| bad())?,
            starttime: u32::from_str_radix(starttime, 16).map_err(|_| bad())?,
            task_type: task_type.to_string(),
            id: id.to_string(),
            user: user.to_string(),
        })
    }
}

impl serde::Serialize for Upid {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Upid {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// `[a-zA-Z0-9]([a-zA-Z0-9\-]*[a-zA-Z0-9])?`
fn valid_node(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'-')
        && b[0] != b'-'
        && b[b.len() - 1] != b'-'
}

fn hex_len(s: &str, min: usize, max: usize) -> bool {
    (min..=max).contains(&s.len()) && s.bytes().all(|c| c.is_ascii_hexdigit())
}

/// `[^:\s/]+` (or `*` when empty is allowed).
fn valid_field(s: &str, may_be_empty: bool) -> bool {
    (may_be_empty || !s.is_empty()) && !s.chars().any(|c| c == ':' || c == '/' || c.is_whitespace())
}
