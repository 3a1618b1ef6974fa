//! The Renkei server: configuration, key material, storage selection, and the composition of
//! relay + portal into one process (`renkei server`, `renkei demo`).
//!
//! Everything here returns errors instead of printing or exiting; the `renkei` binary prints.

pub mod config;
pub mod demo;
pub mod demo_file;
pub mod keys;
pub mod run;

pub use run::{start, RunningServer};

use std::path::PathBuf;

/// Errors of starting or running the server.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// Reading or writing a file failed.
    #[error("ファイル {0} を読み書きできません / cannot read or write {0}: {1}")]
    Io(PathBuf, #[source] std::io::Error),
    /// Key material could not be created or loaded.
    #[error("鍵・証明書のエラー / key material: {0}")]
    Pki(#[from] renkei_pki::PkiError),
    /// The configuration is invalid.
    #[error(transparent)]
    Config(#[from] config::ConfigError),
    /// The metadata or payload store could not be opened.
    #[error("保存先を開けません / storage: {0}")]
    Storage(String),
    /// The server could not be assembled (relay key, inconsistent policy).
    #[error("サーバーを準備できません / cannot set up the server: {0}")]
    Setup(String),
    /// The demo could not be set up.
    #[error("デモの準備に失敗しました（{what}）/ demo bootstrap failed ({what}): {detail}")]
    Demo {
        /// The step that failed.
        what: String,
        /// Why.
        detail: String,
    },
    /// A server task (listener, retention job) stopped with an error.
    #[error("サーバーの処理が停止しました / a server task failed: {0}")]
    Task(String),
    /// A listener could not be bound.
    #[error("{addr} で待ち受けできません / cannot listen on {addr}: {source}")]
    Bind {
        /// Address.
        addr: String,
        /// Cause.
        source: std::io::Error,
    },
}
