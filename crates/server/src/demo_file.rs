//! `DIR/demo.json`: the demo's credentials and URLs, a stable interface for scripts.

use std::path::Path;

use serde::{Deserialize, Serialize};

/// The whole file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DemoFile {
    /// Portal base URL (also serves `/healthz`).
    pub portal_url: String,
    /// Relay base URL (TLS with client certificates).
    pub relay_url: String,
    /// Path of the demo CA certificate (PEM).
    pub ca_cert: String,
    /// The demo operator (国保連).
    pub operator: DemoOperator,
    /// The two demo offices.
    pub offices: Vec<DemoOffice>,
}

/// Operator login.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DemoOperator {
    /// Login name.
    pub login: String,
    /// Password.
    pub password: String,
}

/// One demo office, fully enrolled.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DemoOffice {
    /// 介護保険事業所番号.
    pub office_number: String,
    /// 事業所名.
    pub name: String,
    /// サービス種類コード (43 = 居宅介護支援, 11 = 訪問介護).
    pub kind: String,
    /// 介護電子請求用ユーザID.
    pub kj_id: String,
    /// Its password (already changed from the temporary one).
    pub kj_password: String,
    /// Personal user ID (c…).
    pub user_id: String,
    /// Its password.
    pub user_password: String,
    /// The office's client UI, with the per-launch secret.
    pub client_url: String,
    /// The office's client home (`renkei client --home …`).
    pub client_home: String,
}

impl DemoFile {
    /// Read `path` if it exists.
    pub fn load(path: &Path) -> std::io::Result<Option<Self>> {
        match std::fs::read(path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Write atomically (temp file, fsync, rename), readable by the owner only.
    pub fn save(&self, path: &Path) -> std::io::Result<()> {
        let json = serde_json::to_vec_pretty(self).map_err(std::io::Error::other)?;
        write_private_atomic(path, &json)
    }
}

/// Write `bytes` to `path` atomically with mode 0600 on Unix.
pub fn write_private_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let tmp = dir.join(format!(
        ".{}.tmp",
        path.file_name().and_then(|n| n.to_str()).unwrap_or("file")
    ));
    {
        let mut opts = std::fs::OpenOptions::new();
        opts.write(true).create(true).truncate(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
        let mut f = opts.open(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, path)?;
    #[cfg(unix)]
    std::fs::File::open(dir)?.sync_all()?;
    Ok(())
}
