//! Which server certificates the client trusts: those the platform's certificate
//! authorities (and `--ca`) vouch for, the one pinned with `--tls-fingerprint`, and
//! otherwise, as ssh does with host keys, the ones the user accepted once and that are
//! remembered per host and port in `known_servers`.

use std::fmt;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use base64::Engine;
use base64::engine::general_purpose::STANDARD_NO_PAD;
use chat_sync::lock;
use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::{CertificateError, DigitallySignedStruct, RootCertStore, SignatureScheme};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, ServerName, UnixTime};

/// The name of the file, in the client's data directory, that remembers the certificates
/// the user trusted.
pub const KNOWN_SERVERS: &str = "known_servers";

/// The SHA-256 digest of a DER certificate, written as ssh writes host keys:
/// `SHA256:` and the digest in standard base64 without `=` padding.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Fingerprint([u8; 32]);

impl Fingerprint {
    /// The fingerprint of a certificate (its DER bytes).
    pub fn of(der: &[u8]) -> Fingerprint {
        let digest = ring::digest::digest(&ring::digest::SHA256, der);
        let mut bytes = [0; 32];
        bytes.copy_from_slice(digest.as_ref());
        Fingerprint(bytes)
    }

    /// Parses `SHA256:BASE64` (padding allowed but not needed).
    ///
    /// # Errors
    /// Saying what is wrong with it.
    pub fn parse(text: &str) -> Result<Fingerprint, String> {
        let text = text.trim();
        let Some(encoded) = text
            .get(..7)
            .filter(|prefix| prefix.eq_ignore_ascii_case("SHA256:"))
            .map(|_| &text[7..])
        else {
            return Err(format!(
                "{text:?} is not a fingerprint: it must start with SHA256: (as the server's log shows it)"
            ));
        };
        let bytes = STANDARD_NO_PAD
            .decode(encoded.trim_end_matches('='))
            .map_err(|_| {
                format!("{text:?} is not a fingerprint: what follows SHA256: is not base64")
            })?;
        let bytes: [u8; 32] = bytes.try_into().map_err(|_| {
            format!("{text:?} is not a fingerprint: a SHA-256 digest is 32 bytes (43 characters)")
        })?;
        Ok(Fingerprint(bytes))
    }
}

impl fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SHA256:{}", STANDARD_NO_PAD.encode(self.0))
    }
}

impl fmt::Debug for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// What `--ca` and `--tls-fingerprint` say, loaded once: the certificate authorities
/// (the platform's and `--ca`'s) and the pinned fingerprint.
#[derive(Clone)]
pub struct TlsSettings {
    roots: Arc<RootCertStore>,
    pin: Option<Fingerprint>,
}

impl fmt::Debug for TlsSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsSettings")
            .field("roots", &self.roots.len())
            .field("pin", &self.pin)
            .finish()
    }
}

impl TlsSettings {
    /// Loads the platform's certificate authorities and those in `ca` (PEM).
    ///
    /// # Errors
    /// When `ca` can't be read or holds no certificate.
    pub fn new(ca: Option<&Path>, pin: Option<Fingerprint>) -> Result<TlsSettings, String> {
        let mut roots = RootCertStore::empty();
        let native = rustls_native_certs::load_native_certs();
        for err in &native.errors {
            log::debug!("could not load a platform certificate: {err}");
        }
        let (added, ignored) = roots.add_parsable_certificates(native.certs);
        log::debug!("{added} platform certificate authorities ({ignored} unusable)");
        if let Some(path) = ca {
            let shown = path.display();
            let certs = CertificateDer::pem_file_iter(path)
                .map_err(|err| format!("could not read --ca {shown}: {err}"))?
                .collect::<Result<Vec<_>, _>>()
                .map_err(|err| format!("could not read --ca {shown}: {err}"))?;
            if certs.is_empty() {
                return Err(format!("--ca {shown} holds no PEM certificate"));
            }
            for cert in certs {
                roots
                    .add(cert)
                    .map_err(|err| format!("--ca {shown}: not a usable certificate: {err}"))?;
            }
        }
        Ok(TlsSettings {
            roots: Arc::new(roots),
            pin,
        })
    }

    /// The fingerprint pinned with `--tls-fingerprint`.
    pub fn pin(&self) -> Option<Fingerprint> {
        self.pin
    }
}

/// Why a server's certificate was not trusted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Distrust {
    /// Nothing vouches for it: no authority, no pin, nothing remembered for the server.
    Unknown {
        server: String,
        presented: Fingerprint,
    },
    /// The user was asked and did not trust it.
    Declined {
        server: String,
        presented: Fingerprint,
    },
    /// `known_servers` remembers another certificate for this server.
    Changed {
        server: String,
        remembered: Fingerprint,
        presented: Fingerprint,
        file: PathBuf,
        line: usize,
    },
    /// `--tls-fingerprint` pinned another certificate.
    NotPinned {
        server: String,
        pinned: Fingerprint,
        presented: Fingerprint,
    },
}

impl fmt::Display for Distrust {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Distrust::Unknown { server, presented } => write!(
                f,
                "the server {server} presented an unknown certificate, fingerprint {presented}; \
                 if that is the server's (its log shows its fingerprint at start), pass \
                 --tls-fingerprint {presented}, or connect once from a terminal to be asked"
            ),
            Distrust::Declined { server, presented } => write!(
                f,
                "the certificate of {server} (fingerprint {presented}) was not trusted"
            ),
            Distrust::Changed {
                server,
                remembered,
                presented,
                file,
                line,
            } => write!(
                f,
                "WARNING: THE CERTIFICATE OF {server} HAS CHANGED\n\
                 \x20 remembered: {remembered} ({}, line {line})\n\
                 \x20 presented:  {presented}\n\
                 Someone may be intercepting the connection, or the server may have a new \
                 certificate. Not connecting.\n\
                 If you know that the server's certificate changed, delete line {line} of {} \
                 and connect again to be asked about the new one.",
                file.display(),
                file.display()
            ),
            Distrust::NotPinned {
                server,
                pinned,
                presented,
            } => write!(
                f,
                "the server {server} presented the certificate {presented}, not the one \
                 pinned with --tls-fingerprint ({pinned})"
            ),
        }
    }
}

/// The key of a server in `known_servers`: `HOST:PORT`, `[HOST]:PORT` for an IPv6
/// address, the host in lower case.
pub fn server_key(host: &str, port: u16) -> String {
    let host = host.to_ascii_lowercase();
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// Where the trusted certificates are remembered: `chat-client/known_servers` in the
/// data directory (as the input history is).
pub fn known_servers_path() -> Option<PathBuf> {
    Some(dirs::data_dir()?.join("chat-client").join(KNOWN_SERVERS))
}

/// A remembered certificate: the fingerprint and its line in the file (from 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Remembered {
    fingerprint: Fingerprint,
    line: usize,
}

/// What `known_servers` remembers for `server`, one entry per line `HOST:PORT SHA256:..`
/// (`#` starts a comment). Lines that don't parse are skipped.
fn remembered(text: &str, server: &str) -> Vec<Remembered> {
    text.lines()
        .enumerate()
        .filter_map(|(index, line)| {
            let line = line.split('#').next().unwrap_or_default();
            let mut words = line.split_whitespace();
            let key = words.next()?;
            let fingerprint = Fingerprint::parse(words.next()?).ok()?;
            key.eq_ignore_ascii_case(server).then_some(Remembered {
                fingerprint,
                line: index + 1,
            })
        })
        .collect()
}

/// Appends `server`'s fingerprint to the file at `path`, creating it (and its directory).
pub fn remember(path: &Path, server: &str, fingerprint: Fingerprint) -> io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let fresh = !path.exists();
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)?;
    let mut text = String::new();
    if fresh {
        text.push_str(
            "# chat-client: the server certificates you trusted, HOST:PORT SHA256:FINGERPRINT\n",
        );
    }
    text.push_str(&format!("{server} {fingerprint}\n"));
    file.write_all(text.as_bytes())
}

/// What the verifier decides about a certificate no authority vouched for.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Verdict {
    Trusted,
    Distrusted(Distrust),
}

/// Decides by the pin, the certificate trusted this session and `known_servers`.
fn judge(
    server: &str,
    presented: Fingerprint,
    accepted: Option<Fingerprint>,
    known: Option<(&Path, &str)>,
) -> Verdict {
    if accepted == Some(presented) {
        return Verdict::Trusted;
    }
    let entries = known.map_or_else(Vec::new, |(_, text)| remembered(text, server));
    if entries.iter().any(|entry| entry.fingerprint == presented) {
        return Verdict::Trusted;
    }
    match (entries.first(), known) {
        (Some(entry), Some((file, _))) => Verdict::Distrusted(Distrust::Changed {
            server: server.to_string(),
            remembered: entry.fingerprint,
            presented,
            file: file.to_path_buf(),
            line: entry.line,
        }),
        _ => Verdict::Distrusted(Distrust::Unknown {
            server: server.to_string(),
            presented,
        }),
    }
}

/// The client's certificate verifier for one server (`HOST:PORT`): a pinned fingerprint
/// if there is one, else the certificate authorities, else what the user trusted. The
/// handshake's signatures are checked as rustls's own verifier checks them.
#[derive(Debug)]
pub struct Verifier {
    server: String,
    pin: Option<Fingerprint>,
    /// `None` when there is no authority to ask (none on the platform, no `--ca`).
    authorities: Option<Arc<WebPkiServerVerifier>>,
    algorithms: WebPkiSupportedAlgorithms,
    /// Where the trusted certificates are remembered; `None`: nowhere.
    known_servers: Option<PathBuf>,
    /// A certificate the user trusted in this run (kept even if the file could not be
    /// written), so a reconnect needs no file.
    accepted: Mutex<Option<Fingerprint>>,
    /// Why the last certificate refused was, for the caller to tell.
    refused: Mutex<Option<Distrust>>,
}

impl Verifier {
    /// A verifier for the server `host:port`.
    pub fn new(
        settings: &TlsSettings,
        provider: &Arc<CryptoProvider>,
        host: &str,
        port: u16,
        known_servers: Option<PathBuf>,
    ) -> Verifier {
        let authorities = if settings.roots.is_empty() {
            None
        } else {
            match WebPkiServerVerifier::builder_with_provider(
                Arc::clone(&settings.roots),
                Arc::clone(provider),
            )
            .build()
            {
                Ok(verifier) => Some(verifier),
                Err(err) => {
                    log::warn!("no certificate authorities to verify with: {err}");
                    None
                }
            }
        };
        Verifier {
            server: server_key(host, port),
            pin: settings.pin,
            authorities,
            algorithms: provider.signature_verification_algorithms,
            known_servers,
            accepted: Mutex::new(None),
            refused: Mutex::new(None),
        }
    }

    /// Why the last certificate was refused, if it was (taken: asked once).
    pub fn take_refusal(&self) -> Option<Distrust> {
        lock(&self.refused).take()
    }

    /// Trusts `fingerprint` from now on, and remembers it in `known_servers`. Returns
    /// the file it was written to.
    ///
    /// # Errors
    /// When it could not be written (it is still trusted until the client ends).
    pub fn trust(&self, fingerprint: Fingerprint) -> io::Result<PathBuf> {
        *lock(&self.accepted) = Some(fingerprint);
        let path = self.known_servers.clone().ok_or_else(|| {
            io::Error::new(io::ErrorKind::NotFound, "no data directory to keep it in")
        })?;
        remember(&path, &self.server, fingerprint)?;
        Ok(path)
    }

    fn refuse(&self, distrust: Distrust) -> rustls::Error {
        log::debug!("refused the certificate: {distrust}");
        *lock(&self.refused) = Some(distrust);
        rustls::Error::InvalidCertificate(CertificateError::ApplicationVerificationFailure)
    }
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
        let presented = Fingerprint::of(end_entity);
        if let Some(pinned) = self.pin {
            if presented == pinned {
                return Ok(ServerCertVerified::assertion());
            }
            return Err(self.refuse(Distrust::NotPinned {
                server: self.server.clone(),
                pinned,
                presented,
            }));
        }
        if let Some(authorities) = &self.authorities {
            match authorities.verify_server_cert(
                end_entity,
                intermediates,
                server_name,
                ocsp_response,
                now,
            ) {
                Ok(verified) => return Ok(verified),
                Err(err) => log::debug!("no authority vouches for {}: {err}", self.server),
            }
        }
        let text = self.known_servers.as_ref().and_then(|path| {
            std::fs::read_to_string(path)
                .map_err(|err| {
                    if err.kind() != io::ErrorKind::NotFound {
                        log::warn!("could not read {}: {err}", path.display());
                    }
                })
                .ok()
                .map(|text| (path.as_path(), text))
        });
        let accepted = *lock(&self.accepted);
        let known = text.as_ref().map(|(path, text)| (*path, text.as_str()));
        match judge(&self.server, presented, accepted, known) {
            Verdict::Trusted => Ok(ServerCertVerified::assertion()),
            Verdict::Distrusted(distrust) => Err(self.refuse(distrust)),
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn fingerprint(byte: u8) -> Fingerprint {
        Fingerprint([byte; 32])
    }

    #[test]
    fn fingerprints_read_as_ssh_writes_them() {
        let print = Fingerprint::of(b"a certificate");
        let text = print.to_string();
        assert!(text.starts_with("SHA256:"), "{text}");
        assert_eq!(text.len(), 7 + 43, "{text}");
        assert!(!text.contains('='), "{text}");
        assert_eq!(Fingerprint::parse(&text), Ok(print));
        assert_eq!(Fingerprint::parse(&format!(" {text}= ")), Ok(print));
        assert_eq!(
            Fingerprint::parse(&text.replacen("SHA256", "sha256", 1)),
            Ok(print)
        );
        // The digest of the empty string, as `ssh-keygen -l` would print it.
        assert_eq!(
            Fingerprint::of(b"").to_string(),
            "SHA256:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU"
        );
        for bad in [
            "",
            "47DEQpj8",
            "SHA256:",
            "SHA256:not base64!",
            "SHA256:AAAA",
            "MD5:aa",
        ] {
            assert!(Fingerprint::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn servers_are_keyed_by_host_and_port() {
        assert_eq!(server_key("Chat.Example", 7000), "chat.example:7000");
        assert_eq!(server_key("::1", 7000), "[::1]:7000");
        assert_eq!(server_key("127.0.0.1", 1), "127.0.0.1:1");
    }

    #[test]
    fn known_servers_remember_per_server_with_line_numbers() {
        let (one, two) = (fingerprint(1), fingerprint(2));
        let text = format!(
            "# a comment\nhost:1 {one}\n\nbroken line\nhost:2 {two} # trusted today\nHOST:1 {two}\n"
        );
        assert_eq!(
            remembered(&text, "host:1"),
            [
                Remembered {
                    fingerprint: one,
                    line: 2
                },
                Remembered {
                    fingerprint: two,
                    line: 6
                }
            ]
        );
        assert_eq!(remembered(&text, "host:2").len(), 1);
        assert!(remembered(&text, "host:3").is_empty());
    }

    #[test]
    fn unknown_remembered_and_changed_certificates() {
        let (one, two) = (fingerprint(1), fingerprint(2));
        let file = Path::new("/data/known_servers");
        let text = format!("host:1 {one}\n");
        let known = Some((file, text.as_str()));
        assert_eq!(judge("host:1", one, None, known), Verdict::Trusted);
        assert_eq!(judge("host:1", two, Some(two), known), Verdict::Trusted);
        assert_eq!(
            judge("host:2", two, None, known),
            Verdict::Distrusted(Distrust::Unknown {
                server: "host:2".into(),
                presented: two
            })
        );
        assert_eq!(
            judge("host:2", two, None, None),
            Verdict::Distrusted(Distrust::Unknown {
                server: "host:2".into(),
                presented: two
            })
        );
        let Verdict::Distrusted(changed) = judge("host:1", two, None, known) else {
            panic!("a changed certificate was trusted");
        };
        assert_eq!(
            changed,
            Distrust::Changed {
                server: "host:1".into(),
                remembered: one,
                presented: two,
                file: file.to_path_buf(),
                line: 1
            }
        );
        let told = changed.to_string();
        for part in [
            "CHANGED",
            &one.to_string(),
            &two.to_string(),
            "delete line 1 of /data/known_servers",
        ] {
            assert!(told.contains(part), "{part:?} missing from {told}");
        }
    }

    #[test]
    fn remembering_appends_to_the_file() {
        let dir = std::env::temp_dir().join(format!("chat-known-servers-{}", std::process::id()));
        let path = dir.join("sub").join(KNOWN_SERVERS);
        let _ = std::fs::remove_dir_all(&dir);
        remember(&path, "host:1", fingerprint(1)).expect("first");
        remember(&path, "host:2", fingerprint(2)).expect("second");
        let text = std::fs::read_to_string(&path).expect("read back");
        assert_eq!(remembered(&text, "host:1")[0].fingerprint, fingerprint(1));
        assert_eq!(remembered(&text, "host:2")[0].line, 3);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
