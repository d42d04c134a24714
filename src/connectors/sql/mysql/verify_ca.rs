//! `ssl_mode: verify_ca` (the chain, not the host name) over a driver that can only check both.
//!
//! mysql_async 0.37.1 has `with_danger_skip_domain_validation`, but it recognises a name
//! mismatch by looking for the text "NotValidForName" in rustls's error, which rustls 0.23
//! words "certificate not valid for name ...": the name is checked anyway. So etl makes one
//! TLS handshake of its own first (the MySQL greeting, an `SSLRequest`, then rustls with the
//! chain-only verifier of [`tls`]): it verifies the chain against `ssl_ca` and reads a name the
//! server's certificate holds. The real connection then verifies the chain again, against that
//! name (`with_danger_tls_hostname_override`), so it accepts exactly the certificates
//! `verify_ca` accepts: ones the CA signed, whatever host they name.

use super::MysqlConfig;
use crate::connectors::sql::tls::{self, TlsFiles, TlsKeys, Verify};
use crate::error::{Error, ErrorKind, Result};
use rustls::pki_types::ServerName;
use std::sync::Arc;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Capability flags of the `SSLRequest`: CLIENT_LONG_PASSWORD, CLIENT_PROTOCOL_41,
/// CLIENT_SSL, CLIENT_SECURE_CONNECTION.
const CAPABILITIES: u32 = 0x0001 | 0x0200 | 0x0800 | 0x8000;
const CLIENT_SSL: u16 = 0x0800;

/// A name the server's certificate holds, after verifying its chain against the CA file.
pub(super) async fn certificate_name(
    config: &MysqlConfig,
    keys: &TlsKeys<'_>,
    files: &TlsFiles,
) -> Result<String> {
    let what = || format!("cannot connect to {}", config.describe());
    let io = |e: std::io::Error| match tls::rustls_cause(&e) {
        Some(cause) => tls::handshake_error(&what(), keys, &config.host, cause),
        None => Error::driver(crate::error::io_kind(&e), what(), e),
    };
    let mut tcp = TcpStream::connect((config.host.as_str(), config.port))
        .await
        .map_err(io)?;
    let greeting = read_packet(&mut tcp).await.map_err(io)?;
    if greeting.first() == Some(&0xff) {
        // An error packet instead of a greeting (e.g. a blocked host): code, then the message.
        let message = String::from_utf8_lossy(greeting.get(3..).unwrap_or_default());
        return Err(Error::driver(ErrorKind::Unreachable, what(), message));
    }
    if !offers_tls(&greeting) {
        return Err(super::no_tls_offered(&what(), keys));
    }
    let mut request = vec![32, 0, 0, 1];
    request.extend_from_slice(&CAPABILITIES.to_le_bytes());
    request.extend_from_slice(&(16u32 << 20).to_le_bytes());
    request.push(45); // utf8mb4_general_ci
    request.extend_from_slice(&[0; 23]);
    tcp.write_all(&request).await.map_err(io)?;

    let config_tls = tls::client_config(files, Verify::Chain)?;
    let server_name = ServerName::try_from(config.host.clone()).map_err(|e| {
        Error::spec(format!(
            "host `{}` is not a valid TLS name: {e}",
            config.host
        ))
    })?;
    let stream = tokio_rustls::TlsConnector::from(Arc::new(config_tls))
        .connect(server_name.clone(), tcp)
        .await
        .map_err(io)?;
    let leaf = stream
        .get_ref()
        .1
        .peer_certificates()
        .and_then(|c| c.first())
        .ok_or_else(|| Error::driver(ErrorKind::Auth, what(), "the server sent no certificate"))?;
    let parsed = rustls::server::ParsedCertificate::try_from(leaf)
        .map_err(|e| tls::handshake_error(&what(), keys, &config.host, &e))?;
    match rustls::client::verify_server_name(&parsed, &server_name) {
        Ok(()) => Ok(config.host.clone()),
        Err(rustls::Error::InvalidCertificate(
            rustls::CertificateError::NotValidForNameContext { presented, .. },
        )) => presented
            .iter()
            .find_map(|p| presented_name(p))
            .ok_or_else(|| {
                Error::driver(
                    ErrorKind::Auth,
                    what(),
                    "the server's certificate names no host (no DNS name or IP address in its subjectAltName), so the MySQL driver cannot verify it; `ssl_mode: required` with no `ssl_ca` encrypts without verifying",
                )
            }),
        Err(e) => Err(tls::handshake_error(&what(), keys, &config.host, &e)),
    }
}

/// One MySQL packet's payload (3-byte little-endian length, sequence number, payload).
async fn read_packet(tcp: &mut TcpStream) -> std::io::Result<Vec<u8>> {
    let mut header = [0u8; 4];
    tcp.read_exact(&mut header).await?;
    let len = u32::from_le_bytes([header[0], header[1], header[2], 0]) as usize;
    let mut payload = vec![0; len];
    tcp.read_exact(&mut payload).await?;
    Ok(payload)
}

/// Whether the server's greeting (protocol 10) offers CLIENT_SSL.
fn offers_tls(greeting: &[u8]) -> bool {
    if greeting.first() != Some(&10) {
        return false;
    }
    // version (NUL-terminated), connection id (4), auth data (8), filler (1), capabilities (2).
    let Some(nul) = greeting[1..].iter().position(|b| *b == 0) else {
        return false;
    };
    let at = 1 + nul + 1 + 4 + 8 + 1;
    match greeting.get(at..at + 2) {
        Some(c) => u16::from_le_bytes([c[0], c[1]]) & CLIENT_SSL != 0,
        None => false,
    }
}

/// A name from rustls's list of the names a certificate holds (`DnsName("db.internal")`,
/// `IpAddress(10.0.0.5)`), usable as the name to verify against. A wildcard's `*` is replaced by
/// a label it matches.
fn presented_name(presented: &str) -> Option<String> {
    let name = if let Some(dns) = presented.strip_prefix("DnsName(\"") {
        dns.strip_suffix("\")")?.replacen('*', "etl-verify-ca", 1)
    } else {
        presented
            .strip_prefix("IpAddress(")?
            .strip_suffix(')')?
            .to_string()
    };
    ServerName::try_from(name.clone()).ok().map(|_| name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_read_from_rustls_presented_names() {
        assert_eq!(
            presented_name("DnsName(\"db.internal\")").as_deref(),
            Some("db.internal")
        );
        assert_eq!(
            presented_name("DnsName(\"*.example.com\")").as_deref(),
            Some("etl-verify-ca.example.com")
        );
        assert_eq!(
            presented_name("IpAddress(10.0.0.5)").as_deref(),
            Some("10.0.0.5")
        );
        assert_eq!(presented_name("DirectoryName"), None);
    }

    #[test]
    fn the_greeting_says_whether_tls_is_offered() {
        let mut g = vec![10];
        g.extend_from_slice(b"10.11.19-MariaDB\0");
        g.extend_from_slice(&[0; 4 + 8 + 1]);
        let mut with = g.clone();
        with.extend_from_slice(&0xfffeu16.to_le_bytes());
        g.extend_from_slice(&0xf7feu16.to_le_bytes());
        assert!(offers_tls(&with));
        assert!(!offers_tls(&g));
        assert!(!offers_tls(&[0xff, 0x15, 0x04]));
    }
}
