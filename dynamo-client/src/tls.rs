//! TLS for both clients: which server certificates to trust.
//!
//! A node with `tls_cert` and `tls_key` in its configuration speaks TLS on its client ports:
//! reach its HTTP API at an `https://` URL and its binary protocol with
//! [`BinaryOptions::tls`](crate::BinaryOptions::tls) set. The client checks the node's
//! certificate chain and that it names the host it dialled, against either
//! - a CA file ([`TlsConfig::from_ca_file`]), typically a cluster's own CA (`dynamo up --tls`
//!   makes one, `ca.pem`), or
//! - the operating system's trusted roots ([`TlsConfig::system_roots`]), for certificates from
//!   a public CA; also what an `https://` URL gets when no configuration is given.
//!
//! The cryptography is `rustls` on the `ring` provider.

use std::path::Path;
use std::sync::{Arc, OnceLock};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};

use crate::error::ClientError;

/// Which certificates a client trusts. Cheap to clone; two configurations are equal when they
/// are clones of one another.
#[derive(Clone)]
pub struct TlsConfig {
    config: Arc<ClientConfig>,
    /// Where the trusted roots come from, for `Debug` and error messages.
    source: Arc<str>,
}

impl TlsConfig {
    /// Trusts the certificate authorities in the PEM file at `path` (one or more
    /// `CERTIFICATE` blocks), and only those.
    ///
    /// # Errors
    /// [`ClientError::Tls`] when the file cannot be read or holds no valid certificate.
    pub fn from_ca_file(path: impl AsRef<Path>) -> Result<TlsConfig, ClientError> {
        let path = path.as_ref();
        let pem = std::fs::read(path).map_err(|e| ClientError::Tls {
            message: format!("cannot read the CA file {}: {e}", path.display()),
        })?;
        Self::with_ca_pem(&pem, &path.display().to_string())
    }

    /// Trusts the certificate authorities in `pem` (one or more `CERTIFICATE` blocks).
    ///
    /// # Errors
    /// [`ClientError::Tls`] when it holds no valid certificate.
    pub fn from_ca_pem(pem: &[u8]) -> Result<TlsConfig, ClientError> {
        Self::with_ca_pem(pem, "a CA given in memory")
    }

    fn with_ca_pem(pem: &[u8], source: &str) -> Result<TlsConfig, ClientError> {
        let bad = |why: String| ClientError::Tls {
            message: format!("{source}: {why}"),
        };
        let mut roots = RootCertStore::empty();
        for cert in CertificateDer::pem_slice_iter(pem) {
            let cert = cert.map_err(|e| bad(format!("not a PEM certificate file ({e})")))?;
            roots
                .add(cert)
                .map_err(|e| bad(format!("a certificate that cannot be a CA ({e})")))?;
        }
        if roots.is_empty() {
            return Err(bad("no CERTIFICATE block".to_owned()));
        }
        let config = ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(|e| bad(e.to_string()))?
            .with_root_certificates(roots)
            .with_no_client_auth();
        Ok(TlsConfig {
            config: Arc::new(config),
            source: source.into(),
        })
    }

    /// Trusts the operating system's root certificates (loaded on the first handshake, so a
    /// client that never dials TLS never reads them).
    ///
    /// # Errors
    /// [`ClientError::Tls`] if the crypto provider lacks the default TLS versions (it has them).
    pub fn system_roots() -> Result<TlsConfig, ClientError> {
        static SYSTEM: OnceLock<TlsConfig> = OnceLock::new();
        if let Some(config) = SYSTEM.get() {
            return Ok(config.clone());
        }
        let provider = provider();
        let verifier = SystemRoots {
            provider: Arc::clone(&provider),
            verifier: OnceLock::new(),
        };
        let config = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| ClientError::Tls {
                message: e.to_string(),
            })?
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(verifier))
            .with_no_client_auth();
        let config = TlsConfig {
            config: Arc::new(config),
            source: "the system's roots".into(),
        };
        Ok(SYSTEM.get_or_init(|| config).clone())
    }

    /// The `rustls` configuration, for HTTP clients built outside this crate.
    pub fn rustls_config(&self) -> Arc<ClientConfig> {
        Arc::clone(&self.config)
    }
}

impl std::fmt::Debug for TlsConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsConfig")
            .field("trusts", &self.source)
            .finish()
    }
}

impl PartialEq for TlsConfig {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.config, &other.config)
    }
}

impl Eq for TlsConfig {}

/// The crypto provider of every configuration: `ring`, which the server already builds for
/// its peer handshakes (`snow`). rustls 0.23.48 deprecates it in favour of `aws-lc-rs` for
/// its post-quantum key exchange; moving to it would build a second C crypto library (see
/// ARCHITECTURE.md, "TLS on the client ports").
#[allow(deprecated)]
fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// A `reqwest` builder whose TLS (used for `https://` URLs) trusts `tls`, or the system's
/// roots. Every HTTP client of this crate is built from it: the crate's `reqwest` has no
/// default crypto provider of its own (`rustls-no-provider`, so that only `ring` is built).
///
/// # Errors
/// As [`TlsConfig::system_roots`].
pub fn http_builder(tls: Option<&TlsConfig>) -> Result<reqwest::ClientBuilder, ClientError> {
    let tls = match tls {
        Some(tls) => tls.clone(),
        None => TlsConfig::system_roots()?,
    };
    let mut config = (*tls.config).clone();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(reqwest::Client::builder().tls_backend_preconfigured(config))
}

/// The name the server's certificate must carry, from `host:port` (`[v6]:port` too).
pub(crate) fn server_name(address: &str) -> Result<ServerName<'static>, ClientError> {
    let host = match address.rsplit_once(':') {
        Some((host, port)) if port.parse::<u16>().is_ok() => host,
        _ => address,
    };
    let host = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    ServerName::try_from(host.to_owned()).map_err(|e| ClientError::Tls {
        message: format!("{address:?} has no host name or address a certificate can name ({e})"),
    })
}

/// The operating system's roots, loaded on first use.
#[derive(Debug)]
struct SystemRoots {
    provider: Arc<CryptoProvider>,
    verifier: OnceLock<Result<rustls_platform_verifier::Verifier, String>>,
}

impl SystemRoots {
    fn get(&self) -> Result<&rustls_platform_verifier::Verifier, rustls::Error> {
        self.verifier
            .get_or_init(|| {
                rustls_platform_verifier::Verifier::new(Arc::clone(&self.provider)).map_err(|e| {
                    format!("cannot load the system's root certificates ({e}): give a CA file")
                })
            })
            .as_ref()
            .map_err(|e| rustls::Error::General(e.clone()))
    }
}

impl ServerCertVerifier for SystemRoots {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        self.get()?
            .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
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
        rustls::crypto::verify_tls13_signature(
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_names_come_from_the_host() {
        for (address, expected) in [
            ("127.0.0.1:7001", "127.0.0.1"),
            ("localhost:7001", "localhost"),
            ("[::1]:7001", "::1"),
            ("node-1.example.com:443", "node-1.example.com"),
        ] {
            let name = server_name(address).map(|n| n.to_str().into_owned());
            assert_eq!(name.ok().as_deref(), Some(expected), "{address}");
        }
        assert!(matches!(
            server_name("bad host:1"),
            Err(ClientError::Tls { .. })
        ));
    }

    #[test]
    fn a_ca_file_without_certificates_is_refused() {
        let err = TlsConfig::from_ca_pem(b"not a certificate").map(|_| ());
        assert!(matches!(err, Err(ClientError::Tls { .. })), "{err:?}");
        let dir = std::env::temp_dir().join("dynamo-client-no-such-ca.pem");
        let err = TlsConfig::from_ca_file(&dir).map(|_| ());
        match err {
            Err(ClientError::Tls { message }) => assert!(message.contains("cannot read")),
            other => panic!("expected a TLS error, got {other:?}"),
        }
    }
}
