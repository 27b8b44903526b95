//! The test PKI: a throwaway CA and a loopback server certificate signed by it, written to a
//! temporary directory for the launcher, plus the PVE-style SHA-256 fingerprint of the server
//! certificate. Proxmox clusters use their own CA too, so tests can verify by CA bundle or by pin.

use std::path::{Path, PathBuf};

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, SanType};

use crate::Error;

/// The files and facts of one generated PKI.
pub(crate) struct TestPki {
    pub(crate) ca_pem: String,
    pub(crate) cert_file: PathBuf,
    pub(crate) key_file: PathBuf,
    pub(crate) fingerprint: String,
}

/// Make a CA and a server certificate for `127.0.0.1` and `localhost` inside `dir`.
pub(crate) fn generate(dir: &Path) -> Result<TestPki, Error> {
    let pki = |e: rcgen::Error| Error::Pki(e.to_string());
    let ca_key = KeyPair::generate().map_err(pki)?;
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).map_err(pki)?;
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "kubepve test CA");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca_cert = ca_params.self_signed(&ca_key).map_err(pki)?;
    let issuer = Issuer::new(ca_params, ca_key);

    let key = KeyPair::generate().map_err(pki)?;
    let mut params = CertificateParams::new(vec!["localhost".to_string()]).map_err(pki)?;
    params
        .subject_alt_names
        .push(SanType::IpAddress(std::net::IpAddr::from([127, 0, 0, 1])));
    params
        .distinguished_name
        .push(DnType::CommonName, "fakepve");
    let cert = params.signed_by(&key, &issuer).map_err(pki)?;

    let cert_file = dir.join("server.crt");
    let key_file = dir.join("server.key");
    std::fs::write(&cert_file, cert.pem()).map_err(|e| Error::Io("write server.crt", e))?;
    std::fs::write(&key_file, key.serialize_pem()).map_err(|e| Error::Io("write server.key", e))?;
    Ok(TestPki {
        ca_pem: ca_cert.pem(),
        cert_file,
        key_file,
        fingerprint: fingerprint(cert.der()),
    })
}

/// PVE's fingerprint form: upper-case hex pairs of the SHA-256 of the DER, joined by `:`.
pub fn fingerprint(der: &[u8]) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, der);
    digest
        .as_ref()
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(":")
}
