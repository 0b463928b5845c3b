//! TLS for the server: the certificate (PEM files, or a self-signed one made once and kept
//! in the data directory), its fingerprint as ssh prints host keys, the rustls settings new
//! connections get, and reloading the certificate (on SIGHUP) without touching anyone
//! already connected.

use std::fmt;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use base64::Engine;
use base64::engine::general_purpose::STANDARD_NO_PAD;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls::{ServerConfig, ServerConnection};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

/// Where the certificate comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CertSource {
    /// `--tls-cert FILE --tls-key FILE`: a chain and its key, in PEM.
    Files { cert: PathBuf, key: PathBuf },
    /// `--tls-self-signed`: made once and kept in `dir` (`None`: in memory only, made
    /// anew at each start).
    SelfSigned { dir: Option<PathBuf> },
}

/// Why the certificate could not be had. Says which file and what is wrong with it.
#[derive(Debug)]
pub struct TlsError(String);

impl fmt::Display for TlsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for TlsError {}

impl From<TlsError> for io::Error {
    fn from(err: TlsError) -> io::Error {
        io::Error::new(io::ErrorKind::InvalidInput, err.0)
    }
}

/// The file names of a self-signed certificate and its key in the data directory.
pub const SELF_SIGNED_CERT: &str = "tls/cert.pem";
pub const SELF_SIGNED_KEY: &str = "tls/key.pem";

/// The most plaintext (before the handshake) and ciphertext rustls may hold for one client;
/// the client's queue is where lines wait.
const BUFFER_LIMIT: usize = 32 * 1024;

/// A server's TLS: its settings, shared by every TLS connection, and the certificate they
/// present, which [`Tls::reload`] replaces.
pub struct Tls {
    source: CertSource,
    current: Arc<Current>,
    config: Arc<ServerConfig>,
}

impl fmt::Debug for Tls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Tls")
            .field("source", &self.source)
            .field("fingerprint", &self.fingerprint())
            .finish()
    }
}

/// The certificate presented now.
#[derive(Debug)]
struct Current {
    key: Mutex<Arc<CertifiedKey>>,
}

impl ResolvesServerCert for Current {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(Arc::clone(&chat_sync::lock(&self.key)))
    }
}

impl Tls {
    /// Loads (or, self-signed, makes) the certificate.
    ///
    /// # Errors
    /// If a file can't be read or holds no usable certificate or key.
    pub fn load(source: CertSource) -> Result<Tls, TlsError> {
        let key = certified_key(&source)?;
        let current = Arc::new(Current {
            key: Mutex::new(Arc::new(key)),
        });
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = ServerConfig::builder_with_provider(provider)
            .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
            .map_err(|err| TlsError(format!("TLS settings: {err}")))?
            .with_no_client_auth()
            .with_cert_resolver(Arc::clone(&current) as Arc<dyn ResolvesServerCert>);
        // No resumption: a chat connection lives long, and tickets would be bytes a
        // writer must send that no line asked for.
        config.send_tls13_tickets = 0;
        config.session_storage = Arc::new(rustls::server::NoServerSessionStorage {});
        Ok(Tls {
            source,
            current,
            config: Arc::new(config),
        })
    }

    /// Reads the certificate again; connections made from now on get the new one. A
    /// reload that fails keeps the old one.
    ///
    /// # Errors
    /// Why the new one can't be used.
    pub fn reload(&self) -> Result<(), TlsError> {
        if matches!(self.source, CertSource::SelfSigned { dir: None }) {
            return Ok(());
        }
        let key = certified_key(&self.source)?;
        *chat_sync::lock(&self.current.key) = Arc::new(key);
        Ok(())
    }

    /// `SHA256:` and the base64 of the certificate's digest, as ssh shows host keys.
    pub fn fingerprint(&self) -> String {
        let key = chat_sync::lock(&self.current.key);
        key.cert
            .first()
            .map_or_else(|| "none".to_string(), |cert| fingerprint(cert))
    }

    /// A server side for a new connection.
    pub(crate) fn accept(&self) -> Result<ServerConnection, rustls::Error> {
        let mut connection = ServerConnection::new(Arc::clone(&self.config))?;
        connection.set_buffer_limit(Some(BUFFER_LIMIT));
        Ok(connection)
    }
}

/// A certificate's fingerprint: `SHA256:` and the unpadded base64 of the SHA-256 of its DER.
pub fn fingerprint(der: &[u8]) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, der);
    format!("SHA256:{}", STANDARD_NO_PAD.encode(digest.as_ref()))
}

fn certified_key(source: &CertSource) -> Result<CertifiedKey, TlsError> {
    let (chain, key) = match source {
        CertSource::Files { cert, key } => (read_chain(cert)?, read_key(key)?),
        CertSource::SelfSigned { dir } => self_signed(dir.as_deref())?,
    };
    let signing = rustls::crypto::ring::sign::any_supported_type(&key)
        .map_err(|err| TlsError(format!("the TLS key can't be used: {err}")))?;
    let certified = CertifiedKey::new(chain, signing);
    certified
        .keys_match()
        .map_err(|err| TlsError(format!("the TLS key is not the certificate's: {err}")))?;
    Ok(certified)
}

fn read_chain(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let unreadable = |err: &dyn fmt::Display| {
        TlsError(format!(
            "the TLS certificate {} can't be read: {err}",
            path.display()
        ))
    };
    let chain = CertificateDer::pem_file_iter(path)
        .map_err(|err| unreadable(&err))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|err| unreadable(&err))?;
    if chain.is_empty() {
        return Err(unreadable(&"it holds no certificate"));
    }
    Ok(chain)
}

fn read_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    PrivateKeyDer::from_pem_file(path).map_err(|err| {
        TlsError(format!(
            "the TLS key {} can't be read: {err}",
            path.display()
        ))
    })
}

/// The self-signed certificate kept in `dir`, made (for localhost, the loopback addresses
/// and this host's name) the first time.
fn self_signed(
    dir: Option<&Path>,
) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>), TlsError> {
    if let Some(dir) = dir {
        let (cert, key) = (dir.join(SELF_SIGNED_CERT), dir.join(SELF_SIGNED_KEY));
        if cert.exists() && key.exists() {
            return Ok((read_chain(&cert)?, read_key(&key)?));
        }
    }
    let mut names = vec![
        "localhost".to_string(),
        "127.0.0.1".to_string(),
        "::1".to_string(),
    ];
    if let Ok(host) = fs::read_to_string("/proc/sys/kernel/hostname") {
        let host = host.trim();
        if !host.is_empty() && host != "localhost" {
            names.push(host.to_string());
        }
    }
    let made = rcgen::generate_simple_self_signed(names)
        .map_err(|err| TlsError(format!("could not make a self-signed certificate: {err}")))?;
    let cert_pem = made.cert.pem();
    let key_pem = made.signing_key.serialize_pem();
    if let Some(dir) = dir {
        save(dir, &cert_pem, &key_pem)?;
        log::info!(
            "made a self-signed TLS certificate in {}",
            dir.join(SELF_SIGNED_CERT).display()
        );
    }
    let chain = vec![made.cert.der().clone()];
    let key = PrivateKeyDer::from_pem_slice(key_pem.as_bytes())
        .map_err(|err| TlsError(format!("the self-signed key can't be read back: {err}")))?;
    Ok((chain, key))
}

/// Writes a new certificate and its key (readable by this user only).
fn save(dir: &Path, cert: &str, key: &str) -> Result<(), TlsError> {
    use std::os::unix::fs::OpenOptionsExt;
    let cert_path = dir.join(SELF_SIGNED_CERT);
    let failed = |path: &Path, err: io::Error| {
        TlsError(format!(
            "could not write the TLS certificate {}: {err}",
            path.display()
        ))
    };
    if let Some(parent) = cert_path.parent() {
        fs::create_dir_all(parent).map_err(|err| failed(parent, err))?;
    }
    let key_path = dir.join(SELF_SIGNED_KEY);
    let mut options = fs::OpenOptions::new();
    options.write(true).create(true).truncate(true).mode(0o600);
    let written = options
        .open(&key_path)
        .and_then(|mut file| io::Write::write_all(&mut file, key.as_bytes()));
    written.map_err(|err| failed(&key_path, err))?;
    fs::write(&cert_path, cert).map_err(|err| failed(&cert_path, err))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp(what: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("chat-tls-{what}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).expect("temporary directory");
        dir
    }

    #[test]
    fn a_self_signed_certificate_is_made_once_and_kept() {
        let dir = temp("self");
        let first = Tls::load(CertSource::SelfSigned {
            dir: Some(dir.clone()),
        })
        .expect("made");
        let again = Tls::load(CertSource::SelfSigned {
            dir: Some(dir.clone()),
        })
        .expect("kept");
        assert_eq!(first.fingerprint(), again.fingerprint());
        assert!(first.fingerprint().starts_with("SHA256:"));
        assert!(!first.fingerprint().ends_with('='));
        assert_eq!(first.fingerprint().len(), "SHA256:".len() + 43);
        let mode = fs::metadata(dir.join(SELF_SIGNED_KEY))
            .map(|meta| std::os::unix::fs::PermissionsExt::mode(&meta.permissions()))
            .expect("key file");
        assert_eq!(mode & 0o777, 0o600);
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn bad_files_say_which_and_a_failed_reload_keeps_the_certificate() {
        let dir = temp("files");
        let made = rcgen::generate_simple_self_signed(vec!["localhost".to_string()])
            .expect("a certificate");
        let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
        fs::write(&cert, made.cert.pem()).expect("write");
        fs::write(&key, made.signing_key.serialize_pem()).expect("write");
        let source = CertSource::Files {
            cert: cert.clone(),
            key: key.clone(),
        };
        let tls = Tls::load(source).expect("loads");
        let before = tls.fingerprint();
        fs::write(&cert, "not a certificate").expect("write");
        let err = tls.reload().expect_err("garbage");
        assert!(err.to_string().contains("cert.pem"), "{err}");
        assert_eq!(tls.fingerprint(), before);
        let missing = Tls::load(CertSource::Files {
            cert: dir.join("nope.pem"),
            key,
        })
        .expect_err("missing");
        assert!(missing.to_string().contains("nope.pem"), "{missing}");
        let _ = fs::remove_dir_all(&dir);
    }
}
