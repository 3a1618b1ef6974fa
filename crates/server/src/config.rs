//! Server configuration: defaults → TOML file → `RENKEI_*` environment → command-line flags.
//!
//! Every key has a default (see [`ServerConfig::default`] and docs/CONFIGURATION.md, which a test
//! keeps in step with this file). Environment variables are named `RENKEI_<SECTION>_<KEY>` in
//! upper case, e.g. `RENKEI_STORAGE_DATABASE_URL`; any of them may instead be given as
//! `RENKEI_<SECTION>_<KEY>_FILE` naming a file that holds the value (for secrets). Unknown keys in
//! the file and unknown `RENKEI_*` variables are reported as warnings, never silently ignored.

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// Errors while loading the configuration.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("設定ファイル {path} を読めません / cannot read config file {path}: {source}")]
    Read {
        /// Path.
        path: PathBuf,
        /// Cause.
        source: std::io::Error,
    },
    /// The file or an environment value is not valid.
    #[error("設定が正しくありません / invalid configuration: {0}")]
    Invalid(String),
}

/// The whole server configuration.
#[derive(Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ServerConfig {
    /// Listeners and data directory.
    pub server: ServerSection,
    /// Metadata and payload storage.
    pub storage: StorageSection,
    /// Relay behaviour.
    pub relay: RelaySection,
    /// Portal behaviour.
    pub portal: PortalSection,
    /// Logging.
    pub log: LogSection,
}

/// `[server]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ServerSection {
    /// Where the portal (and `/healthz`) listens.
    pub portal_listen: SocketAddr,
    /// Serve the portal over TLS (with the server certificate). Off only for loopback demos.
    pub portal_tls: bool,
    /// Where the relay API listens (always TLS with client certificates).
    pub relay_listen: SocketAddr,
    /// Host names and IP addresses the server certificate is issued for.
    pub hostnames: Vec<String>,
    /// Directory for the CA, the server keys and (by default) the database and payloads.
    pub data_dir: PathBuf,
    /// Externally visible base URL of the portal (defaults to http(s)://portal_listen).
    pub portal_public_url: String,
    /// Externally visible base URL of the relay (defaults to https://relay_listen).
    pub relay_public_url: String,
}

/// `[storage]`
#[derive(Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct StorageSection {
    /// `sqlite://PATH` or `postgres://…`; empty = `sqlite://<data_dir>/renkei.db`.
    pub database_url: String,
    /// A directory path, `file://…`, or `s3://bucket?endpoint=…&region=…`; empty = `<data_dir>/blobs`.
    pub blob_url: String,
}

impl fmt::Debug for StorageSection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StorageSection")
            .field("database_url", &redact_url(&self.database_url))
            .field("blob_url", &redact_url(&self.blob_url))
            .finish()
    }
}

/// Hide the password part of a URL (`scheme://user:secret@host` → `scheme://user:***@host`).
pub fn redact_url(url: &str) -> String {
    if let Some((scheme, rest)) = url.split_once("://") {
        if let Some((cred, host)) = rest.split_once('@') {
            if let Some((user, _)) = cred.split_once(':') {
                return format!("{scheme}://{user}:***@{host}");
            }
        }
    }
    url.to_owned()
}

/// `[relay]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RelaySection {
    /// Largest accepted file (one CSV) in bytes.
    pub max_file_bytes: u64,
    /// Days until a message not acknowledged (unread, or downloaded without an ack) expires.
    pub unread_expiry_days: u32,
    /// Days after which a message and its payload are deleted (evidence metadata is kept).
    pub delete_after_days: u32,
    /// Days before expiry when both sides are reminded.
    pub reminder_days: u32,
    /// Minutes a relay session lives from its login (clients with remembered credentials log in
    /// again by themselves).
    pub session_minutes: u32,
    /// How often the retention job runs, in seconds.
    pub retention_interval_secs: u64,
    /// Minutes after which a stored payload that no message refers to is deleted.
    pub orphan_grace_minutes: u32,
    /// Uploads received at the same time (more wait for a slot).
    pub max_concurrent_uploads: u32,
    /// Milliseconds between re-reads of the store by a waiting inbox listing, besides the
    /// wake-ups of sends (same node directly, other nodes by PostgreSQL LISTEN/NOTIFY): the
    /// longest a lost wake-up delays a message.
    pub inbox_recheck_ms: u64,
}

/// `[portal]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct PortalSection {
    /// Client installations allowed per office number (the national system allows one).
    pub max_devices_per_office: u32,
    /// Failed logins before a temporary lockout.
    pub lockout_after_failures: u32,
    /// Lockout duration in minutes.
    pub lockout_minutes: u32,
    /// Directory with client builds to offer for download (empty = the running binary).
    pub client_builds_dir: String,
}

/// `[log]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct LogSection {
    /// `text` or `json`.
    pub format: String,
    /// A tracing filter, e.g. `info` or `renkei_relay=debug,info`.
    pub level: String,
}

impl Default for ServerSection {
    fn default() -> Self {
        Self {
            portal_listen: "127.0.0.1:8080".parse().expect("valid"),
            portal_tls: true,
            relay_listen: "127.0.0.1:8443".parse().expect("valid"),
            hostnames: vec!["localhost".into(), "127.0.0.1".into()],
            data_dir: PathBuf::from("renkei-data"),
            portal_public_url: String::new(),
            relay_public_url: String::new(),
        }
    }
}

impl Default for RelaySection {
    fn default() -> Self {
        Self {
            max_file_bytes: 20 * 1024 * 1024,
            unread_expiry_days: 30,
            delete_after_days: 400,
            reminder_days: 7,
            session_minutes: 30,
            retention_interval_secs: 3600,
            orphan_grace_minutes: 60,
            max_concurrent_uploads: 64,
            inbox_recheck_ms: 2000,
        }
    }
}

impl Default for PortalSection {
    fn default() -> Self {
        Self {
            max_devices_per_office: 1,
            lockout_after_failures: 5,
            lockout_minutes: 15,
            client_builds_dir: String::new(),
        }
    }
}

impl Default for LogSection {
    fn default() -> Self {
        Self {
            format: "text".into(),
            level: "info".into(),
        }
    }
}

impl fmt::Debug for ServerConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerConfig")
            .field("server", &self.server)
            .field("storage", &self.storage)
            .field("relay", &self.relay)
            .field("portal", &self.portal)
            .field("log", &self.log)
            .finish()
    }
}

impl ServerConfig {
    /// The metadata database URL, with the data-directory default applied.
    pub fn database_url(&self) -> String {
        if self.storage.database_url.is_empty() {
            format!(
                "sqlite://{}",
                self.server.data_dir.join("renkei.db").display()
            )
        } else {
            self.storage.database_url.clone()
        }
    }
    /// The payload store URL, with the data-directory default applied.
    pub fn blob_url(&self) -> String {
        if self.storage.blob_url.is_empty() {
            self.server.data_dir.join("blobs").display().to_string()
        } else {
            self.storage.blob_url.clone()
        }
    }
    /// Public portal URL (ends without a slash).
    pub fn portal_url(&self) -> String {
        if !self.server.portal_public_url.is_empty() {
            return self
                .server
                .portal_public_url
                .trim_end_matches('/')
                .to_owned();
        }
        let scheme = if self.server.portal_tls {
            "https"
        } else {
            "http"
        };
        format!("{scheme}://{}", self.server.portal_listen)
    }
    /// Public relay URL (ends without a slash).
    pub fn relay_url(&self) -> String {
        if !self.server.relay_public_url.is_empty() {
            return self
                .server
                .relay_public_url
                .trim_end_matches('/')
                .to_owned();
        }
        format!("https://{}", self.server.relay_listen)
    }
}

/// The result of loading: the configuration plus warnings to show (unknown keys, …).
#[derive(Debug)]
pub struct Loaded {
    /// Effective configuration.
    pub config: ServerConfig,
    /// Human-readable warnings (Japanese / English).
    pub warnings: Vec<String>,
}

/// Load: defaults, then `file` (if any), then `env` (`RENKEI_*` pairs), then `flags`
/// (`section.key` = value pairs from the command line, already as strings).
pub fn load(
    file: Option<&Path>,
    env: impl IntoIterator<Item = (String, String)>,
    flags: &[(&str, String)],
) -> Result<Loaded, ConfigError> {
    let mut warnings = Vec::new();
    let mut value = toml::Value::try_from(ServerConfig::default())
        .map_err(|e| ConfigError::Invalid(e.to_string()))?;
    let known = value.clone();

    if let Some(path) = file {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        let from_file: toml::Value = text
            .parse::<toml::Table>()
            .map(toml::Value::Table)
            .map_err(|e| ConfigError::Invalid(format!("{}: {e}", path.display())))?;
        merge_file(&mut value, &from_file, &known, "", &mut warnings);
    }

    let env: Vec<(String, String)> = env
        .into_iter()
        .filter(|(k, _)| k.starts_with("RENKEI_"))
        .collect();
    let mut used_env = std::collections::BTreeSet::new();
    for (section, table) in known.as_table().expect("table") {
        let Some(table) = table.as_table() else {
            continue;
        };
        for (key, default) in table {
            let var = format!("RENKEI_{}_{}", section.to_uppercase(), key.to_uppercase());
            let file_var = format!("{var}_FILE");
            let raw = if let Some((_, v)) = env.iter().find(|(k, _)| *k == var) {
                used_env.insert(var.clone());
                Some(v.clone())
            } else if let Some((_, p)) = env.iter().find(|(k, _)| *k == file_var) {
                used_env.insert(file_var.clone());
                let v = std::fs::read_to_string(p).map_err(|source| ConfigError::Read {
                    path: PathBuf::from(p),
                    source,
                })?;
                Some(v.trim_end_matches(['\n', '\r']).to_owned())
            } else {
                None
            };
            if let Some(raw) = raw {
                let parsed = parse_like(default, &raw)
                    .map_err(|e| ConfigError::Invalid(format!("{var}={raw:?}: {e}")))?;
                value[section.as_str()][key.as_str()] = parsed;
            }
        }
    }
    for (k, _) in &env {
        if !used_env.contains(k)
            && !IGNORED_ENV.contains(&k.as_str())
            && !k.starts_with("RENKEI_TEST_")
        {
            warnings.push(format!(
                "不明な環境変数 {k} を無視しました / unknown environment variable {k} ignored"
            ));
        }
    }

    for (path, raw) in flags {
        let (section, key) = path
            .split_once('.')
            .ok_or_else(|| ConfigError::Invalid(format!("bad flag key {path}")))?;
        let default = known
            .get(section)
            .and_then(|t| t.get(key))
            .ok_or_else(|| ConfigError::Invalid(format!("unknown setting {path}")))?;
        let parsed = parse_like(default, raw)
            .map_err(|e| ConfigError::Invalid(format!("{path}={raw:?}: {e}")))?;
        value[section][key] = parsed;
    }

    let config: ServerConfig = value
        .try_into()
        .map_err(|e: toml::de::Error| ConfigError::Invalid(e.to_string()))?;
    if !matches!(config.log.format.as_str(), "text" | "json") {
        return Err(ConfigError::Invalid(format!(
            "log.format は text か json です / log.format must be text or json (got {:?})",
            config.log.format
        )));
    }
    Ok(Loaded { config, warnings })
}

/// Environment variables that belong to Renkei but are not server settings.
const IGNORED_ENV: &[&str] = &[
    "RENKEI_LOG",
    "RENKEI_HOME",
    "RENKEI_PASSPHRASE",
    "RENKEI_PASSPHRASE_FILE",
    "RENKEI_CONFIG",
    "RENKEI_UPDATE_OPENAPI",
];

fn merge_file(
    into: &mut toml::Value,
    from: &toml::Value,
    known: &toml::Value,
    prefix: &str,
    warnings: &mut Vec<String>,
) {
    let (Some(from), Some(known_t)) = (from.as_table(), known.as_table()) else {
        return;
    };
    for (k, v) in from {
        let path = if prefix.is_empty() {
            k.clone()
        } else {
            format!("{prefix}.{k}")
        };
        match known_t.get(k) {
            None => warnings.push(format!(
                "不明な設定キー {path} を無視しました / unknown setting {path} ignored"
            )),
            Some(kv) if kv.is_table() && v.is_table() => {
                merge_file(&mut into[k.as_str()], v, kv, &path, warnings)
            }
            Some(_) => into[k.as_str()] = v.clone(),
        }
    }
}

fn parse_like(default: &toml::Value, raw: &str) -> Result<toml::Value, String> {
    Ok(match default {
        toml::Value::String(_) => toml::Value::String(raw.to_owned()),
        toml::Value::Integer(_) => {
            toml::Value::Integer(raw.trim().parse().map_err(|e| format!("{e}"))?)
        }
        toml::Value::Boolean(_) => toml::Value::Boolean(match raw.trim() {
            "1" | "true" | "yes" | "on" => true,
            "0" | "false" | "no" | "off" => false,
            other => return Err(format!("not a boolean: {other}")),
        }),
        toml::Value::Array(_) => toml::Value::Array(
            raw.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(|s| toml::Value::String(s.to_owned()))
                .collect(),
        ),
        _ => return Err("unsupported setting type".into()),
    })
}

/// Every setting as `(section.key, default value as TOML)`: the source of docs/CONFIGURATION.md.
pub fn settings_with_defaults() -> Vec<(String, String)> {
    let value = toml::Value::try_from(ServerConfig::default()).expect("serialisable");
    let mut out = Vec::new();
    for (section, table) in value.as_table().expect("table") {
        for (key, v) in table.as_table().expect("table") {
            out.push((format!("{section}.{key}"), v.to_string()));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn precedence_defaults_file_env_flags() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("renkei.toml");
        std::fs::write(
            &file,
            "[relay]\nmax_file_bytes = 1000\nunread_expiry_days = 10\n[log]\nlevel = \"debug\"\nbogus = 1\n[nope]\nx = 1\n",
        )
        .unwrap();
        let loaded = load(
            Some(&file),
            env(&[
                ("RENKEI_RELAY_UNREAD_EXPIRY_DAYS", "20"),
                ("RENKEI_SERVER_HOSTNAMES", "a.example, b.example"),
                ("RENKEI_TYPO", "1"),
            ]),
            &[("log.level", "warn".to_string())],
        )
        .unwrap();
        let c = &loaded.config;
        assert_eq!(c.relay.max_file_bytes, 1000); // file
        assert_eq!(c.relay.unread_expiry_days, 20); // env beats file
        assert_eq!(c.log.level, "warn"); // flag beats file
        assert_eq!(c.server.hostnames, vec!["a.example", "b.example"]);
        assert_eq!(c.relay.session_minutes, 30); // default
        let w = loaded.warnings.join("\n");
        assert!(
            w.contains("log.bogus") && w.contains("nope") && w.contains("RENKEI_TYPO"),
            "{w}"
        );
    }

    #[test]
    fn secrets_from_files_and_redaction() {
        let dir = tempfile::tempdir().unwrap();
        let secret = dir.path().join("db");
        std::fs::write(&secret, "postgres://renkei:hunter2@db/renkei\n").unwrap();
        let loaded = load(
            None,
            env(&[("RENKEI_STORAGE_DATABASE_URL_FILE", secret.to_str().unwrap())]),
            &[],
        )
        .unwrap();
        assert_eq!(
            loaded.config.database_url(),
            "postgres://renkei:hunter2@db/renkei"
        );
        let dbg = format!("{:?}", loaded.config);
        assert!(!dbg.contains("hunter2"), "{dbg}");
        assert!(dbg.contains("renkei:***@db"), "{dbg}");
    }

    #[test]
    fn bad_values_are_errors() {
        assert!(load(None, env(&[("RENKEI_RELAY_MAX_FILE_BYTES", "lots")]), &[]).is_err());
        assert!(load(None, env(&[("RENKEI_SERVER_PORTAL_TLS", "maybe")]), &[]).is_err());
        assert!(load(None, env(&[("RENKEI_LOG_FORMAT", "xml")]), &[]).is_err());
        assert!(load(None, Vec::new(), &[("nope.key", "1".into())]).is_err());
    }

    #[test]
    fn defaults_apply_data_dir() {
        let c = ServerConfig::default();
        assert_eq!(c.database_url(), "sqlite://renkei-data/renkei.db");
        assert_eq!(c.blob_url(), "renkei-data/blobs");
        assert_eq!(c.relay_url(), "https://127.0.0.1:8443");
    }

    #[test]
    fn configuration_doc_lists_every_setting() {
        let doc = include_str!("../../../docs/CONFIGURATION.md");
        for (key, default) in settings_with_defaults() {
            let row = format!("| `{key}` | `{default}` |");
            assert!(
                doc.contains(&row),
                "docs/CONFIGURATION.md lacks the row starting {row}"
            );
        }
    }
}
