//! TLS trust for the PVE endpoint: system roots (default), a PEM CA bundle, a pin on the server
//! certificate's SHA-256 fingerprint, or an explicit insecure mode. PVE clusters use their own
//! CA, and PVE itself pins node certificates by fingerprint, so both are first-class here.
//! rustls with the ring provider; no process-wide provider is installed. A refused certificate
//! is reported with the SHA-256 fingerprint the server presented (as ssh shows the host key), so
//! a replaced certificate can be checked and pinned.

use std::fmt;
use std::sync::Arc;

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, verify_tls12_signature, verify_tls13_signature};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, RootCertStore, SignatureScheme};

use crate::Error;

/// How the server's certificate is trusted.
#[derive(Clone, Default)]
pub enum Tls {
    /// The operating system's roots (the default).
    #[default]
    SystemRoots,
    /// Only these CAs (PEM, one or more certificates): a PVE cluster CA.
    CaBundle(String),
    /// Accept exactly the server certificate with this SHA-256 fingerprint (`AA:BB:...`, case
    /// and separators ignored), whatever its chain or names.
    Fingerprint(String),
    /// Accept any certificate. Only for labs: anyone on the path can read the credentials.
    Insecure,
}

impl fmt::Debug for Tls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Tls::SystemRoots => f.write_str("SystemRoots"),
            Tls::CaBundle(_) => f.write_str("CaBundle(..)"),
            Tls::Fingerprint(fp) => write!(f, "Fingerprint({fp})"),
            Tls::Insecure => f.write_str("Insecure"),
        }
    }
}

/// Why the server's certificate was refused during the handshake (so the request never left
/// the client), with the fingerprint it presented.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertRejected {
    /// The SHA-256 fingerprint of the certificate the server presented (`AA:BB:...`).
    pub presented: String,
    /// The pinned fingerprint it did not match; `None` when it was checked against CAs.
    pub pinned: Option<String>,
    /// Why the CA check failed (`invalid peer certificate: UnknownIssuer`); empty for a pin.
    pub reason: String,
}

impl fmt::Display for CertRejected {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.pinned {
            Some(pin) => write!(
                f,
                "the server presented a certificate with SHA-256 fingerprint {} that does not \
                 match the pinned fingerprint {pin}",
                self.presented
            ),
            None => write!(
                f,
                "the server's certificate is not trusted ({}); it presented SHA-256 fingerprint {}: \
                 if that is your Proxmox server's certificate, pin that fingerprint or trust its CA",
                self.reason, self.presented
            ),
        }
    }
}

impl std::error::Error for CertRejected {}

fn rejected(
    end_entity: &CertificateDer<'_>,
    pinned: Option<String>,
    reason: String,
) -> rustls::Error {
    rustls::Error::Other(rustls::OtherError(Arc::new(CertRejected {
        presented: fingerprint_of(end_entity.as_ref()),
        pinned,
        reason,
    })))
}

/// The certificate rejection somewhere in a transport error's causes.
pub(crate) fn rejection_in(err: &(dyn std::error::Error + 'static)) -> Option<CertRejected> {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = cause {
        if let Some(r) = rejection(e) {
            return Some(r);
        }
        cause = e.source();
    }
    None
}

/// `e` itself, or (io::Error's `source` skips the error it wraps) what the io::Errors it is
/// made of wrap.
fn rejection(e: &(dyn std::error::Error + 'static)) -> Option<CertRejected> {
    if let Some(rustls::Error::Other(other)) = e.downcast_ref::<rustls::Error>() {
        return other.0.downcast_ref::<CertRejected>().cloned();
    }
    let inner = e.downcast_ref::<std::io::Error>()?.get_ref()?;
    rejection(inner)
}

/// Normalise a fingerprint to 32 bytes; accepts `AA:BB:..`, lower case, or bare hex.
pub fn parse_fingerprint(text: &str) -> Result<[u8; 32], Error> {
    let hex: String = text.chars().filter(|c| *c != ':').collect();
    let bad = || Error::Config(format!("invalid SHA-256 fingerprint {text:?}"));
    if hex.len() != 64 {
        return Err(bad());
    }
    let mut out = [0u8; 32];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(hex.get(2 * i..2 * i + 2).ok_or_else(bad)?, 16)
            .map_err(|_| bad())?;
    }
    Ok(out)
}

/// Print a SHA-256 digest of `der` in PVE's form.
pub fn fingerprint_of(der: &[u8]) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, der);
    digest
        .as_ref()
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(":")
}

pub(crate) fn client_config(tls: &Tls) -> Result<rustls::ClientConfig, Error> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::Config(e.to_string()))?;
    let with_roots = |roots: RootCertStore| -> Result<rustls::ClientConfig, Error> {
        let inner = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
            .build()
            .map_err(|e| Error::Config(e.to_string()))?;
        Ok(builder
            .clone()
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(Reporting { inner }))
            .with_no_client_auth())
    };
    let config = match tls {
        Tls::SystemRoots => {
            let mut roots = RootCertStore::empty();
            let found = rustls_native_certs::load_native_certs();
            let (added, _) = roots.add_parsable_certificates(found.certs);
            if added == 0 {
                return Err(Error::Config("no usable system root certificates".into()));
            }
            with_roots(roots)?
        }
        Tls::CaBundle(pem) => {
            let mut roots = RootCertStore::empty();
            for cert in CertificateDer::pem_slice_iter(pem.as_bytes()) {
                let cert = cert.map_err(|e| Error::Config(format!("CA bundle: {e}")))?;
                roots
                    .add(cert)
                    .map_err(|e| Error::Config(format!("CA bundle: {e}")))?;
            }
            if roots.is_empty() {
                return Err(Error::Config("CA bundle holds no certificate".into()));
            }
            with_roots(roots)?
        }
        Tls::Fingerprint(fp) => builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(Pinned {
                expected: parse_fingerprint(fp)?,
                provider,
            }))
            .with_no_client_auth(),
        Tls::Insecure => builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(Pinned {
                expected: [0; 32],
                provider,
            }))
            .with_no_client_auth(),
    };
    Ok(config)
}

/// Trusts a leaf by its SHA-256 (an all-zero pin means insecure: trust anything) and still
/// checks the handshake signatures, so the peer must hold the pinned certificate's key.
#[derive(Debug)]
struct Pinned {
    expected: [u8; 32],
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for Pinned {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        if self.expected == [0; 32] {
            return Ok(ServerCertVerified::assertion());
        }
        let digest = ring::digest::digest(&ring::digest::SHA256, end_entity.as_ref());
        if digest.as_ref() == self.expected {
            Ok(ServerCertVerified::assertion())
        } else {
            tracing::warn!(
                got = %fingerprint_of(end_entity.as_ref()),
                "server certificate does not match the pinned fingerprint"
            );
            let pin = self
                .expected
                .iter()
                .map(|b| format!("{b:02X}"))
                .collect::<Vec<_>>()
                .join(":");
            Err(rejected(end_entity, Some(pin), String::new()))
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// Why the CA check refused a certificate, in words (rustls shows some reasons only as debug
/// text, like `Other(OtherError(CaUsedAsEndEntity))`).
fn reason_of(e: &rustls::Error) -> String {
    use rustls::CertificateError as C;
    let rustls::Error::InvalidCertificate(c) = e else {
        return e.to_string();
    };
    match c {
        C::UnknownIssuer => "it is issued by a CA that is not trusted".into(),
        C::Expired | C::ExpiredContext { .. } => "it has expired".into(),
        C::NotValidYet | C::NotValidYetContext { .. } => "it is not valid yet".into(),
        C::NotValidForName | C::NotValidForNameContext { .. } => {
            "it is not issued for this host name".into()
        }
        C::Other(o) if o.to_string().contains("CaUsedAsEndEntity") => {
            "the server presents a CA certificate as its own, which CA trust does not accept".into()
        }
        _ => e.to_string(),
    }
}

/// The CA check (webpki), with a refusal that names the certificate the server presented.
#[derive(Debug)]
struct Reporting {
    inner: Arc<WebPkiServerVerifier>,
}

impl ServerCertVerifier for Reporting {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        self.inner
            .verify_server_cert(end_entity, intermediates, server_name, ocsp, now)
            .map_err(|e| rejected(end_entity, None, reason_of(&e)))
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

#[cfg(test)]
mod reason_tests {
    use super::*;

    #[derive(Debug)]
    struct CaUsedAsEndEntity;

    impl fmt::Display for CaUsedAsEndEntity {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            write!(f, "{self:?}")
        }
    }

    impl std::error::Error for CaUsedAsEndEntity {}

    #[test]
    fn refusals_are_said_in_words_not_debug_text() {
        let other = rustls::Error::InvalidCertificate(rustls::CertificateError::Other(
            rustls::OtherError(Arc::new(CaUsedAsEndEntity)),
        ));
        let text = reason_of(&other);
        assert!(!text.contains("OtherError"), "{text}");
        assert!(text.contains("CA certificate as its own"), "{text}");
        let unknown = rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer);
        assert_eq!(
            reason_of(&unknown),
            "it is issued by a CA that is not trusted"
        );
    }
}
