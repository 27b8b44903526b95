//! Manifests for `apply`, `diff` and `create -f`: files or folders of YAML (multi-document) or
//! JSON, holding ProxmoxVM and ProxmoxContainer objects and the Secrets they reference.
//! ProxmoxConnection documents (and anything else) are skipped with a note: pvectl connects
//! through its context, not through a ProxmoxConnection.
//!
//! Without a cluster an object has no UID, so pvectl derives a stable owner identity from
//! `namespace/name`: `pvectl-<16 hex digits of the FNV-1a 64 hash>`, tagged on the guest as
//! `kubepve-owner-pvectl-...`. Applying the same manifest again (from any machine) finds and
//! owns the same guest. An object that carries `metadata.uid` (exported from a cluster, or by
//! `pvectl export` of an operator-owned guest) uses that UID, so pvectl and the operator treat
//! the guest as the same owner's; a guest created by pvectl from a manifest without a UID is
//! foreign to the operator until adopted (add the operator object's owner tag).

use std::collections::BTreeMap;
use std::hash::Hasher;
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::exit::usage;
use crate::validate::ValidateMode;

/// ProxmoxVM or ProxmoxContainer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ObjectKind {
    /// `ProxmoxVM`.
    Vm,
    /// `ProxmoxContainer`.
    Ct,
}

impl ObjectKind {
    /// `proxmoxvm` / `proxmoxcontainer`.
    pub fn resource(self) -> &'static str {
        match self {
            ObjectKind::Vm => "proxmoxvm",
            ObjectKind::Ct => "proxmoxcontainer",
        }
    }
}

/// One guest object from a manifest.
#[derive(Debug, Clone)]
pub struct Object {
    /// VM or container.
    pub kind: ObjectKind,
    /// `metadata.namespace` (default `default`).
    pub namespace: String,
    /// `metadata.name`.
    pub name: String,
    /// `metadata.uid`, or the derived owner identity.
    pub uid: String,
    /// The raw spec.
    pub spec: Value,
    /// The file it came from.
    pub file: String,
}

impl Object {
    /// `proxmoxvm/web-01`.
    pub fn label(&self) -> String {
        format!("{}/{}", self.kind.resource(), self.name)
    }
}

/// Secrets by `namespace/name`, then key.
pub type SecretMap = BTreeMap<String, BTreeMap<String, String>>;

/// Everything found in the given files.
#[derive(Debug, Default)]
pub struct Manifests {
    /// Guest objects, in file order.
    pub objects: Vec<Object>,
    /// Secrets.
    pub secrets: SecretMap,
    /// `kind/name (file)` of skipped documents.
    pub skipped: Vec<String>,
}

pub use kubepve_api::CLI_OWNER_PREFIX as PVECTL_UID_PREFIX;

/// The derived owner identity for an object without a UID.
pub fn derived_uid(namespace: &str, name: &str) -> String {
    let mut h = fnv::FnvHasher::default();
    h.write(format!("{namespace}/{name}").as_bytes());
    format!("{PVECTL_UID_PREFIX}{:016x}", h.finish())
}

/// The files to read: a file as given, a folder's `*.yaml`, `*.yml` and `*.json` (sorted, not
/// recursive).
fn expand(paths: &[PathBuf]) -> anyhow::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for p in paths {
        if is_stdin(p) {
            out.push(p.clone());
        } else if p.is_dir() {
            let mut files: Vec<PathBuf> = std::fs::read_dir(p)
                .map_err(|e| usage(format!("cannot read {}: {e}", p.display())))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|f| {
                    f.extension()
                        .and_then(|x| x.to_str())
                        .is_some_and(|x| matches!(x, "yaml" | "yml" | "json"))
                })
                .collect();
            files.sort();
            out.extend(files);
        } else if p.exists() {
            out.push(p.clone());
        } else {
            return Err(usage(format!("{} does not exist", p.display())));
        }
    }
    Ok(out)
}

/// Whether `path` names standard input.
fn is_stdin(path: &Path) -> bool {
    ["-", "/dev/stdin", "/dev/fd/0", "/proc/self/fd/0"]
        .iter()
        .any(|p| path.as_os_str() == *p)
}

/// Standard input, read once: a create that looks at a file first and then hands it to
/// `apply` reads the same text twice.
fn stdin_text() -> anyhow::Result<String> {
    static TEXT: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    if let Some(t) = TEXT.get() {
        return Ok(t.clone());
    }
    let text = std::io::read_to_string(std::io::stdin())
        .map_err(|e| usage(format!("cannot read standard input: {e}")))?;
    Ok(TEXT.get_or_init(|| text).clone())
}

/// The documents of one file (`-` or `/dev/stdin`: standard input).
pub fn documents(path: &Path) -> anyhow::Result<Vec<Value>> {
    let text = if is_stdin(path) {
        stdin_text()?
    } else {
        std::fs::read_to_string(path)
            .map_err(|e| usage(format!("cannot read {}: {e}", path.display())))?
    };
    let docs: Vec<Value> = if text.trim_start().starts_with(['{', '[']) {
        match serde_json::from_str::<Value>(&text)
            .map_err(|e| usage(format!("{}: invalid JSON: {e}", path.display())))?
        {
            Value::Array(items) => items,
            one => vec![one],
        }
    } else {
        serde_saphyr::from_str_multiple::<Value, Vec<Value>>(&text)
            .map_err(|e| usage(format!("{}: invalid YAML: {e}", path.display())))?
    };
    let mut out = Vec::new();
    for d in docs {
        if d.get("kind").and_then(Value::as_str) == Some("List") {
            out.extend(d["items"].as_array().cloned().unwrap_or_default());
        } else if !d.is_null() {
            out.push(d);
        }
    }
    Ok(out)
}

/// Read manifests and secret files; unknown fields are handled as `mode` says.
pub fn load(
    paths: &[PathBuf],
    secret_files: &[PathBuf],
    mode: ValidateMode,
) -> anyhow::Result<Manifests> {
    let mut m = Manifests::default();
    for file in expand(secret_files)? {
        for d in documents(&file)? {
            if d["kind"] == "Secret" {
                add_secret(&mut m.secrets, &d);
            }
        }
    }
    for file in expand(paths)? {
        let shown = file.display().to_string();
        for d in documents(&file)? {
            let kind = d["kind"].as_str().unwrap_or_default().to_string();
            let name = d["metadata"]["name"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            let namespace = d["metadata"]["namespace"]
                .as_str()
                .unwrap_or("default")
                .to_string();
            if let Some(problem) = crate::validate::type_problem(&d) {
                return Err(usage(format!("{shown}: {problem}")));
            }
            let object_kind = match kind.as_str() {
                "ProxmoxVM" => ObjectKind::Vm,
                "ProxmoxContainer" => ObjectKind::Ct,
                "Secret" => {
                    add_secret(&mut m.secrets, &d);
                    continue;
                }
                _ => {
                    let k = if kind.is_empty() { "(no kind)" } else { &kind };
                    m.skipped.push(format!("{k}/{name} ({shown})"));
                    continue;
                }
            };
            if name.is_empty() {
                return Err(usage(format!("{shown}: a {kind} has no metadata.name")));
            }
            let mut problems = crate::validate::problems(&d);
            let unknown = crate::validate::unknown_fields(&d);
            match mode {
                ValidateMode::Strict => {
                    problems.extend(unknown.iter().map(|f| {
                        format!("{f}: unknown field (--validate=warn or ignore to drop it)")
                    }))
                }
                ValidateMode::Warn => {
                    for f in &unknown {
                        eprintln!(
                            "warning: {shown}: {kind}/{name}: unknown field {f:?} is ignored"
                        );
                    }
                }
                ValidateMode::Ignore => {}
            }
            if !problems.is_empty() {
                return Err(usage(format!(
                    "{shown}: {kind}/{name} is invalid:\n  {}",
                    problems.join("\n  ")
                )));
            }
            let uid = d["metadata"]["uid"]
                .as_str()
                .filter(|u| !u.is_empty())
                .map_or_else(|| derived_uid(&namespace, &name), str::to_string);
            m.objects.push(Object {
                kind: object_kind,
                namespace,
                name,
                uid,
                spec: d["spec"].clone(),
                file: shown.clone(),
            });
        }
    }
    Ok(m)
}

fn add_secret(secrets: &mut SecretMap, d: &Value) {
    let name = d["metadata"]["name"].as_str().unwrap_or_default();
    let ns = d["metadata"]["namespace"].as_str().unwrap_or("default");
    let entry = secrets.entry(format!("{ns}/{name}")).or_default();
    if let Some(data) = d["data"].as_object() {
        for (k, v) in data {
            if let Some(text) = v.as_str().and_then(base64_decode) {
                entry.insert(k.clone(), text);
            }
        }
    }
    if let Some(data) = d["stringData"].as_object() {
        for (k, v) in data {
            if let Some(text) = v.as_str() {
                entry.insert(k.clone(), text.to_string());
            }
        }
    }
}

/// Standard base64 (Secret `data`), as UTF-8 text; whitespace and missing padding are allowed.
fn base64_decode(text: &str) -> Option<String> {
    use base64::Engine;
    use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
    const LENIENT: GeneralPurpose = GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
    );
    let compact: String = text.split_ascii_whitespace().collect();
    String::from_utf8(LENIENT.decode(compact).ok()?).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derived_uids_are_stable_and_distinct() {
        assert_eq!(
            derived_uid("default", "web-01"),
            derived_uid("default", "web-01")
        );
        assert_ne!(
            derived_uid("default", "web-01"),
            derived_uid("prod", "web-01")
        );
        assert!(derived_uid("a", "b").starts_with("pvectl-"));
        assert_eq!(derived_uid("a", "b").len(), 7 + 16);
        // Guests already carry this owner tag: the hash must never change.
        assert_eq!(derived_uid("default", "web-01"), "pvectl-a6e5aa18ee6dde85");
    }

    #[test]
    fn base64() {
        assert_eq!(base64_decode("aGVsbG8=").as_deref(), Some("hello"));
        assert_eq!(base64_decode("c2VjcmV0IQ==").as_deref(), Some("secret!"));
        assert_eq!(base64_decode("c2Vj\ncmV0IQ").as_deref(), Some("secret!"));
        assert_eq!(base64_decode("not base64!"), None);
    }
}
