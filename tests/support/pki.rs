//! The certificates of a test control plane (`support/apiserver.rs`): a CA, the API server's
//! serving certificate, an admin client certificate (group `system:masters`) and the service
//! account signing key, written as files, and a kubeconfig for the admin.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};

/// Certificates and keys for one test control plane.
pub struct Pki {
    pub ca_cert: PathBuf,
    pub ca_der: Vec<u8>,
    pub serving_cert: PathBuf,
    pub serving_key: PathBuf,
    pub admin_cert: PathBuf,
    pub admin_key: PathBuf,
    pub sa_key: PathBuf,
    pub sa_pub: PathBuf,
}

impl Pki {
    /// A kubeconfig for the admin certificate against the API server on `port`.
    pub fn kubeconfig(&self, port: u16) -> String {
        let file = |p: &Path| p.display().to_string();
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: test\n  cluster:\n    \
             server: https://127.0.0.1:{port}\n    certificate-authority: {}\nusers:\n- name: admin\n  \
             user:\n    client-certificate: {}\n    client-key: {}\ncontexts:\n- name: test\n  \
             context:\n    cluster: test\n    user: admin\ncurrent-context: test\n",
            file(&self.ca_cert),
            file(&self.admin_cert),
            file(&self.admin_key)
        )
    }

    pub fn generate(dir: &Path) -> Pki {
        let write = |name: &str, text: &str| {
            let path = dir.join(name);
            std::fs::write(&path, text).unwrap();
            path
        };
        let ca_key = KeyPair::generate().unwrap();
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params
            .distinguished_name
            .push(DnType::CommonName, "kubepve-test-ca");
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let ca = ca_params.self_signed(&ca_key).unwrap();
        let issuer = Issuer::new(ca_params, &ca_key);

        let serving_key = KeyPair::generate().unwrap();
        let mut serving = CertificateParams::new(vec![
            "127.0.0.1".to_string(),
            "localhost".to_string(),
            "10.0.0.1".to_string(),
        ])
        .unwrap();
        serving
            .distinguished_name
            .push(DnType::CommonName, "kube-apiserver");
        serving.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let serving_cert = serving.signed_by(&serving_key, &issuer).unwrap();

        let admin_key = KeyPair::generate().unwrap();
        let mut admin = CertificateParams::new(Vec::<String>::new()).unwrap();
        admin
            .distinguished_name
            .push(DnType::CommonName, "kubepve-test-admin");
        admin
            .distinguished_name
            .push(DnType::OrganizationName, "system:masters");
        admin.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        let admin_cert = admin.signed_by(&admin_key, &issuer).unwrap();

        let sa_key = KeyPair::generate().unwrap();
        Pki {
            ca_cert: write("ca.crt", &ca.pem()),
            ca_der: ca.der().to_vec(),
            serving_cert: write("apiserver.crt", &serving_cert.pem()),
            serving_key: write("apiserver.key", &serving_key.serialize_pem()),
            admin_cert: write("admin.crt", &admin_cert.pem()),
            admin_key: write("admin.key", &admin_key.serialize_pem()),
            // The API server reads PKCS#8 private keys for signing, but only public keys (or
            // SEC1/PKCS#1 private keys) for verification, so both files are written.
            sa_key: write("sa.key", &sa_key.serialize_pem()),
            sa_pub: write("sa.pub", &sa_key.public_key_pem()),
        }
    }
}
