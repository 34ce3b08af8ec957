//! TLS on the client ports (HTTP API and binary protocol), and the local certificate
//! authority `dynamo up --tls` makes.
//!
//! A node with `tls_cert` and `tls_key` set serves both client listeners over TLS only (no
//! plain-text fallback on the same port): the certificate chain and its private key are read
//! from PEM files once, at start. The handshake must finish within the header timeout, like a
//! request's headers, so a client that opens a connection and stays silent holds it no longer
//! than a slow-loris HTTP client does. Failed handshakes are counted
//! (`tls_handshake_failures`). Peer connections are sealed by the Noise handshake whether or
//! not TLS is on ([`crate::secure`]).
//!
//! The cryptography is `rustls` on the `ring` provider (the one `snow` already builds).

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::ServerConfig;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::TlsAcceptor;

/// Why TLS could not be set up.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TlsError {
    /// A certificate or key file could not be read.
    #[error("cannot read {path}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
    /// A certificate file holds no certificate, or something that is not one.
    #[error("{path}: {reason}")]
    Certificate {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A key file holds no private key, or one that does not match the certificate.
    #[error("{path}: {reason}")]
    Key {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A file of the local authority could not be written.
    #[error("cannot write {path}")]
    Write {
        /// The file.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
    /// A certificate could not be generated.
    #[error("cannot generate a certificate: {0}")]
    Generate(#[from] rcgen::Error),
}

/// The TLS acceptors of the two client listeners, built from one certificate and key.
#[derive(Debug, Clone)]
pub struct ClientTls {
    /// The HTTP API's (offers `http/1.1` by ALPN).
    pub http: Acceptor,
    /// The binary protocol's.
    pub binary: Acceptor,
}

/// What a listener runs each accepted connection's TLS handshake with.
#[derive(Clone)]
pub struct Acceptor(TlsAcceptor);

impl Acceptor {
    /// The handshake's acceptor.
    pub fn get(&self) -> &TlsAcceptor {
        &self.0
    }
}

impl std::fmt::Debug for Acceptor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Acceptor").finish_non_exhaustive()
    }
}

impl ClientTls {
    /// Reads the certificate chain at `cert` (PEM, the node's certificate first) and the
    /// private key at `key` (PEM: PKCS#8, PKCS#1 or SEC1) and checks that they match.
    ///
    /// # Errors
    /// [`TlsError`] naming the file at fault.
    pub fn load(cert: &Path, key: &Path) -> Result<ClientTls, TlsError> {
        let chain = read_chain(cert)?;
        let key_der = read_key(key)?;
        let config = ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .and_then(|b| b.with_no_client_auth().with_single_cert(chain, key_der))
            .map_err(|e| TlsError::Key {
                path: key.to_owned(),
                reason: format!("does not fit the certificate {}: {e}", cert.display()),
            })?;
        let mut http = config.clone();
        http.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(ClientTls {
            http: Acceptor(TlsAcceptor::from(Arc::new(http))),
            binary: Acceptor(TlsAcceptor::from(Arc::new(config))),
        })
    }
}

/// The crypto provider: `ring`, already built for the peers' Noise handshake. rustls 0.23.48
/// deprecates it in favour of `aws-lc-rs` (post-quantum key exchange); see ARCHITECTURE.md,
/// "TLS on the client ports".
#[allow(deprecated)]
fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn read(path: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|source| TlsError::Read {
        path: path.to_owned(),
        source,
    })
}

fn read_chain(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let pem = read(path)?;
    let chain = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| TlsError::Certificate {
            path: path.to_owned(),
            reason: format!("not a PEM certificate file ({e})"),
        })?;
    if chain.is_empty() {
        return Err(TlsError::Certificate {
            path: path.to_owned(),
            reason: "no CERTIFICATE block".to_owned(),
        });
    }
    Ok(chain)
}

fn read_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    let pem = read(path)?;
    PrivateKeyDer::from_pem_slice(&pem).map_err(|e| TlsError::Key {
        path: path.to_owned(),
        reason: format!("no private key ({e})"),
    })
}

/// The files of a local certificate authority and of the one certificate it signed for the
/// nodes of a local cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalPki {
    /// The authority's certificate: what clients trust (`--ca`).
    pub ca_cert: PathBuf,
    /// The nodes' certificate chain (`tls_cert`).
    pub node_cert: PathBuf,
    /// The nodes' private key (`tls_key`; mode 0600).
    pub node_key: PathBuf,
}

impl LocalPki {
    /// The files' names in `dir`.
    pub fn in_dir(dir: &Path) -> LocalPki {
        LocalPki {
            ca_cert: dir.join("ca.pem"),
            node_cert: dir.join("node.pem"),
            node_key: dir.join("node-key.pem"),
        }
    }

    /// Makes a certificate authority in `dir` and, signed by it, a certificate for `hosts`
    /// (DNS names or IP addresses) that every node of a local cluster serves; keeps what a
    /// previous run made there. The authority's key is not kept: nothing else is ever
    /// signed with it, so it cannot be stolen either.
    ///
    /// # Errors
    /// [`TlsError::Write`] when the files cannot be written, [`TlsError::Generate`] when a
    /// host name cannot be in a certificate.
    pub fn make_or_keep(dir: &Path, hosts: &[String]) -> Result<LocalPki, TlsError> {
        let pki = LocalPki::in_dir(dir);
        if pki.ca_cert.exists() && pki.node_cert.exists() && pki.node_key.exists() {
            return Ok(pki);
        }
        std::fs::create_dir_all(dir).map_err(|source| TlsError::Write {
            path: dir.to_owned(),
            source,
        })?;
        let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new())?;
        ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Constrained(0));
        ca_params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "dynamo local CA");
        ca_params.key_usages = vec![
            rcgen::KeyUsagePurpose::KeyCertSign,
            rcgen::KeyUsagePurpose::CrlSign,
        ];
        let ca_key = rcgen::KeyPair::generate()?;
        let ca = rcgen::CertifiedIssuer::self_signed(ca_params, ca_key)?;

        let mut node_params = rcgen::CertificateParams::new(hosts.to_vec())?;
        node_params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "dynamo node");
        node_params.key_usages = vec![rcgen::KeyUsagePurpose::DigitalSignature];
        node_params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth];
        let node_key = rcgen::KeyPair::generate()?;
        let node_cert = node_params.signed_by(&node_key, &ca)?;

        write_file(&pki.node_key, node_key.serialize_pem().as_bytes(), true)?;
        write_file(&pki.node_cert, node_cert.pem().as_bytes(), false)?;
        // Last: its presence says the set is complete.
        write_file(&pki.ca_cert, ca.pem().as_bytes(), false)?;
        Ok(pki)
    }
}

/// Writes `bytes` to `path`, readable by its owner only when `private`.
fn write_file(path: &Path, bytes: &[u8], private: bool) -> Result<(), TlsError> {
    use std::io::Write as _;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    if private {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    #[cfg(not(unix))]
    let _ = private;
    let failed = |source| TlsError::Write {
        path: path.to_owned(),
        source,
    };
    let mut file = options.open(path).map_err(failed)?;
    file.write_all(bytes).map_err(failed)?;
    file.sync_all().map_err(failed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hosts() -> Vec<String> {
        vec!["localhost".to_owned(), "127.0.0.1".to_owned()]
    }

    #[test]
    fn a_local_authority_is_made_once_and_loads() {
        let dir = tempfile::tempdir().unwrap();
        let pki = LocalPki::make_or_keep(dir.path(), &hosts()).unwrap();
        let ca = std::fs::read(&pki.ca_cert).unwrap();
        ClientTls::load(&pki.node_cert, &pki.node_key).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(&pki.node_key)
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        // A second run keeps the authority the clients already trust.
        let again = LocalPki::make_or_keep(dir.path(), &hosts()).unwrap();
        assert_eq!(again, pki);
        assert_eq!(std::fs::read(&again.ca_cert).unwrap(), ca);
    }

    #[test]
    fn bad_files_name_the_file_at_fault() {
        let dir = tempfile::tempdir().unwrap();
        let pki = LocalPki::make_or_keep(dir.path(), &hosts()).unwrap();
        let missing = dir.path().join("missing.pem");
        let garbage = dir.path().join("garbage.pem");
        std::fs::write(&garbage, b"hello").unwrap();

        let e = ClientTls::load(&missing, &pki.node_key).unwrap_err();
        assert!(
            matches!(&e, TlsError::Read { path, .. } if path == &missing),
            "{e}"
        );
        let e = ClientTls::load(&garbage, &pki.node_key).unwrap_err();
        assert!(
            matches!(&e, TlsError::Certificate { path, .. } if path == &garbage),
            "{e}"
        );
        let e = ClientTls::load(&pki.node_cert, &garbage).unwrap_err();
        assert!(
            matches!(&e, TlsError::Key { path, .. } if path == &garbage),
            "{e}"
        );

        // A key of another certificate.
        let other = tempfile::tempdir().unwrap();
        let other = LocalPki::make_or_keep(other.path(), &hosts()).unwrap();
        let e = ClientTls::load(&pki.node_cert, &other.node_key).unwrap_err();
        assert!(matches!(&e, TlsError::Key { .. }), "{e}");
    }
}
