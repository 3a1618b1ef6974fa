//! The server's key material under `<data_dir>`: the CA, the TLS server certificate and the
//! relay's receipt-signing key. Created on first start, reused afterwards.
//!
//! ```text
//! <data_dir>/ca/ca.pem            CA certificate (public; clients pin it)
//! <data_dir>/ca/ca-key.pem        CA private key (0600)
//! <data_dir>/tls/server.pem       TLS server certificate for `server.hostnames`
//! <data_dir>/tls/server-key.pem   its key (0600)
//! <data_dir>/relay/receipt.pem    relay receipt-signing certificate (issued by the CA)
//! <data_dir>/relay/receipt-key.der its Ed25519 PKCS#8 key (0600)
//! ```

use std::path::{Path, PathBuf};

use renkei_pki::Ca;
use zeroize::Zeroizing;

use crate::demo_file::write_private_atomic;
use crate::ServerError;

/// Everything the relay and the portal need to sign and to speak TLS.
pub struct KeyMaterial {
    /// The CA (with its private key: the portal issues certificates).
    pub ca: Ca,
    /// TLS server certificate chain PEM.
    pub server_cert_pem: String,
    /// TLS server key PEM.
    pub server_key_pem: Zeroizing<String>,
    /// Relay receipt-signing key (Ed25519 PKCS#8 DER).
    pub receipt_key_pkcs8: Zeroizing<Vec<u8>>,
    /// Relay receipt-signing certificate PEM.
    pub receipt_cert_pem: String,
    /// Path of the CA certificate file.
    pub ca_cert_path: PathBuf,
}

impl std::fmt::Debug for KeyMaterial {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyMaterial")
            .field("ca_cert_path", &self.ca_cert_path)
            .finish_non_exhaustive()
    }
}

fn read_opt(path: &Path) -> Result<Option<Vec<u8>>, ServerError> {
    match std::fs::read(path) {
        Ok(b) => Ok(Some(b)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(ServerError::Io(path.to_owned(), e)),
    }
}

fn write_public(path: &Path, bytes: &[u8]) -> Result<(), ServerError> {
    write_private_atomic(path, bytes).map_err(|e| ServerError::Io(path.to_owned(), e))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o644))
            .map_err(|e| ServerError::Io(path.to_owned(), e))?;
    }
    Ok(())
}

/// Load the key material from `data_dir`, creating what is missing. `ca_name` names a new CA.
/// The TLS certificate is re-issued when the host names changed or it expires within 30 days.
pub fn load_or_create(
    data_dir: &Path,
    ca_name: &str,
    hostnames: &[String],
) -> Result<KeyMaterial, ServerError> {
    let ca_cert_path = data_dir.join("ca").join("ca.pem");
    let ca_key_path = data_dir.join("ca").join("ca-key.pem");
    let ca = if ca_cert_path.exists() {
        Ca::load(&ca_cert_path, &ca_key_path)?
    } else {
        let ca = Ca::generate(ca_name)?;
        std::fs::create_dir_all(data_dir.join("ca"))
            .map_err(|e| ServerError::Io(data_dir.join("ca"), e))?;
        ca.save(&ca_cert_path, &ca_key_path)?;
        ca
    };

    let tls_dir = data_dir.join("tls");
    let cert_path = tls_dir.join("server.pem");
    let key_path = tls_dir.join("server-key.pem");
    let names_path = tls_dir.join("hostnames.txt");
    let wanted_names = hostnames.join("\n");
    let reuse = match (
        read_opt(&cert_path)?,
        read_opt(&key_path)?,
        read_opt(&names_path)?,
    ) {
        (Some(c), Some(k), Some(n)) if n == wanted_names.as_bytes() && !expires_soon(&c) => Some((
            String::from_utf8_lossy(&c).into_owned(),
            Zeroizing::new(String::from_utf8_lossy(&k).into_owned()),
        )),
        _ => None,
    };
    let (server_cert_pem, server_key_pem) = match reuse {
        Some(pair) => pair,
        None => {
            let issued = ca.issue_server_cert(hostnames)?;
            write_public(&cert_path, issued.cert.pem.as_bytes())?;
            write_private_atomic(&key_path, issued.key_pem.as_bytes())
                .map_err(|e| ServerError::Io(key_path.clone(), e))?;
            write_public(&names_path, wanted_names.as_bytes())?;
            (issued.cert.pem.clone(), issued.key_pem)
        }
    };

    let relay_dir = data_dir.join("relay");
    let rkey_path = relay_dir.join("receipt-key.der");
    let rcert_path = relay_dir.join("receipt.pem");
    let (receipt_key_pkcs8, receipt_cert_pem) =
        match (read_opt(&rkey_path)?, read_opt(&rcert_path)?) {
            (Some(k), Some(c)) => (Zeroizing::new(k), String::from_utf8_lossy(&c).into_owned()),
            _ => {
                let key = renkei_pki::generate_ed25519_pkcs8()?;
                let public = renkei_pki::ed25519_public_key(&key)?;
                let cert = ca.issue_relay_cert(&public, "Renkei relay")?;
                write_private_atomic(&rkey_path, &key)
                    .map_err(|e| ServerError::Io(rkey_path.clone(), e))?;
                write_public(&rcert_path, cert.pem.as_bytes())?;
                (key, cert.pem)
            }
        };

    Ok(KeyMaterial {
        ca,
        server_cert_pem,
        server_key_pem,
        receipt_key_pkcs8,
        receipt_cert_pem,
        ca_cert_path,
    })
}

/// Whether a PEM certificate expires within 30 days (or cannot be read at all).
fn expires_soon(pem: &[u8]) -> bool {
    let Ok(text) = std::str::from_utf8(pem) else {
        return true;
    };
    let Ok((_, pem)) = x509_parser::pem::parse_x509_pem(text.as_bytes()) else {
        return true;
    };
    let Ok(cert) = pem.parse_x509() else {
        return true;
    };
    let not_after = cert.validity().not_after.timestamp() * 1000;
    not_after - renkei_pki::now_millis() < 30 * renkei_pki::DAY_MS
}
