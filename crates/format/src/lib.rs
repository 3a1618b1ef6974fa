//! ケアプラン標準仕様 CSV: read, validate, write, render and diff the files care offices
//! exchange (第1表–第3表, 第6表 予定/実績, 第7表, 利用者補足情報 and their delete files).
//!
//! The main pieces:
//!
//! - [`FileName`] parses both generations of names (202208 without service kinds, 202407 with
//!   them) into kind, month, route and [`FileSeq`](renkei_ids::FileSeq).
//! - [`validate_file`] checks one file — name, bytes (MS932 only, no 外字), records, items and
//!   the rules between them — and returns a [`Report`] of [`Finding`]s with stable codes.
//!   [`validate_units`] groups reports into 送信単位, checks their combination and keys, and
//!   gives the import order.
//! - [`read_file`] gives a [`Document`] (records decoded, original bytes kept: an unchanged file
//!   writes back byte-identical); [`write_file`] encodes new files and refuses characters
//!   outside MS932.
//! - [`render_html`] draws a file as its printed form; [`diff`] compares two files item by item.
//! - [`sample_unit`] generates valid files of every kind.
//!
//! Layouts are data (`layouts/*.toml`, see [`layout`]); the rules and their sources are in
//! `docs/spec/`.
//!
//! ```
//! use renkei_format::{sample_unit, validate_file, validate_units, FileKind};
//! let (cm, provider) = renkei_format::sample::default_parties();
//! let files = sample_unit(FileKind::Upplan, "202505".parse().unwrap(), &cm, &provider,
//!                         &"20250425090000".parse().unwrap()).unwrap();
//! let reports: Vec<_> = files
//!     .iter()
//!     .map(|(name, bytes)| validate_file(&name.to_string(), bytes))
//!     .collect();
//! assert!(reports.iter().all(|r| r.is_conforming()));
//! let units = validate_units(&reports);
//! assert_eq!(units.units.len(), 1); // UPPLAN + UPSIKYU + UPHOSOKU share one ファイル連番
//! for f in reports.iter().flat_map(|r| &r.findings) {
//!     println!("{f}"); // FILE:LINE:ITEM: CODE: 日本語 / English
//! }
//! ```

pub mod diff;
pub mod document;
pub mod finding;
pub mod kind;
pub mod layout;
pub mod model;
pub mod name;
pub mod reader;
pub mod render;
mod rules;
pub mod sample;
pub mod unit;
pub mod validate;
pub mod write;

pub use diff::{diff, Diff, DiffError};
pub use document::{read_file, CsvFile, Document, ReadError};
pub use finding::{Code, Finding, Severity};
pub use kind::{CsvVersion, FileKind};
pub use name::{FileName, NameGeneration};
pub use render::render_html;
pub use sample::{sample_all, sample_unit, SampleError};
pub use unit::{validate_units, Combination, Unit, UnitsReport};
pub use validate::{validate_file, Report};
pub use write::{write_file, FileData, WriteError};
