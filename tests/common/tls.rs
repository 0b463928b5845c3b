//! TLS for tests: a certificate authority made once per test process, a server certificate
//! it signs for 127.0.0.1 and localhost, and which transport the current test runs on, so
//! that one test body runs over plain TCP, over TLS and over WebSocket (see
//! `both_transports!`).

use std::cell::Cell;
use std::collections::HashSet;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};

use chat_server::tls::{CertSource, Tls};
use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
use rustls::ClientConfig;
use rustls_pki_types::CertificateDer;

/// What a test's clients and servers speak.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wire {
    Plain,
    Tls,
    /// The web port's WebSocket (plain).
    Web,
}

thread_local! {
    static WIRE: Cell<Wire> = const { Cell::new(Wire::Plain) };
}

/// Runs `test` with servers started by it serving TLS (and clients speaking it).
pub fn with_wire(wire: Wire, test: impl FnOnce()) {
    WIRE.with(|current| current.set(wire));
    test();
    WIRE.with(|current| current.set(Wire::Plain));
}

/// The transport servers started now serve.
pub fn current_wire() -> Wire {
    WIRE.with(Cell::get)
}

/// The test authority and the server certificate it signed, as files.
pub struct TestCerts {
    pub ca: CertificateDer<'static>,
    pub cert_file: PathBuf,
    pub key_file: PathBuf,
    pub fingerprint: String,
}

/// Made on first use, for the whole test process.
pub fn test_certs() -> &'static TestCerts {
    static CERTS: OnceLock<TestCerts> = OnceLock::new();
    CERTS.get_or_init(|| {
        let ca_key = KeyPair::generate().expect("a CA key");
        let mut ca_params = CertificateParams::new(Vec::new()).expect("CA parameters");
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let ca_cert = ca_params.self_signed(&ca_key).expect("the CA certificate");
        let issuer = Issuer::new(ca_params, ca_key);
        let key = KeyPair::generate().expect("a server key");
        let names = vec!["127.0.0.1".to_string(), "localhost".to_string()];
        let params = CertificateParams::new(names).expect("server parameters");
        let cert = params
            .signed_by(&key, &issuer)
            .expect("the server certificate");
        let dir = std::env::temp_dir().join(format!("chat-test-tls-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("a directory for the certificate");
        let (cert_file, key_file) = (dir.join("cert.pem"), dir.join("key.pem"));
        std::fs::write(&cert_file, cert.pem()).expect("write the certificate");
        std::fs::write(&key_file, key.serialize_pem()).expect("write the key");
        TestCerts {
            ca: ca_cert.der().clone(),
            fingerprint: chat_server::tls::fingerprint(cert.der()),
            cert_file,
            key_file,
        }
    })
}

/// The server side: the test certificate.
pub fn server_tls() -> Arc<Tls> {
    let certs = test_certs();
    let source = CertSource::Files {
        cert: certs.cert_file.clone(),
        key: certs.key_file.clone(),
    };
    Arc::new(Tls::load(source).expect("load the test certificate"))
}

/// A client that trusts the test authority only.
pub fn client_config() -> Arc<ClientConfig> {
    static CONFIG: OnceLock<Arc<ClientConfig>> = OnceLock::new();
    Arc::clone(CONFIG.get_or_init(|| {
        let mut roots = rustls::RootCertStore::empty();
        roots
            .add(test_certs().ca.clone())
            .expect("trust the test authority");
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("TLS versions")
            .with_root_certificates(roots)
            .with_no_client_auth();
        Arc::new(config)
    }))
}

/// The addresses of the servers this process started that speak TLS.
fn tls_servers() -> &'static Mutex<HashSet<SocketAddr>> {
    static SERVERS: OnceLock<Mutex<HashSet<SocketAddr>>> = OnceLock::new();
    SERVERS.get_or_init(Mutex::default)
}

/// The addresses of the web ports this process started.
fn web_servers() -> &'static Mutex<HashSet<SocketAddr>> {
    static SERVERS: OnceLock<Mutex<HashSet<SocketAddr>>> = OnceLock::new();
    SERVERS.get_or_init(Mutex::default)
}

/// Notes that `addr` is a web port, so clients connecting to it speak WebSocket.
pub fn mark_web(addr: SocketAddr) {
    web_servers()
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
        .insert(addr);
}

/// Forgets what `addr` spoke, once its server is gone (another test's server may get the
/// same port next).
pub fn unmark(addr: SocketAddr) {
    for servers in [tls_servers(), web_servers()] {
        servers
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .remove(&addr);
    }
}

/// Whether `addr` is a web port.
pub fn is_web(addr: SocketAddr) -> bool {
    web_servers()
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
        .contains(&addr)
}

/// Notes that the server at `addr` speaks TLS, so clients connecting to it do too.
pub fn mark_tls(addr: SocketAddr) {
    tls_servers()
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
        .insert(addr);
}

/// Whether the server at `addr` speaks TLS.
pub fn is_tls(addr: SocketAddr) -> bool {
    tls_servers()
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
        .contains(&addr)
}

/// Runs each test body three times, as `NAME::plain`, `NAME::tls` and `NAME::web`.
#[macro_export]
macro_rules! both_transports {
    ($($(#[$meta:meta])* fn $name:ident() $body:block)*) => {
        $(
            $(#[$meta])*
            mod $name {
                #[allow(unused_imports)]
                use super::*;

                fn body() $body

                #[test]
                fn plain() {
                    common::with_wire(common::Wire::Plain, body);
                }

                #[test]
                fn tls() {
                    common::with_wire(common::Wire::Tls, body);
                }

                #[test]
                fn web() {
                    common::with_wire(common::Wire::Web, body);
                }
            }
        )*
    };
}
