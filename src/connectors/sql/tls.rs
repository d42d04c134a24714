//! TLS shared by the PostgreSQL and MySQL drivers: the PEM files a spec names (CA, client
//! certificate, client key), read and checked with errors that name the key and the path; the
//! rustls client configuration for each level of verification; and a refused handshake in
//! words (which check failed, on which file or host name).
//!
//! Both drivers use rustls with the ring provider (no OpenSSL). PEM is parsed by
//! rustls-pki-types (re-exported by rustls), so no PEM crate is added.

use crate::error::{Error, ErrorKind};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::{self, PemObject};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, RootCertStore, SignatureScheme};
use std::sync::Arc;

/// What the client checks of the server's certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verify {
    /// Nothing: the connection is encrypted, any certificate is accepted.
    Nothing,
    /// That the certificate chains to the CA file; not the host name.
    Chain,
    /// The chain, and that the certificate names the host connected to.
    ChainAndName,
}

/// A TLS mode, in the terms libpq's `sslmode` and the mysql client's `--ssl-mode` share.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    /// No TLS.
    Off,
    /// TLS when the server offers it; nothing verified.
    Prefer,
    /// TLS or fail; nothing verified unless a CA file is given, then the chain (libpq's rule).
    Require,
    VerifyCa,
    VerifyFull,
}

/// A config key holding a file path, as the spec wrote it.
#[derive(Debug, Clone, Copy)]
pub struct FileKey<'a> {
    /// The key's name in the spec (`sslrootcert`, `ssl_ca`, ...).
    pub key: &'static str,
    pub path: Option<&'a str>,
}

/// The TLS settings of one config: the mode (for messages), what is verified, and the files.
#[derive(Debug, Clone, Copy)]
pub struct TlsKeys<'a> {
    /// The mode's key and value as the spec says them, e.g. `("sslmode", "verify-full")`.
    pub mode: (&'static str, &'static str),
    pub level: Level,
    pub verify: Verify,
    pub ca: FileKey<'a>,
    pub cert: FileKey<'a>,
    pub key: FileKey<'a>,
}

/// A PEM file read and parsed.
#[derive(Debug)]
pub struct PemFile<T> {
    pub key: &'static str,
    pub path: String,
    /// The file as read (the MySQL driver takes the PEM text itself).
    pub bytes: Vec<u8>,
    pub value: T,
}

/// The files of a [`TlsKeys`], read and parsed.
#[derive(Debug, Default)]
pub struct TlsFiles {
    pub ca: Option<PemFile<Vec<CertificateDer<'static>>>>,
    pub identity: Option<(
        PemFile<Vec<CertificateDer<'static>>>,
        PemFile<PrivateKeyDer<'static>>,
    )>,
}

impl<'a> FileKey<'a> {
    pub fn new(key: &'static str, path: &'a Option<String>) -> Self {
        FileKey {
            key,
            path: path.as_deref(),
        }
    }
}

impl<'a> TlsKeys<'a> {
    /// The keys of a config whose mode `mode` (key, value) means `level`.
    pub fn new(
        mode: (&'static str, &'static str),
        level: Level,
        ca: FileKey<'a>,
        cert: FileKey<'a>,
        key: FileKey<'a>,
    ) -> Self {
        let verify = match level {
            Level::Off | Level::Prefer => Verify::Nothing,
            Level::Require if ca.path.is_some() => Verify::Chain,
            Level::Require => Verify::Nothing,
            Level::VerifyCa => Verify::Chain,
            Level::VerifyFull => Verify::ChainAndName,
        };
        TlsKeys {
            mode,
            level,
            verify,
            ca,
            cert,
            key,
        }
    }

    /// The spec-time check (files are ignored when TLS is off, as the clients do).
    pub fn check(&self) -> Result<(), String> {
        match self.level {
            Level::Off => Ok(()),
            _ => self.load().map(drop),
        }
    }

    /// Checks the keys go together and reads every file: a verifying mode needs the CA file, a
    /// client certificate needs its key (and the reverse), every file must hold PEM of its kind.
    pub fn load(&self) -> Result<TlsFiles, String> {
        if self.verify != Verify::Nothing && self.ca.path.is_none() {
            return Err(format!(
                "`{}: {}` verifies the server's certificate and needs `{}`: the CA certificate (PEM) that signed it",
                self.mode.0, self.mode.1, self.ca.key
            ));
        }
        let ca = match self.ca.path {
            Some(path) => Some(read_certs(self.ca.key, path)?),
            None => None,
        };
        let identity = match (self.cert.path, self.key.path) {
            (None, None) => None,
            (Some(cert), Some(key)) => Some((
                read_certs(self.cert.key, cert)?,
                read_key(self.key.key, key)?,
            )),
            (Some(_), None) | (None, Some(_)) => {
                return Err(format!(
                    "`{}` and `{}` go together: the client certificate and its private key (PEM)",
                    self.cert.key, self.key.key
                ))
            }
        };
        Ok(TlsFiles { ca, identity })
    }
}

fn read(key: &'static str, path: &str) -> Result<Vec<u8>, String> {
    std::fs::read(path).map_err(|e| format!("`{key}`: cannot read `{path}`: {e}"))
}

/// Every certificate in a PEM file (at least one).
fn read_certs(
    key: &'static str,
    path: &str,
) -> Result<PemFile<Vec<CertificateDer<'static>>>, String> {
    let bytes = read(key, path)?;
    let value = CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("`{key}`: `{path}` is not valid PEM: {e}"))?;
    if value.is_empty() {
        return Err(format!(
            "`{key}`: `{path}` holds no certificate (expected PEM: -----BEGIN CERTIFICATE-----)"
        ));
    }
    Ok(PemFile {
        key,
        path: path.to_string(),
        bytes,
        value,
    })
}

/// The first private key in a PEM file (PKCS#8, PKCS#1 or SEC1).
fn read_key(key: &'static str, path: &str) -> Result<PemFile<PrivateKeyDer<'static>>, String> {
    let bytes = read(key, path)?;
    let value = PrivateKeyDer::from_pem_slice(&bytes).map_err(|e| match e {
        pem::Error::NoItemsFound => format!(
            "`{key}`: `{path}` holds no private key (expected PEM: -----BEGIN PRIVATE KEY-----, RSA PRIVATE KEY or EC PRIVATE KEY)"
        ),
        e => format!("`{key}`: `{path}` is not valid PEM: {e}"),
    })?;
    Ok(PemFile {
        key,
        path: path.to_string(),
        bytes,
        value,
    })
}

/// The crypto provider both drivers use (ring). The MySQL driver builds its rustls config with
/// the process default, which rustls cannot pick when two providers are compiled in (the S3
/// client brings aws-lc-rs): this installs ring as that default, once.
pub fn provider() -> Arc<CryptoProvider> {
    static INSTALL: std::sync::Once = std::sync::Once::new();
    INSTALL.call_once(|| {
        // Fails only when another default is already installed, which then stays.
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
    Arc::new(rustls::crypto::ring::default_provider())
}

/// A rustls client configuration verifying the server as `verify` says, presenting the client
/// certificate when one is given.
pub fn client_config(files: &TlsFiles, verify: Verify) -> Result<rustls::ClientConfig, Error> {
    let provider = provider();
    let setup = |e: &dyn std::fmt::Display| Error::run(format!("TLS set-up failed: {e}"));
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| setup(&e))?
        .dangerous();
    let verifier: Arc<dyn ServerCertVerifier> = match (&files.ca, verify) {
        (_, Verify::Nothing) => Arc::new(Verifier {
            provider,
            webpki: None,
        }),
        // [`TlsKeys::load`] refuses this first; never fall back to not verifying.
        (None, Verify::Chain | Verify::ChainAndName) => {
            return Err(Error::spec(
                "a verifying TLS mode needs a CA certificate file",
            ))
        }
        (Some(ca), Verify::Chain | Verify::ChainAndName) => {
            let mut roots = RootCertStore::empty();
            for cert in &ca.value {
                roots.add(cert.clone()).map_err(|e| {
                    Error::spec(format!(
                        "`{}`: `{}` holds a certificate that is not a usable CA: {e}",
                        ca.key, ca.path
                    ))
                })?;
            }
            let webpki =
                WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
                    .build()
                    .map_err(|e| setup(&e))?;
            Arc::new(Verifier {
                provider,
                webpki: Some((webpki, verify == Verify::ChainAndName)),
            })
        }
    };
    let builder = builder.with_custom_certificate_verifier(verifier);
    match &files.identity {
        None => Ok(builder.with_no_client_auth()),
        Some((cert, key)) => builder
            .with_client_auth_cert(cert.value.clone(), key.value.clone_key())
            .map_err(|e| {
                Error::spec(format!(
                    "`{}` (`{}`) and `{}` (`{}`) cannot be used together: {e}",
                    cert.key, cert.path, key.key, key.path
                ))
            }),
    }
}

/// The server-certificate check for each [`Verify`]: `webpki` is `None` for `Nothing` (the
/// handshake signatures are still checked, as libpq's `require` does), else the chain check
/// against the CA and whether the name is checked too.
#[derive(Debug)]
struct Verifier {
    provider: Arc<CryptoProvider>,
    webpki: Option<(Arc<WebPkiServerVerifier>, bool)>,
}

impl ServerCertVerifier for Verifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let Some((webpki, check_name)) = &self.webpki else {
            return Ok(ServerCertVerified::assertion());
        };
        match webpki.verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
        {
            // rustls checks the chain first and the name last: a name error means the chain
            // was good.
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) if !check_name => Ok(ServerCertVerified::assertion()),
            other => other,
        }
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

/// The rustls error somewhere in a driver error's chain of causes (an `io::Error` wrapping it
/// included), if the failure was the TLS handshake.
pub fn rustls_cause<'a>(e: &'a (dyn std::error::Error + 'static)) -> Option<&'a rustls::Error> {
    let mut cur = Some(e);
    while let Some(c) = cur {
        if let Some(r) = c.downcast_ref::<rustls::Error>() {
            return Some(r);
        }
        if let Some(inner) = c
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
        {
            if let Some(r) = rustls_cause(inner) {
                return Some(r);
            }
        }
        cur = c.source();
    }
    None
}

/// A refused TLS handshake as an error saying which check failed: `what` is "cannot connect to
/// ...", `host` the name the certificate was checked against.
pub fn handshake_error(what: &str, keys: &TlsKeys<'_>, host: &str, e: &rustls::Error) -> Error {
    let mode = format!("{}: {}", keys.mode.0, keys.mode.1);
    let ca = || {
        format!(
            "`{}` ({})",
            keys.ca.key,
            keys.ca.path.unwrap_or("no file given")
        )
    };
    let detail = match e {
        rustls::Error::InvalidCertificate(
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
        ) => format!(
            "the server's certificate does not match the host name `{host}` ({e}); `{}` checks the name, connect by a name the certificate holds",
            mode
        ),
        rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer) => format!(
            "the server's certificate could not be verified: it is not signed by the CA in {} (`{}`)",
            ca(),
            mode
        ),
        rustls::Error::InvalidCertificate(c) => format!(
            "the server's certificate could not be verified against the CA in {}: {c} (`{}`)",
            ca(),
            mode
        ),
        rustls::Error::AlertReceived(alert) => format!(
            "the server refused the TLS handshake (alert {alert:?}): check the client certificate in `{}` / `{}`",
            keys.cert.key, keys.key.key
        ),
        other => format!("TLS handshake failed: {other}"),
    };
    Error::driver(ErrorKind::Auth, what, detail)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys<'a>(level: Level, ca: Option<&'a str>, cert: Option<&'a str>) -> TlsKeys<'a> {
        let file = |key, path| FileKey { key, path };
        TlsKeys::new(
            ("sslmode", "verify-full"),
            level,
            file("sslrootcert", ca),
            file("sslcert", cert),
            file("sslkey", None),
        )
    }

    #[test]
    fn a_verifying_mode_needs_the_ca_and_a_certificate_its_key() {
        let e = keys(Level::VerifyFull, None, None).load().unwrap_err();
        assert!(e.contains("needs `sslrootcert`"), "{e}");
        let e = keys(Level::Require, None, Some("/x.pem"))
            .load()
            .unwrap_err();
        assert!(e.contains("`sslcert` and `sslkey` go together"), "{e}");
        assert!(keys(Level::Require, None, None).load().is_ok());
        // Files are not read when TLS is off.
        assert!(keys(Level::Off, Some("/no/such/ca.pem"), None)
            .check()
            .is_ok());
        // libpq's rule: require with a CA file verifies the chain.
        assert_eq!(keys(Level::Require, Some("/x"), None).verify, Verify::Chain);
        assert_eq!(keys(Level::Require, None, None).verify, Verify::Nothing);
    }

    #[test]
    fn a_verifying_config_without_a_ca_is_refused_not_unverified() {
        let files = TlsFiles::default();
        assert!(client_config(&files, Verify::Chain).is_err());
        assert!(client_config(&files, Verify::ChainAndName).is_err());
        assert!(client_config(&files, Verify::Nothing).is_ok());
    }

    #[test]
    fn unreadable_and_non_pem_files_name_the_key_and_path() {
        let e = keys(Level::VerifyCa, Some("/no/such/ca.pem"), None)
            .load()
            .unwrap_err();
        assert!(
            e.starts_with("`sslrootcert`: cannot read `/no/such/ca.pem`"),
            "{e}"
        );
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ca.pem");
        std::fs::write(&path, "not a certificate\n").unwrap();
        let p = path.to_str().unwrap();
        let e = keys(Level::VerifyCa, Some(p), None).load().unwrap_err();
        assert!(e.contains(&format!("`{p}` holds no certificate")), "{e}");
        let key = read_key("sslkey", p).unwrap_err();
        assert!(key.contains("holds no private key"), "{key}");
    }
}
