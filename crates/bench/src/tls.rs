//! TLS for `--tls`: a client configuration that accepts whatever certificate the server
//! presents (a load generator talking to a server it was pointed at, often self-signed),
//! while rustls still checks the handshake's signatures against that certificate, so the
//! server does all the work a real handshake costs it.

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::{ClientConfig, ClientConnection, Resumption};
use rustls::crypto::WebPkiSupportedAlgorithms;
use rustls::{DigitallySignedStruct, SignatureScheme};
use rustls_pki_types::{CertificateDer, ServerName, UnixTime};

/// Most bytes a client's rustls keeps of outgoing data: plaintext written before the
/// handshake finished, and records the socket has not taken yet. A sender's batch (16 KiB)
/// and some lines fit; whatever doesn't waits in the client's own output buffer.
const BUFFER_LIMIT: usize = 32 * 1024;

/// How every client of a run speaks TLS.
#[derive(Debug, Clone)]
pub struct Tls {
    config: Arc<ClientConfig>,
    /// Sent as SNI when it is a DNS name (an IP address sends none).
    name: ServerName<'static>,
}

impl Tls {
    /// TLS 1.2 or 1.3 (rustls's ring provider and its defaults) with `host` as the
    /// server's name, or the address if `host` is not a valid name; no resumption, so
    /// every connection makes a full handshake.
    ///
    /// # Errors
    /// If the provider can't make a configuration (it always can).
    pub fn new(host: &str, addr: SocketAddr) -> anyhow::Result<Tls> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let verifier = Arc::new(AnyCertificate {
            algorithms: provider.signature_verification_algorithms,
        });
        let mut config = ClientConfig::builder_with_provider(Arc::clone(&provider))
            .with_safe_default_protocol_versions()
            .context("failed to set up TLS")?
            .dangerous()
            .with_custom_certificate_verifier(verifier)
            .with_no_client_auth();
        config.resumption = Resumption::disabled();
        let name = ServerName::try_from(host.to_string())
            .unwrap_or_else(|_| ServerName::IpAddress(addr.ip().into()));
        Ok(Tls {
            config: Arc::new(config),
            name,
        })
    }

    /// A new client side, its ClientHello ready to write.
    ///
    /// # Errors
    /// If rustls can't start a handshake (it has no usable cipher suite).
    pub fn connect(&self) -> Result<Box<ClientConnection>, rustls::Error> {
        let mut connection = ClientConnection::new(Arc::clone(&self.config), self.name.clone())?;
        connection.set_buffer_limit(Some(BUFFER_LIMIT));
        Ok(Box::new(connection))
    }
}

/// Takes any certificate, but verifies the handshake signatures made with it.
#[derive(Debug)]
struct AnyCertificate {
    algorithms: WebPkiSupportedAlgorithms,
}

impl ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
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
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}
