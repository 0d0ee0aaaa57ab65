//! TLS configuration: the server certificate (from `[tls]` or self-signed in
//! data_dir) and client configurations for talking to legacy servers.

use std::path::Path;
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, ServerConfig, SignatureScheme};

pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn read_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let data = std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let certs = rustls_pemfile::certs(&mut data.as_slice())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("{}: not a PEM certificate file: {e}", path.display()))?;
    if certs.is_empty() {
        return Err(format!("{}: no certificate found", path.display()));
    }
    Ok(certs)
}

fn read_key(path: &Path) -> Result<PrivateKeyDer<'static>, String> {
    let data = std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    rustls_pemfile::private_key(&mut data.as_slice())
        .map_err(|e| format!("{}: not a PEM key file: {e}", path.display()))?
        .ok_or_else(|| format!("{}: no private key found", path.display()))
}

/// Builds a server configuration from PEM files.
pub fn load_files(cert: &Path, key: &Path) -> Result<Arc<ServerConfig>, String> {
    let certs = read_certs(cert)?;
    let key = read_key(key)?;
    let cfg = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| format!("certificate and key do not fit together: {e}"))?;
    Ok(Arc::new(cfg))
}

/// Returns the self-signed pair in `data_dir/tls/`, generating it on first use.
pub fn self_signed(data_dir: &Path, hostname: &str) -> Result<Arc<ServerConfig>, String> {
    let dir = data_dir.join("tls");
    let cert = dir.join("selfsigned-cert.pem");
    let key = dir.join("selfsigned-key.pem");
    if !cert.is_file() || !key.is_file() {
        {
            use std::os::unix::fs::DirBuilderExt;
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(&dir)
                .map_err(|e| format!("{}: {e}", dir.display()))?;
        }
        let ck = generate(hostname)?;
        write_private(&key, ck.key_pair.serialize_pem().as_bytes())?;
        write_private(&cert, ck.cert.pem().as_bytes())?;
        tracing::warn!(
            cert = %cert.display(),
            "no [tls] section: generated a self-signed certificate; clients will warn until a real certificate is configured"
        );
    } else {
        tracing::warn!(
            cert = %cert.display(),
            "no [tls] section: using the self-signed certificate in data_dir"
        );
    }
    load_files(&cert, &key)
}

/// A certificate whose subject CN is `hostname` and whose subjectAltName
/// lists `hostname` plus the loopback names (localhost, 127.0.0.1, ::1), so a
/// trial on the local machine can also check the name.
fn generate(hostname: &str) -> Result<rcgen::CertifiedKey, String> {
    let fail = |e: rcgen::Error| format!("cannot generate a self-signed certificate: {e}");
    let mut names = vec![hostname.to_string()];
    for n in ["localhost", "127.0.0.1", "::1"] {
        if !names.iter().any(|h| h.eq_ignore_ascii_case(n)) {
            names.push(n.to_string());
        }
    }
    let mut params = rcgen::CertificateParams::new(names).map_err(fail)?;
    let mut dn = rcgen::DistinguishedName::new();
    dn.push(rcgen::DnType::CommonName, hostname);
    params.distinguished_name = dn;
    let key_pair = rcgen::KeyPair::generate().map_err(fail)?;
    let cert = params.self_signed(&key_pair).map_err(fail)?;
    Ok(rcgen::CertifiedKey { cert, key_pair })
}

fn write_private(path: &Path, data: &[u8]) -> Result<(), String> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let tmp = path.with_extension("tmp");
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)
        .map_err(|e| format!("{}: {e}", tmp.display()))?;
    f.write_all(data)
        .and_then(|_| f.sync_all())
        .map_err(|e| format!("{}: {e}", tmp.display()))?;
    std::fs::rename(&tmp, path).map_err(|e| format!("{}: {e}", path.display()))
}

/// A client configuration for a legacy server: the web PKI roots plus `ca_file`,
/// or no verification at all when the domain sets `verify_certificate = false`.
pub fn client_config(verify: bool, ca_file: Option<&Path>) -> Result<Arc<ClientConfig>, String> {
    let builder = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?;
    let cfg = if verify {
        let mut roots = RootCertStore::empty();
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        if let Some(ca) = ca_file {
            for c in read_certs(ca)? {
                roots.add(c).map_err(|e| format!("{}: {e}", ca.display()))?;
            }
        }
        builder.with_root_certificates(roots).with_no_client_auth()
    } else {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AcceptAnyCertificate(provider())))
            .with_no_client_auth()
    };
    Ok(Arc::new(cfg))
}

/// Used only when an admin sets `verify_certificate = false` for a legacy host.
#[derive(Debug)]
struct AcceptAnyCertificate(Arc<CryptoProvider>);

impl ServerCertVerifier for AcceptAnyCertificate {
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
        rustls::crypto::verify_tls12_signature(
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
        rustls::crypto::verify_tls13_signature(
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
