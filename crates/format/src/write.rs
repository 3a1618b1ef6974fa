//! Writing files of the standard: MS932, CRLF, free text in quotes.

use encoding_rs::SHIFT_JIS;

use crate::kind::CsvVersion;
use crate::layout::{layout, ItemType};
use crate::name::FileName;

/// Why a file or value cannot be written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WriteError {
    /// A character has no MS932 code (or only a 外字 code).
    #[error("「{ch}」（U+{code:04X}）はMS932（Shift_JIS）で表せないため書き出せません / {ch:?} (U+{code:04X}) has no MS932 code and cannot be written")]
    NotMs932 {
        /// The character.
        ch: char,
        /// Its code point.
        code: u32,
    },
    /// A control character other than a line break in free text.
    #[error(
        "制御文字（U+{0:04X}）は書き出せません / control character U+{0:04X} cannot be written"
    )]
    Control(u32),
    /// A line break or quote in an item that is not free text.
    #[error("改行・カンマ・引用符はフリーテキスト項目にしか書けません / line breaks, commas and quotes are only allowed in free text items")]
    NeedsQuoting,
    /// The record has the wrong number of values.
    #[error("{record}行目の項目数が {got} です（{expected} 項目のレイアウト） / record {record} has {got} values, the layout has {expected}")]
    Width {
        /// Record index (1-based).
        record: usize,
        /// Values given.
        got: usize,
        /// Items of the layout.
        expected: usize,
    },
    /// No layout for this kind and version.
    #[error("{kind} の {version} レイアウトはありません / no {version} layout for {kind}")]
    NoLayout {
        /// Kind prefix.
        kind: String,
        /// Version.
        version: CsvVersion,
    },
    /// An edit addressed a field that does not exist.
    #[error("{record}番目のレコードに{field}番目の項目はありません / record {record} has no field {field}")]
    NoSuchField {
        /// Record index (0-based).
        record: usize,
        /// Field index (0-based).
        field: usize,
    },
}

/// Encode one value as MS932 and append it (in quotes, with `""` escapes, when `quote`).
pub fn encode_field(value: &str, quote: bool, out: &mut Vec<u8>) -> Result<(), WriteError> {
    for ch in value.chars() {
        let c = ch as u32;
        if (0xE000..=0xF8FF).contains(&c) {
            // The WHATWG encoder maps the private use area to 外字 rows F0–F9: refuse.
            return Err(WriteError::NotMs932 { ch, code: c });
        }
        if ch.is_control() && !(quote && matches!(ch, '\r' | '\n' | '\t')) && ch != '\t' {
            return Err(WriteError::Control(c));
        }
        if !quote && matches!(ch, ',' | '"' | '\r' | '\n') {
            return Err(WriteError::NeedsQuoting);
        }
    }
    let (bytes, _, had_errors) = SHIFT_JIS.encode(value);
    if had_errors {
        let ch = value
            .chars()
            .find(|c| SHIFT_JIS.encode(c.encode_utf8(&mut [0; 4])).2)
            .unwrap_or('?');
        return Err(WriteError::NotMs932 {
            ch,
            code: ch as u32,
        });
    }
    // Characters the encoder folds onto another (¥ → \, ‾ → ~) would change on reading back.
    let (back, _) = SHIFT_JIS.decode_without_bom_handling(&bytes);
    if back != value {
        let ch = value
            .chars()
            .zip(back.chars())
            .find(|(a, b)| a != b)
            .map_or('?', |(a, _)| a);
        return Err(WriteError::NotMs932 {
            ch,
            code: ch as u32,
        });
    }
    if quote {
        out.push(b'"');
        for &b in bytes.iter() {
            if b == b'"' {
                out.push(b'"');
            }
            out.push(b);
        }
        out.push(b'"');
    } else {
        out.extend_from_slice(&bytes);
    }
    Ok(())
}

/// A file to write: its name, CSV version and records (values in layout order, as text).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileData {
    /// The file name.
    pub name: FileName,
    /// CSV version (decides the layout).
    pub version: CsvVersion,
    /// Records; each has exactly the layout's number of values.
    pub records: Vec<Vec<String>>,
}

/// Encode a file: MS932, CRLF after every record, free-text items in quotes.
pub fn write_file(data: &FileData) -> Result<Vec<u8>, WriteError> {
    let l = layout(data.name.kind, data.version).ok_or_else(|| WriteError::NoLayout {
        kind: data.name.kind.prefix().to_owned(),
        version: data.version,
    })?;
    let mut out = Vec::new();
    for (i, rec) in data.records.iter().enumerate() {
        if rec.len() != l.width() {
            return Err(WriteError::Width {
                record: i + 1,
                got: rec.len(),
                expected: l.width(),
            });
        }
        for (j, (v, item)) in rec.iter().zip(&l.items).enumerate() {
            if j > 0 {
                out.push(b',');
            }
            encode_field(v, item.ty == ItemType::Text, &mut out)?;
        }
        out.extend_from_slice(b"\r\n");
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_what_ms932_cannot_hold() {
        let mut v = Vec::new();
        assert!(encode_field("髙橋①", true, &mut v).is_ok());
        assert_eq!(v, b"\"\xFB\xFC\x8B\xB4\x87\x40\"");
        for bad in ["😀", "\u{E000}", "¥", "한"] {
            assert!(
                matches!(
                    encode_field(bad, true, &mut Vec::new()),
                    Err(WriteError::NotMs932 { .. })
                ),
                "{bad}"
            );
        }
        assert_eq!(
            encode_field("a,b", false, &mut Vec::new()),
            Err(WriteError::NeedsQuoting)
        );
        let mut q = Vec::new();
        encode_field("say \"hi\",\r\nok", true, &mut q).unwrap();
        assert_eq!(q, b"\"say \"\"hi\"\",\r\nok\"");
    }
}
