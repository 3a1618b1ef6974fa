//! The client's home directory: configuration, CA certificate, keystore and state database.
//!
//! ```text
//! <home>/config.toml     relay and portal URLs, chosen folders (no secrets)
//! <home>/ca.pem          the Renkei CA certificate every other certificate is checked against
//! <home>/keystore.rks    device keys, certificate, remembered credentials (encrypted)
//! <home>/state.db        history, receipts, outbox, favourites, received files (SQLite, WAL)
//! <home>/import/         default import folder for received files
//! ```

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::atomic::write_atomic;
use crate::keystore::{KdfParams, Keystore};
use crate::ClientError;

const CONFIG: &str = "config.toml";
const CA: &str = "ca.pem";
const KEYSTORE: &str = "keystore.rks";
const STATE_DB: &str = "state.db";

/// The settings kept in `config.toml` (nothing secret).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Base URL of the relay (`https://host:port`); `/api/v1` is appended.
    pub relay_url: String,
    /// Base URL of the enrollment portal.
    pub portal_url: String,
    /// Folder received 送信単位 are written into (the care software's import folder).
    #[serde(default)]
    pub import_dir: Option<PathBuf>,
    /// Folder the care software exports into; watched by `renkei client watch`.
    #[serde(default)]
    pub watch_dir: Option<PathBuf>,
    /// Human label of this device, sent at enrollment.
    #[serde(default)]
    pub device_label: Option<String>,
    /// The keystore remembers the login credentials, so unlocking is the only step (the UI
    /// then asks for the passphrase alone). Not a secret: the credentials stay encrypted.
    #[serde(default)]
    pub remember_login: bool,
}

fn check_url(what: &str, url: &str) -> Result<(), ClientError> {
    let ok = (url.starts_with("https://") || url.starts_with("http://")) && url.len() > 8;
    if ok {
        Ok(())
    } else {
        Err(ClientError::Config(format!(
            "{what}: URL は https:// で始めてください / must be an http(s) URL: {url:?}"
        )))
    }
}

/// A client home directory.
#[derive(Debug, Clone)]
pub struct Home {
    dir: PathBuf,
    config: Config,
    ca_pem: String,
}

impl Home {
    /// The per-OS default home: `%APPDATA%\Renkei` on Windows, `~/Library/Application
    /// Support/Renkei` on macOS, `$XDG_DATA_HOME/renkei` or `~/.local/share/renkei` elsewhere.
    pub fn default_dir() -> Option<PathBuf> {
        let env = |k: &str| {
            std::env::var_os(k)
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
        };
        if cfg!(windows) {
            env("APPDATA").map(|d| d.join("Renkei"))
        } else if cfg!(target_os = "macos") {
            env("HOME").map(|h| h.join("Library/Application Support/Renkei"))
        } else {
            env("XDG_DATA_HOME")
                .map(|d| d.join("renkei"))
                .or_else(|| env("HOME").map(|h| h.join(".local/share/renkei")))
        }
    }

    /// Set up a new home in `dir`: write the configuration and CA certificate, generate the
    /// device keys and lock them in a keystore with `passphrase`. Refuses a directory that is
    /// already a home. Returns the home and the unlocked keystore.
    pub fn create(
        dir: &Path,
        relay_url: &str,
        portal_url: &str,
        ca_pem: &str,
        passphrase: &str,
    ) -> Result<(Home, Keystore), ClientError> {
        Self::create_with(
            dir,
            relay_url,
            portal_url,
            ca_pem,
            passphrase,
            KdfParams::default(),
        )
    }

    /// [`create`](Self::create) with explicit key-derivation costs.
    pub fn create_with(
        dir: &Path,
        relay_url: &str,
        portal_url: &str,
        ca_pem: &str,
        passphrase: &str,
        kdf: KdfParams,
    ) -> Result<(Home, Keystore), ClientError> {
        check_url("relay_url", relay_url)?;
        check_url("portal_url", portal_url)?;
        renkei_pki::parse_ca_cert(ca_pem)?;
        if dir.join(CONFIG).exists() || dir.join(KEYSTORE).exists() {
            return Err(ClientError::AlreadyInitialised(dir.display().to_string()));
        }
        std::fs::create_dir_all(dir).map_err(|e| ClientError::io(dir, e))?;
        let keystore = Keystore::new(renkei_pki::DeviceKeys::generate()?, passphrase, kdf)?;
        let config = Config {
            relay_url: relay_url.trim_end_matches('/').to_owned(),
            portal_url: portal_url.trim_end_matches('/').to_owned(),
            import_dir: None,
            watch_dir: None,
            device_label: None,
            remember_login: false,
        };
        let home = Home {
            dir: dir.to_owned(),
            config,
            ca_pem: ca_pem.to_owned(),
        };
        write_atomic(&dir.join(CA), ca_pem.as_bytes())?;
        keystore.save(&home.keystore_path())?;
        // The config goes last: its presence is what marks the home as initialised.
        home.save_config()?;
        Ok((home, keystore))
    }

    /// Open an existing home.
    pub fn open(dir: &Path) -> Result<Home, ClientError> {
        let cfg_path = dir.join(CONFIG);
        if !cfg_path.exists() {
            return Err(ClientError::NotInitialised(dir.display().to_string()));
        }
        let text = std::fs::read_to_string(&cfg_path).map_err(|e| ClientError::io(&cfg_path, e))?;
        let config: Config = toml::from_str(&text)
            .map_err(|e| ClientError::Config(format!("{}: {e}", cfg_path.display())))?;
        check_url("relay_url", &config.relay_url)?;
        check_url("portal_url", &config.portal_url)?;
        let ca_path = dir.join(CA);
        let ca_pem = std::fs::read_to_string(&ca_path).map_err(|e| ClientError::io(&ca_path, e))?;
        renkei_pki::parse_ca_cert(&ca_pem)?;
        Ok(Home {
            dir: dir.to_owned(),
            config,
            ca_pem,
        })
    }

    /// Unlock the keystore.
    pub fn unlock(&self, passphrase: &str) -> Result<Keystore, ClientError> {
        Keystore::open(&self.keystore_path(), passphrase)
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Change the configuration and write it.
    pub fn update_config(&mut self, f: impl FnOnce(&mut Config)) -> Result<(), ClientError> {
        let mut next = self.config.clone();
        f(&mut next);
        check_url("relay_url", &next.relay_url)?;
        check_url("portal_url", &next.portal_url)?;
        self.config = next;
        self.save_config()
    }

    fn save_config(&self) -> Result<(), ClientError> {
        let text =
            toml::to_string_pretty(&self.config).map_err(|e| ClientError::Config(e.to_string()))?;
        write_atomic(&self.dir.join(CONFIG), text.as_bytes())
    }

    /// The CA certificate (PEM).
    pub fn ca_pem(&self) -> &str {
        &self.ca_pem
    }

    /// Path of the keystore file.
    pub fn keystore_path(&self) -> PathBuf {
        self.dir.join(KEYSTORE)
    }

    /// Path of the state database.
    pub fn state_db_path(&self) -> PathBuf {
        self.dir.join(STATE_DB)
    }

    /// Where received units are written: the configured folder or `<home>/import`.
    pub fn import_dir(&self) -> PathBuf {
        self.config
            .import_dir
            .clone()
            .unwrap_or_else(|| self.dir.join("import"))
    }

    /// The watched export folder, if configured.
    pub fn watch_dir(&self) -> Option<PathBuf> {
        self.config.watch_dir.clone()
    }
}
