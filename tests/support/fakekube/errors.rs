//! The `Status` bodies the real API server answers with, worded as it words them (a controller
//! may match on the reason, the code or the message).

use serde_json::{Value, json};

use super::kinds::Kind;

/// HTTP status and JSON body.
pub type Answer = (u16, Value);

fn status(code: u16, reason: &str, message: String, details: Value) -> Answer {
    (
        code,
        json!({
            "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": message, "reason": reason, "details": details, "code": code,
        }),
    )
}

fn details(kind: &Kind, name: &str) -> Value {
    let mut d = json!({"name": name, "kind": kind.plural});
    if !kind.group.is_empty() {
        d["group"] = json!(kind.group);
    }
    d
}

/// 400 for a request the server cannot take as it is.
pub fn bad_request(message: &str) -> Answer {
    status(400, "BadRequest", message.to_string(), json!({}))
}

/// 404 for a missing object.
pub fn not_found(kind: &Kind, name: &str) -> Answer {
    let message = format!("{} \"{name}\" not found", kind.qualified());
    status(404, "NotFound", message, details(kind, name))
}

/// 404 for a namespace that does not exist, on a create in it.
pub fn namespace_not_found(ns: &str) -> Answer {
    let message = format!("namespaces \"{ns}\" not found");
    status(
        404,
        "NotFound",
        message,
        json!({"name": ns, "kind": "namespaces"}),
    )
}

/// 409 for a create of an existing name.
pub fn already_exists(kind: &Kind, name: &str) -> Answer {
    let message = format!("{} \"{name}\" already exists", kind.qualified());
    status(409, "AlreadyExists", message, details(kind, name))
}

/// 422 for a label value the API server does not take, worded as it words it.
pub fn invalid_label(kind: &Kind, name: &str, value: &str) -> Answer {
    let message = format!(
        "{} \"{name}\" is invalid: metadata.labels: Invalid value: \"{value}\": a valid label \
         must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and \
         must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or \
         '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')",
        if kind.group.is_empty() {
            kind.kind.to_string()
        } else {
            format!("{}.{}", kind.kind, kind.group)
        }
    );
    let mut d = details(kind, name);
    d["causes"] =
        json!([{"reason": "FieldValueInvalid", "message": message, "field": "metadata.labels"}]);
    status(422, "Invalid", message, d)
}

/// 409 for a write with a stale `metadata.resourceVersion`.
pub fn conflict(kind: &Kind, name: &str) -> Answer {
    let message = format!(
        "Operation cannot be fulfilled on {} \"{name}\": the object has been modified; please \
         apply your changes to the latest version and try again",
        kind.qualified()
    );
    status(409, "Conflict", message, details(kind, name))
}

/// 409 for a server-side apply (without force) that sets fields another manager owns.
pub fn apply_conflict(kind: &Kind, name: &str, owners: &[(String, String)]) -> Answer {
    let lines: Vec<String> = owners
        .iter()
        .map(|(manager, path)| format!("conflict with \"{manager}\": {path}"))
        .collect();
    let message = if lines.len() == 1 {
        format!("Apply failed with 1 conflict: {}", lines[0])
    } else {
        format!(
            "Apply failed with {} conflicts: {}",
            lines.len(),
            lines.join("\n")
        )
    };
    let causes: Vec<Value> = owners
        .iter()
        .map(|(manager, path)| {
            json!({"reason": "FieldManagerConflict", "message": format!("conflict with \"{manager}\""), "field": path})
        })
        .collect();
    let mut d = details(kind, name);
    d["causes"] = json!(causes);
    status(409, "Conflict", message, d)
}

/// 403 for a create in a namespace that is being deleted, with the real cause.
pub fn namespace_terminating(kind: &Kind, name: &str, ns: &str) -> Answer {
    let message = format!(
        "{} \"{name}\" is forbidden: unable to create new content in namespace {ns} because it \
         is being terminated",
        kind.qualified()
    );
    let mut d = details(kind, name);
    d["causes"] = json!([{
        "reason": "NamespaceTerminating",
        "message": format!("namespace {ns} is being terminated"),
        "field": "metadata.namespace",
    }]);
    status(403, "Forbidden", message, d)
}

/// 422 for a finalizer added to an object that is being deleted.
pub fn new_finalizer_while_deleting(kind: &Kind, name: &str, added: &[String]) -> Answer {
    let message = format!(
        "{} \"{name}\" is invalid: metadata.finalizers: Forbidden: no new finalizers can be \
         added if the object is being deleted, found new finalizers {added:?}",
        kind.qualified()
    );
    let mut d = details(kind, name);
    d["causes"] = json!([{"reason": "FieldValueForbidden", "field": "metadata.finalizers"}]);
    status(422, "Invalid", message, d)
}

/// An error the fake was told to answer with.
pub fn injected(code: u16, message: &str) -> Answer {
    status(code, "InternalError", message.to_string(), json!({}))
}

/// A request the fake does not model.
pub fn unsupported(what: &str) -> Answer {
    status(
        405,
        "MethodNotAllowed",
        format!("the fake Kubernetes API does not serve {what}"),
        json!({}),
    )
}
