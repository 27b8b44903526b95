//! Error classification from PVE's exact wording: one test per class (no server needed).

use pve_client::{Error, classify};

fn c500(message: &str) -> Error {
    classify(500, Some(message), b"{\"data\":null}")
}

#[test]
fn not_found_from_missing_config() {
    let e = c500("Configuration file 'nodes/pve/qemu-server/100.conf' does not exist");
    assert!(matches!(e, Error::NotFound { .. }), "{e:?}");
    assert!(e.is_not_found());
}

#[test]
fn already_exists_on_create_and_clone() {
    let e = c500("unable to create VM 100 - VM 100 already exists on node 'pve'");
    assert!(matches!(e, Error::AlreadyExists { .. }), "{e:?}");
    let e = c500("unable to create VM 101: config file already exists");
    assert!(matches!(e, Error::AlreadyExists { .. }), "{e:?}");
}

#[test]
fn locked_with_lock_name() {
    match c500("VM is locked (backup)") {
        Error::Locked { lock, .. } => assert_eq!(lock, "backup"),
        e => panic!("{e:?}"),
    }
    match c500("CT is locked (create)") {
        Error::Locked { lock, .. } => assert_eq!(lock, "create"),
        e => panic!("{e:?}"),
    }
}

#[test]
fn lock_timeout_is_retryable() {
    let e = c500("can't lock file '/var/lock/qemu-server/lock-100.conf' - got timeout");
    assert!(matches!(e, Error::LockTimeout { .. }), "{e:?}");
    assert!(e.is_retryable());
}

#[test]
fn guest_running_and_not_running() {
    for m in [
        "VM 100 is running - destroy failed",
        "CT 100 already running",
        "unable to destroy CT 100 - container is running",
    ] {
        assert!(matches!(c500(m), Error::GuestRunning { .. }), "{m}");
    }
    for m in ["VM 100 not running", "CT 100 not running"] {
        assert!(matches!(c500(m), Error::GuestNotRunning { .. }), "{m}");
    }
}

#[test]
fn protected_and_digest() {
    assert!(matches!(
        c500("can't remove VM 100 - protection mode enabled"),
        Error::Protected { .. }
    ));
    assert!(matches!(
        c500("checksum mismatch (file change by other user?)"),
        Error::DigestMismatch { .. }
    ));
}

#[test]
fn auth_and_permission() {
    let e = classify(401, Some("authentication failure"), b"");
    assert!(matches!(e, Error::Auth { .. }));
    let e = classify(
        403,
        Some("Permission check failed (/vms/100, VM.PowerMgmt)"),
        b"",
    );
    match e {
        Error::Permission { message } => assert!(message.contains("VM.PowerMgmt")),
        e => panic!("{e:?}"),
    }
}

#[test]
fn invalid_params_with_field_errors() {
    let body = br#"{"data":null,"message":"Parameter verification failed.\n","errors":{"vmid":"value must have a minimum value of 100","foo":"property is not defined in schema and the schema does not allow additional properties"}}"#;
    match classify(400, Some("Parameter verification failed."), body) {
        Error::InvalidParams { message, errors } => {
            assert_eq!(message, "Parameter verification failed.");
            assert_eq!(errors["vmid"], "value must have a minimum value of 100");
            assert!(errors.contains_key("foo"));
        }
        e => panic!("{e:?}"),
    }
}

#[test]
fn message_falls_back_to_json_then_text() {
    // Older servers: canonical reason phrase (hyper gives none), message in the body.
    let body = br#"{"data":null,"message":"VM 100 not running\n"}"#;
    assert!(matches!(
        classify(500, None, body),
        Error::GuestNotRunning { .. }
    ));
    // Errors raised before the handler: the raw text is the body.
    let e = classify(500, None, b"Configuration file 'x' does not exist");
    assert!(matches!(e, Error::NotFound { .. }));
    // Nothing at all: the status's own reason.
    match classify(500, None, b"") {
        Error::Api { status, message } => {
            assert_eq!(status, 500);
            assert_eq!(message, "Internal Server Error");
        }
        e => panic!("{e:?}"),
    }
}

#[test]
fn node_unreachable_and_other() {
    let e = classify(595, Some("No route to host"), b"");
    assert!(matches!(e, Error::NodeUnreachable { status: 595, .. }));
    assert!(e.is_transient());
    let e = c500("cluster not ready - no quorum?");
    assert!(matches!(e, Error::Api { .. }) && e.is_transient());
    let e = classify(
        501,
        Some("Method 'GET /nodes/pve/foo' not implemented"),
        b"",
    );
    assert!(matches!(e, Error::Api { status: 501, .. }) && !e.is_transient());
}
