//! `crds/`, the Helm chart's copies (`charts/kubepve/files/crds/`) and kustomize's
//! (`config/crd/bases/`) hold exactly what `kubepve crd` generates from the Rust types, so a
//! user who installs any way gets the schema the operator was built with; and `kubepve crd`
//! prints every CRD.

use std::path::Path;

/// Every copy that `make generate` writes, relative to the repository root.
const COPIES: [&str; 3] = ["crds", "charts/kubepve/files/crds", "config/crd/bases"];

fn check_copy(folder: &str) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join(folder);
    let crds = kubepve_api::crds::all().expect("CRDs render");
    let mut expected = Vec::new();
    for crd in &crds {
        let name = kubepve_api::crds::file_name(crd);
        let want = kubepve_api::crds::to_yaml(crd).expect("CRD renders as YAML");
        let have = std::fs::read_to_string(dir.join(&name)).unwrap_or_default();
        assert!(
            have == want,
            "{folder}/{name} is missing or differs from what the code generates: run `make generate`"
        );
        expected.push(name);
    }
    let mut present: Vec<String> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{folder} is missing ({e}): run `make generate`"))
        .map(|e| {
            e.expect("readable entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .filter(|name| name.ends_with(".yaml"))
        .collect();
    present.sort();
    expected.sort();
    assert_eq!(
        present, expected,
        "{folder} holds CRD files the code does not generate: run `make generate`"
    );
}

#[test]
fn crds_folder_matches_the_types() {
    check_copy(COPIES[0]);
}

#[test]
fn helm_chart_crds_match_the_types() {
    check_copy(COPIES[1]);
}

#[test]
fn kustomize_crds_match_the_types() {
    check_copy(COPIES[2]);
}

/// The kustomization must list every generated CRD, or `kubectl apply -k` silently skips one.
#[test]
fn kustomize_lists_every_crd() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(root.join("config/crd/kustomization.yaml"))
        .expect("config/crd/kustomization.yaml exists");
    let doc: serde_json::Value = serde_saphyr::from_str(&text).expect("valid YAML");
    let mut listed: Vec<String> = doc["resources"]
        .as_array()
        .expect("resources list")
        .iter()
        .filter_map(|r| r.as_str().map(str::to_string))
        .collect();
    listed.sort();
    let mut want: Vec<String> = kubepve_api::crds::all()
        .expect("CRDs render")
        .iter()
        .map(|crd| format!("bases/{}", kubepve_api::crds::file_name(crd)))
        .collect();
    want.sort();
    assert_eq!(
        listed, want,
        "config/crd/kustomization.yaml must list every generated CRD"
    );
}

/// The chart's CRD template must carry the keep policy and read the generated files, so that an
/// upgrade updates the CRDs and an uninstall keeps them (and every guest object).
#[test]
fn chart_crd_template_keeps_and_reads_the_generated_files() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let template = std::fs::read_to_string(root.join("charts/kubepve/templates/crds.yaml"))
        .expect("charts/kubepve/templates/crds.yaml exists");
    assert!(template.contains(r#""helm.sh/resource-policy" "keep""#));
    assert!(template.contains(r#".Files.Glob "files/crds/*.yaml""#));
    assert!(template.contains(".Values.crds.install"));
    assert!(
        !root.join("charts/kubepve/crds").exists(),
        "Helm never upgrades a chart's crds/ folder: the CRDs belong in files/crds/"
    );
}

#[test]
fn kubepve_crd_prints_every_crd() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_kubepve"))
        .arg("crd")
        .output()
        .expect("kubepve runs");
    assert!(
        out.status.success(),
        "kubepve crd failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).expect("utf-8");
    let docs: Vec<serde_json::Value> =
        serde_saphyr::from_multiple(&text).expect("kubepve crd prints valid multi-document YAML");
    let names: Vec<&str> = docs
        .iter()
        .filter_map(|d| d["metadata"]["name"].as_str())
        .collect();
    assert_eq!(
        names,
        [
            "proxmoxconnections.kubepve.io",
            "proxmoxvms.kubepve.io",
            "proxmoxcontainers.kubepve.io",
            "proxmoxsnapshots.kubepve.io",
            "proxmoxsnapshotschedules.kubepve.io",
            "proxmoxsnapshotrestores.kubepve.io",
            "proxmoxvmsets.kubepve.io",
        ]
    );
    for doc in &docs {
        assert_eq!(doc["kind"], "CustomResourceDefinition");
        assert_eq!(doc["spec"]["scope"], "Namespaced");
        assert_eq!(
            doc["spec"]["names"]["categories"],
            serde_json::json!(["proxmox"])
        );
        let version = &doc["spec"]["versions"][0];
        assert_eq!(version["name"], "v1alpha1");
        assert!(
            version["subresources"]["status"].is_object(),
            "status subresource"
        );
    }
}
