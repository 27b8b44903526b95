//! The server URL: what a user may write (`https://host:8006`, with or without `/api2/json`)
//! and the API base every request path is joined to; refusals say what to write instead.

use url::Url;

use crate::Error;

/// Check a server URL as [`Client::builder`] will (for a CLI that stores it before connecting):
/// the error says what to write instead.
pub fn check_server_url(text: &str) -> Result<(), Error> {
    normalise_base(text).map(|_| ())
}

/// `https://host:8006` (with or without `/api2/json`) -> `https://host:8006/api2/json/`.
/// Proxmox VE serves its API over HTTPS only, so `http://` (the request would reach a TLS port
/// and fail with an unknown outcome) and a URL without a scheme are refused with what to write.
pub(crate) fn normalise_base(text: &str) -> Result<Url, Error> {
    let text = text.trim();
    if !text.contains("://") {
        return Err(Error::Config(format!(
            "server URL {text:?} has no scheme: write https://{}",
            with_port(text)
        )));
    }
    if let Some(rest) = text.strip_prefix("http://") {
        return Err(Error::Config(format!(
            "server URL {text:?}: Proxmox VE serves its API over HTTPS only: write https://{}",
            with_port(rest)
        )));
    }
    let mut url =
        Url::parse(text).map_err(|e| Error::Config(format!("server URL {text:?}: {e}")))?;
    if url.scheme() != "https" {
        return Err(Error::Config(format!(
            "server URL {text:?}: the scheme must be https (like https://pve.example:8006)"
        )));
    }
    let path = url.path().trim_end_matches('/').to_string();
    let path = path.strip_suffix("/api2/json").unwrap_or(&path).to_string();
    url.set_path(&format!("{path}/api2/json/"));
    url.set_query(None);
    Ok(url)
}

/// `host` as `host:8006` when it names no port (PVE's API port).
fn with_port(host: &str) -> String {
    let authority = host.split('/').next().unwrap_or(host);
    let has_port = !authority.ends_with(']')
        && authority
            .rsplit_once(':')
            .is_some_and(|(_, p)| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()));
    if has_port {
        host.to_string()
    } else {
        format!("{authority}:8006")
    }
}
