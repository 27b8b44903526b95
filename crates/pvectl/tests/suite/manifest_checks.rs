//! End to end (issue 15): `apply`, `diff` and `create -f` refuse what the API server refuses:
//! unknown fields (nested objects and list items too) and an unknown apiVersion or kind, with
//! the field named and exit 2; `--validate=warn` prints the unknown fields and goes on,
//! `--validate=ignore` (or `false`) drops them as the API server prunes them.

#![allow(clippy::unwrap_used)]

use crate::common;

use common::Env;

fn manifest(api_version: &str, extra_spec: &str) -> String {
    format!(
        "apiVersion: {api_version}
kind: ProxmoxVM
metadata:
  name: lab-720
spec:
  connectionRef:
    name: pve-lab
  node: pve1
  vmid: 720
  source:
    blank: {{}}
  cpu:
    cores: 2
  memory: 1Gi
  disks:
    - slot: scsi0
      storage: local-lvm
      size: 4Gi
  runStrategy: Halted
{extra_spec}"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_fields_and_versions_are_refused_with_the_field_named() {
    let env = Env::new().await;
    let typos = "  bogusField: 42\n  disks2: []\n";
    let file = env.path("typo.yaml");
    let nested = manifest("kubepve.io/v1alpha1", typos)
        .replace("    cores: 2\n", "    cores: 2\n    coresTypo: 3\n")
        .replace("      size: 4Gi\n", "      size: 4Gi\n      sizee: 1\n");
    std::fs::write(&file, nested).unwrap();
    let f = file.display().to_string();
    env.pve.clear_requests().await;
    for args in [
        vec!["apply", "-f", &f],
        vec!["diff", "-f", &f],
        vec!["vm", "create", "-f", &f],
        vec!["apply", "-f", &f, "--validate=strict"],
    ] {
        let r = env.run(&args).expect(2);
        for field in [
            "spec.bogusField",
            "spec.cpu.coresTypo",
            "spec.disks[0].sizee",
            "spec.disks2",
        ] {
            assert!(r.stderr.contains(field), "{args:?} {field}: {}", r.stderr);
        }
    }
    let v9 = env.path("v9.yaml");
    std::fs::write(&v9, manifest("kubepve.io/v9", "")).unwrap();
    let v9 = v9.display().to_string();
    for args in [
        vec!["apply", "-f", &v9],
        vec!["diff", "-f", &v9],
        vec!["apply", "-f", &v9, "--validate=false"],
    ] {
        let r = env.run(&args).expect(2);
        assert!(
            r.stderr.contains(
                "apiVersion \"kubepve.io/v9\" is not served for ProxmoxVM (use kubepve.io/v1alpha1)"
            ),
            "{args:?}: {}",
            r.stderr
        );
    }
    let kind = env.path("kind.yaml");
    std::fs::write(
        &kind,
        manifest("kubepve.io/v1alpha1", "").replace("kind: ProxmoxVM", "kind: ProxmoxVm"),
    )
    .unwrap();
    let kind = kind.display().to_string();
    for args in [
        vec!["apply", "-f", &kind],
        vec!["vm", "create", "-f", &kind],
    ] {
        let r = env.run(&args).expect(2);
        assert!(
            r.stderr.contains("kind \"ProxmoxVm\" does not exist"),
            "{args:?}: {}",
            r.stderr
        );
    }
    let node = env.path("node.yaml");
    std::fs::write(
        &node,
        manifest("kubepve.io/v1alpha1", "").replace("node: pve1", "node: nosuchnode"),
    )
    .unwrap();
    let r = env
        .run(&["apply", "-f", &node.display().to_string()])
        .expect(2);
    assert!(
        r.stderr
            .contains("spec.node: no node \"nosuchnode\" (nodes: pve1)"),
        "{}",
        r.stderr
    );
    assert!(env.writes().await.is_empty(), "{:#?}", env.writes().await);
    assert!(env.pve.guest(720).await.is_none());

    // warn: said, then applied without the unknown fields.
    let r = env.run(&["apply", "-f", &f, "--validate=warn"]).expect(0);
    assert!(
        r.stderr.contains("warning:") && r.stderr.contains("spec.cpu.coresTypo"),
        "{}",
        r.stderr
    );
    assert!(env.pve.guest(720).await.is_some());
    // ignore / false: silent, and nothing left to change.
    let r = env.run(&["diff", "-f", &f, "--validate=false"]).expect(0);
    assert!(!r.stderr.contains("coresTypo"), "{}", r.stderr);
}
