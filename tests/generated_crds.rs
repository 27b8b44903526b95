//! `crds/` must hold exactly what `kubepve crd` generates from the Rust types, and the binary's
//! multi-document output must carry every CRD.

use std::path::Path;

#[test]
fn crds_folder_matches_the_types() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("crds");
    let crds = kubepve_api::crds::all().expect("CRDs render");
    let mut expected_files = Vec::new();
    for crd in &crds {
        let name = kubepve_api::crds::file_name(crd);
        let want = kubepve_api::crds::to_yaml(crd).expect("CRD renders as YAML");
        let have = std::fs::read_to_string(dir.join(&name)).unwrap_or_default();
        assert!(
            have == want,
            "crds/{name} is missing or differs from what the code generates: run `make generate`"
        );
        expected_files.push(name);
    }
    let mut present: Vec<String> = std::fs::read_dir(&dir)
        .expect("crds/ exists")
        .map(|e| {
            e.expect("readable entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    present.sort();
    expected_files.sort();
    assert_eq!(
        present, expected_files,
        "crds/ holds files the code does not generate: run `make generate`"
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
            "proxmoxcontainers.kubepve.io"
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
