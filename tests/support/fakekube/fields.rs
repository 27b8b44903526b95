//! JSON merging and server-side apply field ownership, as far as the fake models it: a
//! manager owns the leaf fields it applied (lists are one leaf, as `atomic` lists are);
//! applying again without a field it owned removes that field (unless another manager owns
//! it too); a non-forced apply that sets a field another manager owns to a different value is
//! a conflict; `force` takes the field over. Merge patches and updates do not take ownership.
//! Paths join their keys with [`SEP`] (keys such as ConfigMap data keys hold dots); [`shown`]
//! writes one as the API server does (`.spec.cpu.cores`).

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

/// Field paths (`.spec.cpu.cores`) by manager.
pub type Owners = BTreeMap<String, BTreeSet<String>>;

/// What joins the keys of a path.
pub const SEP: char = '\u{1f}';

/// Fields the API server sets or that identify the object: never owned.
const IDENTITY: [&[&str]; 7] = [
    &["apiVersion"],
    &["kind"],
    &["metadata", "name"],
    &["metadata", "namespace"],
    &["metadata", "resourceVersion"],
    &["metadata", "uid"],
    &["metadata", "managedFields"],
];

fn keys(path: &str) -> Vec<&str> {
    path.trim_start_matches(SEP).split(SEP).collect()
}

/// The path as the API server shows it.
pub fn shown(path: &str) -> String {
    keys(path).iter().map(|k| format!(".{k}")).collect()
}

/// The first key of the path (`status`, `spec`, `metadata`, `data`).
pub fn top(path: &str) -> &str {
    keys(path).first().copied().unwrap_or_default()
}

/// The leaf paths of `value` (objects recurse, everything else is a leaf).
pub fn leaves(value: &Value) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    collect(value, String::new(), &mut out);
    out.retain(|p| !IDENTITY.contains(&keys(p).as_slice()));
    out
}

fn collect(value: &Value, path: String, out: &mut BTreeSet<String>) {
    match value.as_object() {
        Some(map) if !map.is_empty() => {
            for (k, v) in map {
                collect(v, format!("{path}{SEP}{k}"), out);
            }
        }
        _ if path.is_empty() => {}
        _ => {
            out.insert(path);
        }
    }
}

/// The value at `path`, if any.
pub fn at<'a>(value: &'a Value, path: &str) -> Option<&'a Value> {
    keys(path).into_iter().try_fold(value, |v, k| v.get(k))
}

/// Removes the field at `path`, and objects that became empty on the way.
pub fn remove(value: &mut Value, path: &str) {
    remove_keys(value, &keys(path));
}

fn remove_keys(value: &mut Value, keys: &[&str]) {
    let Some(map) = value.as_object_mut() else {
        return;
    };
    match keys {
        [] => {}
        [last] => {
            map.remove(*last);
        }
        [first, rest @ ..] => {
            if let Some(child) = map.get_mut(*first) {
                remove_keys(child, rest);
                if child.as_object().is_some_and(serde_json::Map::is_empty) {
                    map.remove(*first);
                }
            }
        }
    }
}

/// RFC 7386 JSON merge patch: objects merge, `null` deletes, anything else replaces.
pub fn merge_patch(target: &mut Value, patch: &Value) {
    let Some(patch) = patch.as_object() else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = Value::Object(serde_json::Map::new());
    }
    let Some(map) = target.as_object_mut() else {
        return;
    };
    for (k, v) in patch {
        if v.is_null() {
            map.remove(k);
        } else {
            merge_patch(map.entry(k.clone()).or_insert(Value::Null), v);
        }
    }
}

/// What an apply does to an object and its owners.
pub struct Applied {
    /// The object afterwards.
    pub object: Value,
    /// The owners afterwards.
    pub owners: Owners,
}

/// Applies `config` as `manager` onto `current`, within `scope` (the paths the request may
/// touch: `.status` for a `/status` write, everything else otherwise). `Err` lists the
/// conflicting (manager, path) pairs of a non-forced apply.
pub fn apply(
    current: &Value,
    owners: &Owners,
    config: &Value,
    manager: &str,
    force: bool,
    in_scope: impl Fn(&str) -> bool,
) -> Result<Applied, Vec<(String, String)>> {
    let wanted: BTreeSet<String> = leaves(config).into_iter().filter(|p| in_scope(p)).collect();
    let mut conflicts = Vec::new();
    let mut owners = owners.clone();
    for (other, paths) in owners.iter_mut().filter(|(m, _)| m.as_str() != manager) {
        for path in &wanted {
            let owned = paths
                .iter()
                .any(|p| p == path || path.starts_with(&format!("{p}{SEP}")));
            if owned && at(current, path) != at(config, path) {
                if force {
                    paths.remove(path);
                } else {
                    conflicts.push((other.clone(), shown(path)));
                }
            }
        }
    }
    if !conflicts.is_empty() {
        return Err(conflicts);
    }
    owners.retain(|_, paths| !paths.is_empty());
    let mut object = current.clone();
    let before = owners.remove(manager).unwrap_or_default();
    for dropped in before
        .iter()
        .filter(|p| in_scope(p) && !wanted.contains(*p))
    {
        let shared = owners.values().any(|paths| paths.contains(dropped));
        if !shared {
            remove(&mut object, dropped);
        }
    }
    for path in &wanted {
        if let Some(value) = at(config, path) {
            set(&mut object, path, value.clone());
        }
    }
    let mut mine: BTreeSet<String> = before.into_iter().filter(|p| !in_scope(p)).collect();
    mine.extend(wanted);
    owners.insert(manager.to_string(), mine);
    Ok(Applied { object, owners })
}

fn set(target: &mut Value, path: &str, value: Value) {
    let mut node = target;
    let keys = keys(path);
    for key in &keys[..keys.len() - 1] {
        if !node.get(*key).is_some_and(Value::is_object) {
            node[*key] = Value::Object(serde_json::Map::new());
        }
        node = &mut node[*key];
    }
    node[keys[keys.len() - 1]] = value;
}
