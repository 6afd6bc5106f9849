//! Certificates made at test time (rcgen): a CA, a server certificate it signs for
//! `localhost` and 127.0.0.1, a client certificate it signs, and a second, unrelated CA
//! with a client certificate of its own.

use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use tonic::transport::{Certificate, ClientTlsConfig, Identity};

/// PEM files in a temporary directory.
pub struct Pki {
    dir: tempfile::TempDir,
}

struct Authority {
    params: CertificateParams,
    key: KeyPair,
    pem: String,
}

fn authority(name: &str) -> Authority {
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, name);
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let key = KeyPair::generate().unwrap();
    let pem = params.self_signed(&key).unwrap().pem();
    Authority { params, key, pem }
}

fn leaf(ca: &Authority, names: &[&str], usage: ExtendedKeyUsagePurpose) -> (String, String) {
    let mut params =
        CertificateParams::new(names.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap();
    params.extended_key_usages = vec![usage];
    let key = KeyPair::generate().unwrap();
    let issuer = Issuer::from_params(&ca.params, &ca.key);
    let cert = params.signed_by(&key, &issuer).unwrap();
    (cert.pem(), key.serialize_pem())
}

impl Pki {
    /// Makes every certificate.
    pub fn new() -> Pki {
        let dir = tempfile::tempdir().unwrap();
        let ca = authority("neardup test CA");
        let other = authority("some other CA");
        let (server_cert, server_key) = leaf(
            &ca,
            &["localhost", "127.0.0.1"],
            ExtendedKeyUsagePurpose::ServerAuth,
        );
        let (client_cert, client_key) = leaf(&ca, &["client"], ExtendedKeyUsagePurpose::ClientAuth);
        let (stranger_cert, stranger_key) =
            leaf(&other, &["stranger"], ExtendedKeyUsagePurpose::ClientAuth);
        for (name, pem) in [
            ("ca.pem", &ca.pem),
            ("other-ca.pem", &other.pem),
            ("server.pem", &server_cert),
            ("server.key", &server_key),
            ("client.pem", &client_cert),
            ("client.key", &client_key),
            ("stranger.pem", &stranger_cert),
            ("stranger.key", &stranger_key),
        ] {
            std::fs::write(dir.path().join(name), pem).unwrap();
        }
        Pki { dir }
    }

    /// The path of one of the files (`ca.pem`, `server.key`…).
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn read(&self, name: &str) -> Vec<u8> {
        std::fs::read(self.path(name)).unwrap()
    }

    /// Client TLS trusting the CA file `ca`, presenting the certificate `who`
    /// (`client`, `stranger`) if given.
    pub fn client_tls(&self, ca: &str, who: Option<&str>) -> ClientTlsConfig {
        let mut tls = ClientTlsConfig::new()
            .ca_certificate(Certificate::from_pem(self.read(ca)))
            .domain_name("localhost");
        if let Some(who) = who {
            tls = tls.identity(Identity::from_pem(
                self.read(&format!("{who}.pem")),
                self.read(&format!("{who}.key")),
            ));
        }
        tls
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}
