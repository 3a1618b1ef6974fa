//! A whole file in memory: its original bytes, decoded fields, and edits.
//!
//! Writing back an unchanged file returns the original bytes. After [`CsvFile::set`], only the
//! edited fields are re-encoded; every other byte (NEC/IBM extension characters, quoting
//! style, line endings) is copied as it was.

use std::collections::BTreeMap;

use crate::finding::{Finding, Sink};
use crate::kind::{CsvVersion, FileKind};
use crate::layout::{layout, Layout, Role};
use crate::name::FileName;
use crate::reader::scan;
use crate::write::{encode_field, WriteError};

#[derive(Debug, Clone, Copy)]
struct FieldData {
    raw: (u32, u32),
    text: (u32, u32),
    quoted: bool,
}

#[derive(Debug, Clone, Copy)]
struct RecordData {
    line: u64,
    first: u32,
    count: u32,
    field_count: usize,
}

/// A CSV file split into records, keeping the original bytes.
#[derive(Debug, Clone)]
pub struct CsvFile {
    bytes: Vec<u8>,
    text: String,
    fields: Vec<FieldData>,
    records: Vec<RecordData>,
    edits: BTreeMap<(usize, usize), (String, Vec<u8>)>,
}

impl CsvFile {
    /// Split and decode `bytes`. Byte- and record-level problems are returned as findings
    /// (with `file` as the file name); fields that could not be decoded read as empty.
    pub fn parse(file: &str, bytes: Vec<u8>) -> (CsvFile, Vec<Finding>) {
        let mut sink = Sink::new(file);
        let mut text = String::new();
        let mut fields = Vec::new();
        let mut records = Vec::new();
        scan(&bytes, &mut sink, |r| {
            let first = fields.len() as u32;
            for i in 0..r.len() {
                let f = r.fields[i];
                let start = text.len() as u32;
                text.push_str(r.text(i));
                fields.push(FieldData {
                    raw: (f.start as u32, f.end as u32),
                    text: (start, text.len() as u32),
                    quoted: f.quoted,
                });
            }
            records.push(RecordData {
                line: r.line,
                first,
                count: r.len() as u32,
                field_count: r.field_count,
            });
        });
        (
            CsvFile {
                bytes,
                text,
                fields,
                records,
                edits: BTreeMap::new(),
            },
            sink.finish(),
        )
    }

    /// Number of records.
    pub fn len(&self) -> usize {
        self.records.len()
    }

    /// Whether there are no records.
    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    /// Number of fields of record `r`.
    pub fn width(&self, r: usize) -> usize {
        self.records[r].field_count
    }

    /// First physical line of record `r`.
    pub fn line(&self, r: usize) -> u64 {
        self.records[r].line
    }

    /// Decoded value of field `f` of record `r` (edits included); empty when out of range.
    pub fn get(&self, r: usize, f: usize) -> &str {
        if let Some((s, _)) = self.edits.get(&(r, f)) {
            return s;
        }
        let Some(rec) = self.records.get(r) else {
            return "";
        };
        if f >= rec.count as usize {
            return "";
        }
        let fd = self.fields[rec.first as usize + f];
        &self.text[fd.text.0 as usize..fd.text.1 as usize]
    }

    /// All values of record `r`.
    pub fn record(&self, r: usize) -> Vec<&str> {
        (0..self.records[r].count as usize)
            .map(|f| self.get(r, f))
            .collect()
    }

    /// Replace one field's value. It is encoded now (refusing characters outside MS932);
    /// free text (`quote`) is written in quotes.
    pub fn set(&mut self, r: usize, f: usize, value: &str, quote: bool) -> Result<(), WriteError> {
        let in_range = self
            .records
            .get(r)
            .is_some_and(|rec| f < rec.count as usize);
        if !in_range {
            return Err(WriteError::NoSuchField {
                record: r,
                field: f,
            });
        }
        let mut enc = Vec::new();
        encode_field(value, quote, &mut enc)?;
        self.edits.insert((r, f), (value.to_owned(), enc));
        Ok(())
    }

    /// Whether any field was edited.
    pub fn is_modified(&self) -> bool {
        !self.edits.is_empty()
    }

    /// The file's bytes: the original when unchanged, otherwise the original with only the
    /// edited fields replaced.
    pub fn to_bytes(&self) -> Vec<u8> {
        if self.edits.is_empty() {
            return self.bytes.clone();
        }
        let mut out = Vec::with_capacity(self.bytes.len() + 64);
        let mut pos = 0usize;
        for (&(r, f), (_, enc)) in &self.edits {
            let fd = self.fields[self.records[r].first as usize + f];
            out.extend_from_slice(&self.bytes[pos..fd.raw.0 as usize]);
            out.extend_from_slice(enc);
            pos = fd.raw.1 as usize;
        }
        out.extend_from_slice(&self.bytes[pos..]);
        out
    }

    /// The original bytes as read.
    pub fn original(&self) -> &[u8] {
        &self.bytes
    }

    /// Whether field `f` of record `r` was quoted in the file.
    pub fn was_quoted(&self, r: usize, f: usize) -> bool {
        let rec = self.records[r];
        f < rec.count as usize && self.fields[rec.first as usize + f].quoted
    }
}

/// A file of the standard, read: its name, version, layout and records.
#[derive(Debug, Clone)]
pub struct Document {
    /// File name as given.
    pub file: String,
    /// Parsed name.
    pub name: FileName,
    /// CSV version of the records.
    pub version: CsvVersion,
    /// The layout the records follow.
    pub layout: &'static Layout,
    /// Records.
    pub csv: CsvFile,
}

impl Document {
    /// The file kind.
    pub fn kind(&self) -> FileKind {
        self.name.kind
    }

    /// Value of the item with `role` in record `r` (empty when the layout has no such item).
    pub fn role(&self, r: usize, role: Role) -> &str {
        self.layout.pos(role).map_or("", |p| self.csv.get(r, p))
    }

    /// Replace the value of item `no` (1-based) in record `r`.
    pub fn set_item(&mut self, r: usize, no: u16, value: &str) -> Result<(), WriteError> {
        let idx = usize::from(no)
            .checked_sub(1)
            .ok_or(WriteError::NoSuchField {
                record: r,
                field: 0,
            })?;
        let quote = self
            .layout
            .items
            .get(idx)
            .is_some_and(|i| i.ty == crate::layout::ItemType::Text);
        self.csv.set(r, idx, value, quote)
    }
}

/// Why a file could not be read as a document.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{}", summary(.findings))]
pub struct ReadError {
    /// The errors that prevented reading (validation findings with severity error).
    pub findings: Vec<Finding>,
}

fn summary(f: &[Finding]) -> String {
    f.iter()
        .map(|f| f.to_string())
        .collect::<Vec<_>>()
        .join("\n")
}

/// Read a file of the standard: the name must parse, the bytes must be clean MS932, and the
/// records must follow one layout Renkei has. Use [`crate::validate_file`] for the full list of
/// findings; this only refuses what makes the file unreadable.
pub fn read_file(file: &str, bytes: &[u8]) -> Result<Document, ReadError> {
    let report = crate::validate::validate_file(file, bytes);
    let fatal: Vec<Finding> = report
        .findings
        .iter()
        .filter(|f| {
            use crate::finding::Code::*;
            matches!(
                f.code,
                F001 | F002
                    | F006
                    | F007
                    | F101
                    | F102
                    | F103
                    | F104
                    | F105
                    | F107
                    | F108
                    | F110
                    | F114
                    | F301
                    | F302
                    | F304
            )
        })
        .cloned()
        .collect();
    let (Some(name), Some(version), true) = (report.name.clone(), report.version, fatal.is_empty())
    else {
        let mut findings = fatal;
        if findings.is_empty() {
            findings = report
                .findings
                .into_iter()
                .filter(|f| f.severity == crate::Severity::Error)
                .collect();
        }
        return Err(ReadError { findings });
    };
    let Some(layout) = layout(name.kind, version) else {
        return Err(ReadError {
            findings: report.findings,
        });
    };
    let (csv, _) = CsvFile::parse(file, bytes.to_vec());
    Ok(Document {
        file: file.to_owned(),
        name,
        version,
        layout,
        csv,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unchanged_file_round_trips_and_edits_touch_one_field() {
        let bytes = b"202407,\"\x87\x40\xFB\xFC\",x\r\n1,\"a\"\"b\",2\n".to_vec();
        let (mut f, _) = CsvFile::parse("t", bytes.clone());
        assert_eq!(f.to_bytes(), bytes);
        assert_eq!(f.get(0, 1), "①髙");
        assert_eq!(f.get(1, 1), "a\"b");
        f.set(1, 2, "漢字", false).unwrap();
        let out = f.to_bytes();
        assert_eq!(&out[..18], &bytes[..18]);
        assert!(out.ends_with(b",\x8A\xBF\x8E\x9A\n"));
        assert!(f.set(0, 0, "\u{E000}", false).is_err());
        assert!(f.set(9, 0, "x", false).is_err());
    }
}
