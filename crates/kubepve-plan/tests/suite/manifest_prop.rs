//! The manifest loader on hostile input: YAML text of any shape, and the samples with any field
//! replaced by any JSON value, go through what the operator and pvectl do with a manifest
//! (parse, deserialize the kind, turn the spec into a desired guest) without a panic: bad input
//! is an error, never a crash.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use kubepve_api::{ProxmoxContainer, ProxmoxVM};
use kubepve_plan::{Desired, Identity, Secrets, TemplateRef};
use proptest::prelude::*;
use serde_json::Value;

fn samples() -> Vec<Value> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config/samples");
    let mut out = Vec::new();
    for name in ["vm-from-template.yaml", "vm-blank.yaml", "container.yaml"] {
        let text = std::fs::read_to_string(dir.join(name)).unwrap();
        for doc in serde_saphyr::from_multiple::<Value>(&text).unwrap() {
            if matches!(doc["kind"].as_str(), Some("ProxmoxVM" | "ProxmoxContainer")) {
                out.push(doc);
            }
        }
    }
    assert!(out.len() >= 3, "the samples hold VMs and a container");
    out
}

/// What the operator and pvectl do with one document; errors are fine, panics are not.
fn load(doc: &Value) {
    let identity = Identity {
        name: "fuzz".into(),
        uid: "0f0f".into(),
        vmid: 150,
        node: None,
    };
    let secrets = Secrets {
        password: Some("a-password".into()),
        ssh_keys: Some("ssh-ed25519 AAAA test".into()),
    };
    match doc["kind"].as_str() {
        Some("ProxmoxVM") => {
            if let Ok(vm) = serde_json::from_value::<ProxmoxVM>(doc.clone()) {
                let template = TemplateRef {
                    vmid: 9000,
                    node: Some("pve1".into()),
                };
                let _ = Desired::vm(&vm.spec, &identity, &secrets, Some(template));
                let _ = Desired::vm(&vm.spec, &identity, &Secrets::default(), None);
            }
        }
        Some("ProxmoxContainer") => {
            if let Ok(ct) = serde_json::from_value::<ProxmoxContainer>(doc.clone()) {
                let _ = Desired::container(&ct.spec, &identity, &secrets);
            }
        }
        _ => {}
    }
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        any::<String>().prop_map(Value::String),
        "[0-9]{0,22}(\\.[0-9]{0,4})?(Ki|Mi|Gi|Ti|Pi|k|M|G|T|P|E|x)?".prop_map(Value::String),
        "(scsi|virtio|net|mp|ide|sata)[0-9]{1,3}".prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 16, 4, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            proptest::collection::btree_map("[a-zA-Z]{1,12}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Every JSON pointer into `doc`.
fn pointers(doc: &Value, at: String, out: &mut Vec<String>) {
    out.push(at.clone());
    match doc {
        Value::Object(map) => {
            for (k, v) in map {
                pointers(v, format!("{at}/{k}"), out);
            }
        }
        Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                pointers(v, format!("{at}/{i}"), out);
            }
        }
        _ => {}
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn a_sample_with_any_fields_replaced_never_panics_the_loader(
        which in any::<prop::sample::Index>(),
        edits in proptest::collection::vec((any::<prop::sample::Index>(), json_value()), 1..4),
    ) {
        let samples = samples();
        let mut doc = samples[which.index(samples.len())].clone();
        for (at, value) in edits {
            let mut all = Vec::new();
            pointers(&doc["spec"], "/spec".into(), &mut all);
            let pointer = &all[at.index(all.len())];
            if let Some(slot) = doc.pointer_mut(pointer) {
                *slot = value;
            }
        }
        load(&doc);
    }

    #[test]
    fn yaml_text_of_any_shape_never_panics_the_loader(
        text in prop_oneof![
            any::<String>(),
            "(kind: Proxmox(VM|Container)\n|spec:\n|  [a-zA-Z]{1,10}: [^\n]{0,20}\n|- [^\n]{0,10}\n|---\n){0,12}",
        ],
    ) {
        if let Ok(docs) = serde_saphyr::from_multiple::<Value>(&text) {
            for doc in &docs {
                load(doc);
            }
        }
    }
}
