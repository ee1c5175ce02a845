//! TLS for PostgreSQL connections, with libpq's `sslmode` meanings, on
//! rustls (no system library needed):
//!
//! | `sslmode` | encrypted | the server's certificate |
//! | --- | --- | --- |
//! | `disable` | no | — |
//! | `prefer` (the default) | if the server offers it | not checked |
//! | `require` | yes | not checked, unless `sslrootcert` is given (then as `verify-ca`) |
//! | `verify-ca` | yes | signed by a trusted root |
//! | `verify-full` | yes | signed by a trusted root, and issued for the host connected to |
//!
//! The trusted roots are the PEM file `sslrootcert` names, or — without one,
//! or with `sslrootcert=system` — Mozilla's, which public providers'
//! certificates chain to.

use std::path::Path;
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme,
};
use tokio_postgres_rustls::MakeRustlsConnect;

/// How much of the server's certificate is checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verify {
    /// Nothing: the connection is encrypted, not authenticated (`prefer`,
    /// `require`).
    Nothing,
    /// Its chain to a trusted root (`verify-ca`).
    Chain,
    /// Its chain and the host name (`verify-full`).
    Full,
}

/// What `sslmode` and `sslrootcert` ask for: whether to use TLS at all
/// (`None`: `disable`), and the `sslmode` the driver is given.
pub fn mode(
    sslmode: Option<&str>,
    rootcert: Option<&str>,
) -> Result<Option<(Verify, &'static str)>, String> {
    // As libpq (16+): the system's roots vouch for any name they signed,
    // so only `verify-full` may use them, and it is the default with them.
    if rootcert == Some("system") {
        return match sslmode.unwrap_or("verify-full") {
            "verify-full" => Ok(Some((Verify::Full, "require"))),
            weak => Err(format!(
                "sslmode `{weak}` may not be used with sslrootcert=system: a certificate from a \
                 public CA proves nothing without its name checked; use sslmode=verify-full"
            )),
        };
    }
    let verify_ca_if_root = if rootcert.is_some() {
        Verify::Chain
    } else {
        Verify::Nothing
    };
    Ok(match sslmode.unwrap_or("prefer") {
        "disable" => None,
        "allow" | "prefer" => Some((Verify::Nothing, "prefer")),
        "require" => Some((verify_ca_if_root, "require")),
        "verify-ca" => Some((Verify::Chain, "require")),
        "verify-full" => Some((Verify::Full, "require")),
        other => {
            return Err(format!(
                "unsupported sslmode `{other}`; use disable, allow, prefer, require, verify-ca \
                 or verify-full"
            ))
        }
    })
}

/// The connector for `verify`, trusting the roots in the PEM file
/// `rootcert` (or Mozilla's).
pub fn connector(verify: Verify, rootcert: Option<&str>) -> Result<MakeRustlsConnect, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier: Arc<dyn ServerCertVerifier> = match verify {
        Verify::Nothing => Arc::new(Unchecked(provider.clone())),
        Verify::Chain | Verify::Full => {
            let roots = Arc::new(roots(rootcert)?);
            let webpki = WebPkiServerVerifier::builder_with_provider(roots, provider.clone())
                .build()
                .map_err(|e| format!("cannot use the root certificates: {e}"))?;
            if verify == Verify::Full {
                webpki
            } else {
                Arc::new(AnyName(webpki))
            }
        }
    };
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("cannot set up TLS: {e}"))?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth();
    Ok(MakeRustlsConnect::new(config))
}

/// What to do about a certificate the handshake refused, from the
/// driver's words; empty for any other failure.
pub fn hint(error: &str, rootcert: Option<&str>) -> &'static str {
    if error.contains("UnknownIssuer") && rootcert.is_some_and(|r| r != "system") {
        "; the server's certificate is not signed by the CA in sslrootcert: check that the \
         file holds the CA that signed the server's certificate"
    } else if error.contains("UnknownIssuer") {
        "; the server's certificate is not signed by a trusted root: name its CA with \
         `sslrootcert=/path/to/ca.pem` (or use sslmode=require, which does not check it)"
    } else if error.to_ascii_lowercase().contains("not valid for name") {
        "; the server's certificate was issued for another name: connect by the name it \
         was issued for, or use sslmode=verify-ca, which checks the CA only"
    } else {
        ""
    }
}

/// The roots in the PEM file `rootcert`, or Mozilla's.
fn roots(rootcert: Option<&str>) -> Result<RootCertStore, String> {
    let mut roots = RootCertStore::empty();
    match rootcert {
        None | Some("system") => {
            roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        }
        Some(path) => {
            let certificates = CertificateDer::pem_file_iter(Path::new(path))
                .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
                .map_err(|e| {
                    format!("cannot read the root certificates in sslrootcert `{path}`: {e}")
                })?;
            if certificates.is_empty() {
                return Err(format!("sslrootcert `{path}` holds no PEM certificate"));
            }
            for certificate in certificates {
                roots.add(certificate).map_err(|e| {
                    format!("a certificate in sslrootcert `{path}` is not usable: {e}")
                })?;
            }
        }
    }
    Ok(roots)
}

/// `verify-ca`: the chain is checked, the name is not.
#[derive(Debug)]
struct AnyName(Arc<WebPkiServerVerifier>);

impl ServerCertVerifier for AnyName {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match self
            .0
            .verify_server_cert(end_entity, intermediates, server_name, ocsp, now)
        {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

/// `prefer` and `require`: any certificate, as libpq takes it; the
/// handshake's signatures are still checked.
#[derive(Debug)]
struct Unchecked(Arc<CryptoProvider>);

impl ServerCertVerifier for Unchecked {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
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
            &self.0.signature_verification_algorithms,
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
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
