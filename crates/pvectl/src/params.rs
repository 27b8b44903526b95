//! Guest config keys from command-line flags, shared by `create` and `update`: memory sizes
//! (`4096`, `4G`, `512M`), `KEY=VALUE` pairs, tags and labels (`env=prod` becomes the tag
//! `env.prod`, see the selector convention), files of raw Proxmox keys, and how a request's
//! parameters are shown (secrets redacted).

use std::collections::BTreeMap;

use pve_client::Params;

use crate::exit::usage;
use crate::select::label_to_tag;

/// MiB from `4096`, `4G`, `4Gi`, `512M`, `1T`.
pub fn parse_mib(text: &str) -> anyhow::Result<u64> {
    let t = text.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: u64 = num
        .parse()
        .map_err(|_| usage(format!("{text:?}: expected MiB or a size like 4G")))?;
    let mult = match unit
        .trim()
        .to_ascii_uppercase()
        .trim_end_matches('B')
        .trim_end_matches('I')
    {
        "" | "M" => 1,
        "G" => 1024,
        "T" => 1024 * 1024,
        _ => return Err(usage(format!("{text:?}: unknown unit (use M, G or T)"))),
    };
    Ok(n * mult)
}

/// `KEY=VALUE`.
pub fn key_value(text: &str) -> anyhow::Result<(String, String)> {
    text.split_once('=')
        .map(|(k, v)| (k.trim().to_string(), v.to_string()))
        .filter(|(k, _)| !k.is_empty())
        .ok_or_else(|| usage(format!("{text:?}: expected KEY=VALUE")))
}

/// Proxmox tags from tags and labels.
pub fn tags_of(labels: &[String]) -> anyhow::Result<Vec<String>> {
    labels
        .iter()
        .filter(|l| !l.is_empty())
        .map(|l| label_to_tag(l))
        .collect()
}

/// A raw-keys file as a map.
pub fn raw_keys(path: &std::path::Path) -> anyhow::Result<BTreeMap<String, String>> {
    keys_of(path, &crate::manifest::documents(path)?)
}

/// The raw config keys of the documents already read from `path` (stdin can be read once).
pub fn keys_of(
    path: &std::path::Path,
    docs: &[serde_json::Value],
) -> anyhow::Result<BTreeMap<String, String>> {
    let [doc] = docs else {
        return Err(usage(format!("{}: expected one document", path.display())));
    };
    let obj = doc
        .as_object()
        .ok_or_else(|| usage(format!("{}: expected a map of config keys", path.display())))?;
    Ok(obj
        .iter()
        .map(|(k, v)| {
            let text = match v {
                serde_json::Value::String(s) => s.clone(),
                serde_json::Value::Bool(b) => u8::from(*b).to_string(),
                other => other.to_string(),
            };
            (k.clone(), text)
        })
        .collect())
}

/// `k=v k=v` with secret values redacted.
pub fn shown(params: &Params) -> String {
    params
        .pairs()
        .iter()
        .map(|(k, v)| format!("{k}={}", pve_client::shown(k, v)))
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_units() {
        assert_eq!(parse_mib("4096").unwrap(), 4096);
        assert_eq!(parse_mib("4G").unwrap(), 4096);
        assert_eq!(parse_mib("4Gi").unwrap(), 4096);
        assert_eq!(parse_mib("512M").unwrap(), 512);
        assert!(parse_mib("4X").is_err());
        assert!(parse_mib("lots").is_err());
    }
}
