//! The Proxmox connection a guest reconcile works with: the one its `connectionRef` names when
//! usable; while the object is being deleted, else the last client of it that worked (deleting
//! a namespace deletes the connection's Secret, and the connection, in no particular order with
//! the guests); otherwise the outcome that says what is missing.

use std::sync::Arc;

use kube::ResourceExt;

use super::outcome::Outcome;
use crate::guest::GuestContext;
use crate::guest::GuestObject;
use crate::proxmox::registry::Connection;

/// What a deletion that cannot go on without the connection advises.
const DELETION_BLOCKED: &str = "; the guest cannot be destroyed without it: fix or recreate the \
    connection (and its Secret), or remove the finalizer kubepve.io/finalizer from this object \
    to leave the guest in Proxmox as it is";

/// The connection to use, or why there is none yet.
pub(super) fn usable<K: GuestObject>(
    object: &K,
    ctx: &GuestContext,
    deleting: bool,
) -> Result<Arc<Connection>, Outcome> {
    let key = (
        object.namespace().unwrap_or_default(),
        object.common().connection_ref.name.clone(),
    );
    let conn_name = &key.1;
    let last_usable = deleting
        .then(|| ctx.connections.for_deletion(&key))
        .flatten();
    let (reason, mut message) = match (ctx.connections.get(&key), last_usable) {
        (Some(Ok(conn)), _) | (_, Some(conn)) => return Ok(conn),
        (Some(Err(problem)), None) => (
            "ConnectionNotReady",
            format!("connection {conn_name} is not usable: {}", problem.message),
        ),
        // Not seen yet; while deleting, perhaps gone before this operator saw it (one created
        // by an older version carries no finalizer).
        (None, None) => (
            "WaitingForConnection",
            format!("waiting for ProxmoxConnection {conn_name} in this namespace to be checked"),
        ),
    };
    if deleting {
        message.push_str(DELETION_BLOCKED);
    }
    Err(Outcome::progressing(
        reason,
        message,
        ctx.settings.connection_retry,
    ))
}
