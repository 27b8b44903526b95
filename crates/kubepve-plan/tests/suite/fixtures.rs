//! Runs every YAML fixture in `tests/fixtures/`: a spec, the identity and secrets the caller
//! resolved, an observed guest and an intent, and the plan expected for them.
//!
//! Steps are compared in a compact form: `Start`, or `{SetConfig: {params: {...}, needs_reboot:
//! [...]}}` where only the fields the fixture names are checked, and each named field must match
//! exactly (scalars compare by their text, so `memory: 8192` matches `"8192"`). Besides the
//! expectations, every fixture checks that no secret text appears in any printed form of the
//! plan, and that applying the plan's config step to the observed config and planning again
//! gives no further config or resize step (idempotence).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};

use kubepve_api::{ProxmoxContainerSpec, ProxmoxVMSpec};
use kubepve_plan::{
    Desired, Identity, Intent, Observed, PendingKey, Plan, Power, Secrets, Step, TemplateRef,
    config_from_json, plan,
};
use serde::Deserialize;
use serde_json::Value;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Fixture {
    #[allow(dead_code)]
    description: String,
    kind: String,
    spec: Value,
    identity: Identity,
    #[serde(default)]
    secrets: Secrets,
    #[serde(default)]
    template: Option<TemplateRef>,
    #[serde(default)]
    observed: Option<FixtureObserved>,
    #[serde(default)]
    intent: Intent,
    expect: Expect,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct FixtureObserved {
    #[serde(default = "yes")]
    exists: bool,
    #[serde(default)]
    config: serde_json::Map<String, Value>,
    #[serde(default)]
    pending: Vec<PendingKey>,
    #[serde(default)]
    power: Power,
    #[serde(default)]
    lock: Option<String>,
    #[serde(default)]
    template: bool,
    #[serde(default)]
    node: String,
    #[serde(default)]
    pool: Option<String>,
}

fn yes() -> bool {
    true
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Expect {
    #[serde(default)]
    error: Option<String>,
    #[serde(default)]
    steps: Vec<Value>,
    #[serde(default)]
    restart_required: Vec<String>,
    /// Substrings, one per expected warning.
    #[serde(default)]
    warnings: Vec<String>,
    #[serde(default)]
    blocker: Option<String>,
    #[serde(default)]
    changes: Option<Vec<Value>>,
    /// Skip the apply-and-replan check (for plans whose config step is not the whole story).
    #[serde(default = "yes")]
    idempotent: bool,
}

fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

fn desired(f: &Fixture) -> Result<Desired, kubepve_plan::PlanError> {
    match f.kind.as_str() {
        "vm" => {
            let spec: ProxmoxVMSpec = serde_json::from_value(f.spec.clone()).expect("vm spec");
            Desired::vm(&spec, &f.identity, &f.secrets, f.template.clone())
        }
        "ct" => {
            let spec: ProxmoxContainerSpec =
                serde_json::from_value(f.spec.clone()).expect("container spec");
            Desired::container(&spec, &f.identity, &f.secrets)
        }
        other => panic!("kind must be vm or ct, not {other}"),
    }
}

fn observed(f: &Fixture) -> Observed {
    let Some(o) = &f.observed else {
        return Observed::absent();
    };
    Observed {
        exists: o.exists,
        config: config_from_json(&o.config),
        pending: o.pending.clone(),
        power: o.power,
        lock: o.lock.clone(),
        template: o.template,
        node: o.node.clone(),
        pool: o.pool.clone(),
    }
}

/// Scalars compare by text; objects only on the expected keys at the top (step fields), exactly
/// below.
fn loose_eq(expected: &Value, actual: &Value) -> bool {
    match (expected, actual) {
        (Value::Object(e), Value::Object(a)) => {
            e.len() == a.len()
                && e.iter()
                    .all(|(k, v)| a.get(k).is_some_and(|x| loose_eq(v, x)))
        }
        (Value::Array(e), Value::Array(a)) => {
            e.len() == a.len() && e.iter().zip(a).all(|(x, y)| loose_eq(x, y))
        }
        (Value::Null, Value::Null) => true,
        (e, a) => scalar(e) == scalar(a),
    }
}

fn scalar(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn step_matches(expected: &Value, actual: &Step) -> Result<(), String> {
    let actual = serde_json::to_value(actual).unwrap();
    let ok = match (expected, &actual) {
        (Value::String(e), Value::String(a)) => e == a,
        (Value::Object(e), Value::Object(a)) if e.len() == 1 => {
            let (name, fields) = e.iter().next().unwrap();
            match (a.get(name), fields) {
                (Some(Value::Object(af)), Value::Object(ef)) => ef
                    .iter()
                    .all(|(k, v)| af.get(k).is_some_and(|x| loose_eq(v, x))),
                (Some(_), Value::Null) => true,
                _ => false,
            }
        }
        _ => false,
    };
    if ok {
        Ok(())
    } else {
        Err(format!("expected {expected}\n   actual {actual}"))
    }
}

/// Apply the plan's config and resize steps to the observed config, as Proxmox would.
fn apply(plan: &Plan, o: &Observed) -> Observed {
    let mut next = o.clone();
    for step in &plan.steps {
        match step {
            Step::SetConfig { params, delete, .. } => {
                for (k, v) in params.expose() {
                    next.config.insert(k.to_string(), v.to_string());
                }
                for k in delete {
                    next.config.remove(k);
                }
            }
            Step::ResizeDisk { disk, size } => {
                let v = next.config.get(disk).cloned().unwrap_or_default();
                let kept: Vec<&str> = v.split(',').filter(|i| !i.starts_with("size=")).collect();
                next.config
                    .insert(disk.clone(), format!("{},size={size}", kept.join(",")));
            }
            _ => {}
        }
    }
    next
}

fn check(path: &Path) -> Result<(), String> {
    let text = std::fs::read_to_string(path).map_err(|e| e.to_string())?;
    let f: Fixture = serde_saphyr::from_str(&text).map_err(|e| format!("bad fixture: {e}"))?;
    let d = match (desired(&f), &f.expect.error) {
        (Err(e), Some(want)) if e.to_string().contains(want.as_str()) => return Ok(()),
        (Err(e), _) => return Err(format!("unexpected error: {e}")),
        (Ok(_), Some(want)) => return Err(format!("expected an error containing {want:?}")),
        (Ok(d), None) => d,
    };
    let o = observed(&f);
    let p = plan(&d, &o, &f.intent);
    let mut errors = Vec::new();
    if p.steps.len() != f.expect.steps.len() {
        errors.push(format!(
            "expected {} steps, got {}: {:#?}",
            f.expect.steps.len(),
            p.steps.len(),
            p.steps
        ));
    } else {
        for (i, (e, a)) in f.expect.steps.iter().zip(&p.steps).enumerate() {
            if let Err(msg) = step_matches(e, a) {
                errors.push(format!("step {i}: {msg}"));
            }
        }
    }
    if p.restart_required != f.expect.restart_required {
        errors.push(format!(
            "restart_required: expected {:?}, got {:?}",
            f.expect.restart_required, p.restart_required
        ));
    }
    let warnings_ok = p.warnings.len() == f.expect.warnings.len()
        && f.expect
            .warnings
            .iter()
            .all(|w| p.warnings.iter().any(|x| x.contains(w.as_str())));
    if !warnings_ok {
        errors.push(format!(
            "warnings: expected {:?}, got {:?}",
            f.expect.warnings, p.warnings
        ));
    }
    let blocker = p.blocker.as_ref().map(|b| {
        let v = serde_json::to_value(b).unwrap();
        v.as_object().unwrap().keys().next().unwrap().clone()
    });
    if blocker != f.expect.blocker {
        errors.push(format!(
            "blocker: expected {:?}, got {:?}",
            f.expect.blocker, p.blocker
        ));
    }
    if let Some(changes) = &f.expect.changes {
        let actual = serde_json::to_value(&p.changes).unwrap();
        if !loose_eq(&Value::Array(changes.clone()), &actual) {
            errors.push(format!("changes: expected {changes:?}, got {actual}"));
        }
    }
    for secret in [&f.secrets.password, &f.secrets.ssh_keys]
        .into_iter()
        .flatten()
    {
        for line in secret.lines().filter(|l| l.len() > 3) {
            let shown = format!("{p:?}\n{p}\n{}\n{d:?}", serde_json::to_string(&p).unwrap());
            if shown.contains(line) {
                errors.push(format!("secret text {line:?} appears in the printed plan"));
            }
        }
    }
    if f.expect.idempotent && o.exists && p.blocker.is_none() && !f.intent.deleting {
        let again = plan(&d, &apply(&p, &o), &f.intent);
        if let Some(s) = again
            .steps
            .iter()
            .find(|s| matches!(s, Step::SetConfig { .. } | Step::ResizeDisk { .. }))
        {
            errors.push(format!(
                "not idempotent: after applying, the plan still has {s:?}"
            ));
        }
    }
    if p != plan(&d, &o, &f.intent) {
        errors.push("planning twice gave different plans".into());
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors.join("\n"))
    }
}

/// One test per fixture, so that test runners count and report them separately.
macro_rules! fixtures {
    ($($name:ident => $file:literal,)*) => {
        $(
            #[test]
            fn $name() {
                if let Err(e) = check(&fixtures_dir().join($file)) {
                    panic!("{}:\n{e}", $file);
                }
            }
        )*
        const LISTED: &[&str] = &[$($file),*];
    };
}

fixtures! {
    vm_foreign_unmarked => "vm-foreign-unmarked.yaml",
    vm_adopt_unmarked => "vm-adopt-unmarked.yaml",
    vm_adopt_conflict => "vm-adopt-conflict.yaml",
    vm_adopt_from_pvectl => "vm-adopt-from-pvectl.yaml",
    vm_pvectl_owned_conflict => "vm-pvectl-owned-conflict.yaml",
    vm_create_no_node => "vm-create-no-node.yaml",
    vm_create_placed_node => "vm-create-placed-node.yaml",
    ct_create => "ct-create.yaml",
    ct_delete_running => "ct-delete-running.yaml",
    ct_noop_normalised => "ct-noop-normalised.yaml",
    ct_password_too_short => "ct-password-too-short.yaml",
    ct_running_changes => "ct-running-changes.yaml",
    vm_after_clone_config => "vm-after-clone-config.yaml",
    vm_clone_full_storage => "vm-clone-full-storage.yaml",
    vm_clone_linked_by_name => "vm-clone-linked-by-name.yaml",
    vm_clone_name_unresolved => "vm-clone-name-unresolved.yaml",
    vm_config_then_reboot => "vm-config-then-reboot.yaml",
    vm_create_blank => "vm-create-blank.yaml",
    vm_delete_absent => "vm-delete-absent.yaml",
    vm_delete_orphan_done => "vm-delete-orphan-done.yaml",
    vm_delete_orphan => "vm-delete-orphan.yaml",
    vm_delete_protected => "vm-delete-protected.yaml",
    vm_delete_running => "vm-delete-running.yaml",
    vm_delete_stopped => "vm-delete-stopped.yaml",
    vm_extra_config_applied => "vm-extra-config-applied.yaml",
    vm_extra_config_forbidden_lock => "vm-extra-config-forbidden-lock.yaml",
    vm_extra_config_malformed_bios => "vm-extra-config-malformed-bios.yaml",
    vm_extra_config_managed_memory => "vm-extra-config-managed-memory.yaml",
    vm_extra_config_managed_net2 => "vm-extra-config-managed-net2.yaml",
    vm_foreign_conflict => "vm-foreign-conflict.yaml",
    vm_foreign_deleting => "vm-foreign-deleting.yaml",
    vm_ipconfig_and_cloudinit_drive => "vm-ipconfig-and-cloudinit-drive.yaml",
    vm_locked_create => "vm-locked-create.yaml",
    vm_locked => "vm-locked.yaml",
    vm_memory_not_mib => "vm-memory-not-mib.yaml",
    vm_memory_too_small => "vm-memory-too-small.yaml",
    vm_nic_mac_pinned => "vm-nic-mac-pinned.yaml",
    vm_noop_normalised => "vm-noop-normalised.yaml",
    vm_pending_automatic => "vm-pending-automatic.yaml",
    vm_pending_manual => "vm-pending-manual.yaml",
    vm_power_always_paused => "vm-power-always-paused.yaml",
    vm_power_always_stopped => "vm-power-always-stopped.yaml",
    vm_power_halted_paused => "vm-power-halted-paused.yaml",
    vm_power_halted_running => "vm-power-halted-running.yaml",
    vm_power_manual => "vm-power-manual.yaml",
    vm_power_unknown => "vm-power-unknown.yaml",
    vm_resize_up => "vm-resize-up.yaml",
    vm_restart_requested_manual_strategy => "vm-restart-requested-manual-strategy.yaml",
    vm_restart_requested_stopped => "vm-restart-requested-stopped.yaml",
    vm_restart_requested => "vm-restart-requested.yaml",
    vm_running_hotplug_split => "vm-running-hotplug-split.yaml",
    vm_running_memory_hotplug => "vm-running-memory-hotplug.yaml",
    vm_secrets_redacted => "vm-secrets-redacted.yaml",
    vm_shrink_and_storage_warning => "vm-shrink-and-storage-warning.yaml",
    vm_stopped_pending => "vm-stopped-pending.yaml",
    vm_template_never_started => "vm-template-never-started.yaml",
}

#[test]
fn every_fixture_file_is_listed() {
    let mut files: Vec<String> = std::fs::read_dir(fixtures_dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .filter(|n| n.ends_with(".yaml"))
        .collect();
    files.sort();
    let unlisted: Vec<&String> = files
        .iter()
        .filter(|f| !LISTED.contains(&f.as_str()))
        .collect();
    assert!(
        unlisted.is_empty(),
        "add these to the fixtures! list: {unlisted:?}"
    );
}
