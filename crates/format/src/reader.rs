//! Splitting raw bytes into records and fields, and decoding fields from MS932.
//!
//! The splitter works on bytes: no MS932 trail byte is `,` `"` CR or LF, so fields can be cut
//! before decoding, and each field keeps the exact byte range it came from. Decoding uses
//! encoding_rs's `SHIFT_JIS` (the WHATWG encoding, i.e. windows-31j / MS932) one field at a
//! time, after a byte scan that names 外字 (lead bytes F0–F9) and stray bytes precisely.
//!
//! Memory stays bounded: [`scan`] streams records through a callback with buffers reused per
//! record, stores at most [`MAX_FIELDS`] fields of any one record, and the findings sink caps
//! each code.

use encoding_rs::{DecoderResult, SHIFT_JIS};

use crate::finding::{Code, Sink};

/// Fields kept per record; wider records are counted, not stored (the widest layout has 63).
pub const MAX_FIELDS: usize = 256;
/// Files larger than this are refused (offsets are kept in `u32`).
pub const MAX_FILE_BYTES: usize = 1 << 31;

/// How a record ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Terminator {
    /// `\r\n`, as the standard's examples and all known software write.
    CrLf,
    /// `\n` only.
    Lf,
    /// `\r` only.
    Cr,
    /// End of file without a line ending.
    Eof,
}

/// Byte range of one field as it stands in the file (quotes included).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RawField {
    /// First byte.
    pub start: usize,
    /// One past the last byte.
    pub end: usize,
    /// Whether the field was enclosed in `"`.
    pub quoted: bool,
    /// Whether the splitter saw only printable ASCII in it (unquoted fields only): such a field
    /// needs no MS932 check.
    pub plain: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum QuoteProblem {
    Unterminated,
    Misplaced,
}

/// One record as the splitter found it.
#[derive(Debug, Clone, Copy)]
struct RawRecord {
    line: u64,
    start: usize,
    end: usize,
    term: Terminator,
    term_end: usize,
    field_count: usize,
    quote: Option<QuoteProblem>,
}

/// Byte classes for splitting: 1 = separator (`,` CR LF), 2 = quote, 3 = not printable ASCII
/// (a field holding one needs the MS932 check), 0 = printable ASCII.
const SPECIAL: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut i = 0;
    while i < 256 {
        if i < 0x20 || i >= 0x7F {
            t[i] = 3;
        }
        i += 1;
    }
    t[b',' as usize] = 1;
    t[b'\r' as usize] = 1;
    t[b'\n' as usize] = 1;
    t[b'"' as usize] = 2;
    t
};

/// Byte classes for MS932 checking: 0 = printable ASCII, 1 = TAB, 2 = CR/LF, 3 = other control,
/// 4 = half-width katakana, 5 = lead byte, 6 = 外字 lead byte, 7 = never valid.
const CLASS: [u8; 256] = {
    let mut t = [7u8; 256];
    let mut i = 0;
    while i < 256 {
        t[i] = match i {
            0x09 => 1,
            0x0A | 0x0D => 2,
            0x00..=0x1F | 0x7F => 3,
            0x20..=0x7E => 0,
            0xA1..=0xDF => 4,
            0x81..=0x9F | 0xE0..=0xEF | 0xFA..=0xFC => 5,
            0xF0..=0xF9 => 6,
            _ => 7,
        };
        i += 1;
    }
    t
};

const LO: u64 = 0x0101_0101_0101_0101;
const HI: u64 = 0x8080_8080_8080_8080;

/// High bit set in each byte of `x` that is below `n` (`n` ≤ 0x80). Bytes above the lowest
/// such byte may be flagged wrongly (a borrow runs upwards); the lowest flag is always right.
const fn below(x: u64, n: u8) -> u64 {
    x.wrapping_sub(LO * n as u64) & !x & HI
}

/// High bit set in each byte of `x` equal to `c` (same caveat as [`below`]).
const fn equal(x: u64, c: u8) -> u64 {
    below(x ^ (LO * c as u64), 1)
}

/// Index of the first byte at or after `from` whose [`SPECIAL`] class is not 0, eight bytes
/// at a time: a field of up to eight bytes is found in one step.
fn first_special(b: &[u8], from: usize) -> Option<usize> {
    let mut i = from;
    while let Some(word) = b.get(i..i + 8) {
        let x = u64::from_le_bytes(word.try_into().unwrap_or([0; 8]));
        // Controls (CR and LF among them), 0x7F, bytes ≥ 0x80, `,` and `"`.
        let m = below(x, 0x20) | equal(x, 0x7F) | (x & HI) | equal(x, b',') | equal(x, b'"');
        if m != 0 {
            return Some(i + (m.trailing_zeros() / 8) as usize);
        }
        i += 8;
    }
    b.get(i..)?
        .iter()
        .position(|&c| SPECIAL[usize::from(c)] != 0)
        .map(|j| i + j)
}

struct Splitter<'a> {
    bytes: &'a [u8],
    pos: usize,
    line: u64,
}

fn line_breaks(b: &[u8]) -> u64 {
    let mut n = 0;
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'\n' => n += 1,
            b'\r' if b.get(i + 1) != Some(&b'\n') => n += 1,
            _ => {}
        }
        i += 1;
    }
    n
}

impl<'a> Splitter<'a> {
    fn next(&mut self, fields: &mut Vec<RawField>) -> Option<RawRecord> {
        let b = self.bytes;
        if self.pos >= b.len() {
            return None;
        }
        fields.clear();
        let start = self.pos;
        let line = self.line;
        let mut count = 0usize;
        let mut quote = None;
        let mut pos = self.pos;
        loop {
            let fstart = pos;
            let mut quoted = false;
            if b.get(pos) == Some(&b'"') {
                quoted = true;
                let mut i = pos + 1;
                loop {
                    match b[i..].iter().position(|&c| c == b'"') {
                        None => {
                            // Unterminated: the rest of the file is this field.
                            self.line += line_breaks(&b[pos..]);
                            if count < MAX_FIELDS {
                                fields.push(RawField {
                                    start: fstart,
                                    end: b.len(),
                                    quoted: false,
                                    plain: false,
                                });
                            }
                            self.pos = b.len();
                            return Some(RawRecord {
                                line,
                                start,
                                end: b.len(),
                                term: Terminator::Eof,
                                term_end: b.len(),
                                field_count: count + 1,
                                quote: Some(QuoteProblem::Unterminated),
                            });
                        }
                        Some(j) => {
                            let q = i + j;
                            if b.get(q + 1) == Some(&b'"') {
                                i = q + 2;
                                continue;
                            }
                            self.line += line_breaks(&b[pos..q]);
                            pos = q + 1;
                            break;
                        }
                    }
                }
            }
            // Unquoted part (or what follows a closing quote).
            // One pass: stop at a separator, note a stray quote on the way.
            let mut end = pos;
            let mut stray = false;
            let mut plain = true;
            loop {
                match first_special(b, end) {
                    None => {
                        end = b.len();
                        break;
                    }
                    Some(j) => match SPECIAL[usize::from(b[j])] {
                        1 => {
                            end = j;
                            break;
                        }
                        2 => {
                            stray = true;
                            end = j + 1;
                        }
                        _ => {
                            plain = false;
                            end = j + 1;
                        }
                    },
                }
            }
            // A field is plain only when the scan above covered all of it.
            let plain = plain && !stray && !quoted;
            if stray || (quoted && end > pos) {
                quote.get_or_insert(QuoteProblem::Misplaced);
                quoted = false;
            }
            if count < MAX_FIELDS {
                fields.push(RawField {
                    start: fstart,
                    end,
                    quoted,
                    plain,
                });
            }
            count += 1;
            pos = end;
            match b.get(pos) {
                Some(b',') => pos += 1,
                Some(b'\r') | Some(b'\n') | None => {
                    let (term, len) = match (b.get(pos), b.get(pos + 1)) {
                        (Some(b'\r'), Some(b'\n')) => (Terminator::CrLf, 2),
                        (Some(b'\r'), _) => (Terminator::Cr, 1),
                        (Some(_), _) => (Terminator::Lf, 1),
                        (None, _) => (Terminator::Eof, 0),
                    };
                    if len > 0 {
                        self.line += 1;
                    }
                    self.pos = pos + len;
                    return Some(RawRecord {
                        line,
                        start,
                        end: pos,
                        term,
                        term_end: pos + len,
                        field_count: count,
                        quote,
                    });
                }
                Some(_) => unreachable!("position() stopped on a separator"),
            }
        }
    }
}

/// A field that could not be decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DecodeError {
    /// Bytes that are not MS932 (offset within the field's raw bytes).
    Invalid(usize),
    /// A user-defined character (外字, lead byte F0–F9).
    Gaiji(usize),
    /// A control character.
    Control(usize, u8),
}

/// Decode one field's raw bytes (quotes included when `quoted`) into `out`.
pub fn decode_field(raw: &[u8], quoted: bool, out: &mut String) -> Result<(), DecodeError> {
    let mut ascii = Vec::new();
    if !decode_field_into(raw, quoted, &mut ascii, out)? {
        out.push_str(std::str::from_utf8(&ascii).map_err(|_| DecodeError::Invalid(0))?);
    }
    Ok(())
}

/// [`decode_field`] for [`scan`]: an all-ASCII field is appended to `ascii` (validated as UTF-8
/// once per record, not once per field) and `false` returned; any other field is decoded into
/// `wide` and `true` returned. On error the buffers may hold a partial field.
fn decode_field_into(
    raw: &[u8],
    quoted: bool,
    ascii: &mut Vec<u8>,
    wide: &mut String,
) -> Result<bool, DecodeError> {
    let content = if quoted && raw.len() >= 2 {
        &raw[1..raw.len() - 1]
    } else {
        raw
    };
    if check_bytes(content, quoted)? {
        if quoted && content.contains(&b'"') {
            unescape_quotes(content, ascii);
        } else {
            ascii.extend_from_slice(content);
        }
        return Ok(false);
    }
    let unescaped;
    let bytes = if quoted && content.contains(&b'"') {
        // Safe at byte level: no MS932 trail byte is 0x22.
        let mut v = Vec::with_capacity(content.len());
        unescape_quotes(content, &mut v);
        unescaped = v;
        &unescaped[..]
    } else {
        content
    };
    let mut dec = SHIFT_JIS.new_decoder_without_bom_handling();
    let need = dec
        .max_utf8_buffer_length_without_replacement(bytes.len())
        .unwrap_or(bytes.len() * 3);
    wide.reserve(need);
    let (res, read) = dec.decode_to_string_without_replacement(bytes, wide, true);
    match res {
        DecoderResult::InputEmpty => Ok(true),
        DecoderResult::Malformed(bad, _) => {
            Err(DecodeError::Invalid(read.saturating_sub(usize::from(bad))))
        }
        DecoderResult::OutputFull => Err(DecodeError::Invalid(read)),
    }
}

/// Copy `content` to `out`, turning each `""` into `"`.
fn unescape_quotes(content: &[u8], out: &mut Vec<u8>) {
    let mut i = 0;
    while i < content.len() {
        out.push(content[i]);
        i += if content[i] == b'"' && content.get(i + 1) == Some(&b'"') {
            2
        } else {
            1
        };
    }
}

/// Structural MS932 scan: control characters, stray single bytes, 外字 lead bytes.
/// Returns whether all bytes are ASCII.
fn check_bytes(b: &[u8], allow_newlines: bool) -> Result<bool, DecodeError> {
    // Common case first: printable ASCII only (a loop the compiler vectorises).
    if b.iter().all(|&c| (0x20..0x7F).contains(&c)) {
        return Ok(true);
    }
    let mut i = 0;
    let mut ascii = true;
    while i < b.len() {
        let c = b[i];
        match CLASS[usize::from(c)] {
            0 | 1 => i += 1,
            2 if allow_newlines => i += 1,
            2 | 3 => return Err(DecodeError::Control(i, c)),
            4 => {
                ascii = false;
                i += 1;
            }
            5 => {
                ascii = false;
                match b.get(i + 1) {
                    Some(0x40..=0x7E | 0x80..=0xFC) => i += 2,
                    _ => return Err(DecodeError::Invalid(i)),
                }
            }
            6 => return Err(DecodeError::Gaiji(i)),
            _ => return Err(DecodeError::Invalid(i)),
        }
    }
    Ok(ascii)
}

/// One record handed to a [`scan`] callback: raw ranges and decoded texts.
#[derive(Debug)]
pub struct RecordView<'a> {
    /// First physical line of the record (1-based).
    pub line: u64,
    /// Raw byte range of the record without its terminator.
    pub raw: (usize, usize),
    /// Byte range of the terminator.
    pub term: (usize, usize),
    /// Number of fields (may exceed `fields.len()` for over-wide records).
    pub field_count: usize,
    /// Stored fields.
    pub fields: &'a [RawField],
    ascii: &'a str,
    wide: &'a str,
    spans: &'a [(usize, usize, bool)],
    ok: &'a [bool],
}

impl<'a> RecordView<'a> {
    /// Decoded text of field `i` (empty when it could not be decoded).
    pub fn text(&self, i: usize) -> &'a str {
        let (a, b, wide) = self.spans[i];
        if wide { self.wide } else { self.ascii }
            .get(a..b)
            .unwrap_or_default()
    }
    /// Whether field `i` decoded cleanly.
    pub fn decoded(&self, i: usize) -> bool {
        self.ok[i]
    }
    /// Number of stored fields.
    pub fn len(&self) -> usize {
        self.fields.len()
    }
    /// Whether the record has no stored fields.
    pub fn is_empty(&self) -> bool {
        self.fields.is_empty()
    }
}

/// What a scan learned about the file as a whole.
#[derive(Debug, Clone, Default)]
pub struct ScanSummary {
    /// Records handed to the callback.
    pub records: usize,
    /// The file was refused before splitting (encoding or size).
    pub fatal: bool,
}

/// Split and decode `bytes`, report byte- and record-level findings into `sink`, and call
/// `on_record` for every non-blank record.
pub fn scan(
    bytes: &[u8],
    sink: &mut Sink,
    mut on_record: impl FnMut(&RecordView<'_>),
) -> ScanSummary {
    let mut summary = ScanSummary::default();
    if bytes.len() > MAX_FILE_BYTES {
        sink.push(
            Code::F114,
            None,
            None,
            format!(
                "{} バイトのファイルは扱えません（上限 {} バイト）",
                bytes.len(),
                MAX_FILE_BYTES
            ),
            format!(
                "a file of {} bytes is over the {} byte limit",
                bytes.len(),
                MAX_FILE_BYTES
            ),
        );
        summary.fatal = true;
        return summary;
    }
    if bytes.is_empty() {
        sink.push(
            Code::F107,
            None,
            None,
            "ファイルが空です",
            "the file is empty",
        );
        summary.fatal = true;
        return summary;
    }
    if bytes.starts_with(&[0xEF, 0xBB, 0xBF]) {
        sink.push(Code::F101, Some(1), None,
            "UTF-8（BOM付き）で保存されています。標準仕様の文字コードはShift_JIS（MS932）です。介護ソフトの出力設定を確認してください",
            "the file is UTF-8 with a byte order mark; the standard requires Shift_JIS (MS932)");
        summary.fatal = true;
        return summary;
    }
    if !bytes.is_ascii() && std::str::from_utf8(bytes).is_ok() {
        sink.push(Code::F102, Some(1), None,
            "UTF-8で保存されています。標準仕様の文字コードはShift_JIS（MS932）です。介護ソフトの出力設定を確認してください",
            "the file is UTF-8; the standard requires Shift_JIS (MS932)");
        summary.fatal = true;
        return summary;
    }
    let mut sp = Splitter {
        bytes,
        pos: 0,
        line: 1,
    };
    let mut fields = Vec::new();
    let mut ascii: Vec<u8> = Vec::new();
    let mut wide = String::new();
    let mut errs: Vec<(usize, DecodeError)> = Vec::new();
    let mut spans: Vec<(usize, usize, bool)> = Vec::new();
    let mut ok = Vec::new();
    let mut other_ending: Option<(Terminator, u64)> = None;
    let mut last_term = Terminator::CrLf;
    let mut last_line = 1;
    while let Some(rec) = sp.next(&mut fields) {
        last_term = rec.term;
        last_line = rec.line;
        if matches!(rec.term, Terminator::Lf | Terminator::Cr) && other_ending.is_none() {
            other_ending = Some((rec.term, rec.line));
        }
        if rec.start == rec.end {
            if rec.term != Terminator::Eof {
                sink.push(
                    Code::F112,
                    Some(rec.line),
                    None,
                    "空行があります（読み飛ばします）",
                    "blank line (skipped)",
                );
            }
            continue;
        }
        match rec.quote {
            Some(QuoteProblem::Unterminated) => sink.push(Code::F108, Some(rec.line), None,
                "引用符（\"）が閉じられないままファイルが終わっています",
                "a quoted field is not closed before the end of the file"),
            Some(QuoteProblem::Misplaced) => sink.push(Code::F109, Some(rec.line), None,
                "引用符（\"）の位置が不正です。項目内の \" は \"\" と書き、項目全体を \" で囲みます",
                "misplaced quote: a quote inside a field is written \"\" and the whole field is quoted"),
            None => {}
        }
        ascii.clear();
        wide.clear();
        errs.clear();
        spans.clear();
        ok.clear();
        for (i, f) in fields.iter().enumerate() {
            let raw = &bytes[f.start..f.end];
            let (a0, w0) = (ascii.len(), wide.len());
            if f.plain {
                ascii.extend_from_slice(raw);
                ok.push(true);
                spans.push((a0, ascii.len(), false));
                continue;
            }
            match decode_field_into(raw, f.quoted, &mut ascii, &mut wide) {
                Ok(w) => {
                    ok.push(true);
                    spans.push(if w {
                        (w0, wide.len(), true)
                    } else {
                        (a0, ascii.len(), false)
                    });
                }
                Err(e) => {
                    ascii.truncate(a0);
                    wide.truncate(w0);
                    ok.push(false);
                    spans.push((a0, a0, false));
                    errs.push((i, e));
                }
            }
        }
        for &(i, e) in &errs {
            let f = &fields[i];
            let no = i + 1;
            let at = |o: usize| f.start + o;
            match e {
                DecodeError::Gaiji(o) => sink.push(Code::F104, Some(rec.line), None,
                    format!("第{no}項目に外字（ユーザー定義文字、0x{:02X}{:02X}）があります。MS932の文字に置き換えてください", bytes[at(o)], bytes.get(at(o) + 1).copied().unwrap_or(0)),
                    format!("field {no} holds a user-defined character (0x{:02X}..) at byte {}; replace it with an MS932 character", bytes[at(o)], at(o))),
                DecodeError::Invalid(o) => sink.push(Code::F103, Some(rec.line), None,
                    format!("第{no}項目にMS932（Shift_JIS）として読めないバイト（0x{:02X}、{}バイト目）があります", bytes.get(at(o)).copied().unwrap_or(0), at(o)),
                    format!("field {no} has bytes that are not MS932 (0x{:02X} at byte {})", bytes.get(at(o)).copied().unwrap_or(0), at(o))),
                DecodeError::Control(o, c) => sink.push(Code::F105, Some(rec.line), None,
                    format!("第{no}項目に制御文字（0x{c:02X}）があります"),
                    format!("field {no} holds control character 0x{c:02X} at byte {}", at(o))),
            }
        }
        // `ascii` holds checked ASCII only, so this holds; were it ever to fail, the ASCII fields
        // would read as empty rather than panic.
        let ascii_text = std::str::from_utf8(&ascii).unwrap_or_default();
        summary.records += 1;
        on_record(&RecordView {
            line: rec.line,
            raw: (rec.start, rec.end),
            term: (rec.end, rec.term_end),
            field_count: rec.field_count,
            fields: &fields,
            ascii: ascii_text,
            wide: &wide,
            spans: &spans,
            ok: &ok,
        });
    }
    if let Some((t, line)) = other_ending {
        let (ja, en) = if t == Terminator::Lf {
            ("LF", "LF")
        } else {
            ("CR", "CR")
        };
        sink.push(
            Code::F106,
            Some(line),
            None,
            format!("改行コードが {ja} です。標準的なCRLFで出力してください（読み込みは可能）"),
            format!("records end with {en}; CRLF is expected (the file is still read)"),
        );
    }
    if last_term == Terminator::Eof && summary.records > 0 {
        sink.push(
            Code::F111,
            Some(last_line),
            None,
            "最終行が改行（CRLF）で終わっていません",
            "the last record does not end with CRLF",
        );
    }
    summary
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(b: &[u8]) -> Vec<Vec<String>> {
        let mut sink = Sink::new("t");
        let mut out = Vec::new();
        scan(b, &mut sink, |r| {
            out.push((0..r.len()).map(|i| r.text(i).to_owned()).collect())
        });
        out
    }

    #[test]
    fn word_search_finds_the_same_byte_as_the_table() {
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        for round in 0..20_000 {
            let len = round % 40;
            let bytes: Vec<u8> = (0..len)
                .map(|_| {
                    seed ^= seed << 13;
                    seed ^= seed >> 7;
                    seed ^= seed << 17;
                    // Mostly printable ASCII, with every byte value turning up.
                    if seed.is_multiple_of(5) {
                        (seed >> 8) as u8
                    } else {
                        0x20 + ((seed >> 8) % 0x5F) as u8
                    }
                })
                .collect();
            for from in 0..=len {
                let want = bytes[from..]
                    .iter()
                    .position(|&c| SPECIAL[usize::from(c)] != 0)
                    .map(|j| from + j);
                assert_eq!(first_special(&bytes, from), want, "{bytes:?} from {from}");
            }
        }
        for c in 0..=255u8 {
            let mut b = vec![b'a'; 19];
            b[11] = c;
            let want = (SPECIAL[usize::from(c)] != 0).then_some(11);
            assert_eq!(first_special(&b, 0), want, "byte {c:#04x}");
        }
    }

    #[test]
    fn quoted_fields_with_newlines_and_escapes() {
        let b = b"a,\"x,\r\ny\"\"z\",\r\n1,2,3\r\n";
        let r = split(b);
        assert_eq!(r, vec![vec!["a", "x,\r\ny\"z", ""], vec!["1", "2", "3"]]);
    }

    #[test]
    fn lines_are_counted_through_quoted_newlines() {
        let mut sink = Sink::new("t");
        let mut lines = Vec::new();
        scan(b"\"a\nb\nc\",1\r\nx\r\n", &mut sink, |r| lines.push(r.line));
        assert_eq!(lines, vec![1, 4]);
    }

    #[test]
    fn ms932_extensions_decode_and_gaiji_is_refused() {
        // 髙 (IBM extension FB FC), ① (NEC row 13, 87 40), ｱ (B1)
        let mut s = String::new();
        decode_field(&[0xFB, 0xFC, 0x87, 0x40, 0xB1], false, &mut s).unwrap();
        assert_eq!(s, "髙①ｱ");
        assert_eq!(
            decode_field(&[0x41, 0xF0, 0x40], false, &mut s),
            Err(DecodeError::Gaiji(1))
        );
        assert_eq!(
            decode_field(&[0x80], false, &mut s),
            Err(DecodeError::Invalid(0))
        );
        assert_eq!(
            decode_field(&[0x82], false, &mut s),
            Err(DecodeError::Invalid(0))
        );
        assert!(matches!(
            decode_field(&[0x00], false, &mut s),
            Err(DecodeError::Control(0, 0))
        ));
    }

    #[test]
    fn utf8_and_bom_are_refused() {
        for b in [&b"\xEF\xBB\xBFa\r\n"[..], "あ,い\r\n".as_bytes()] {
            let mut sink = Sink::new("t");
            assert!(scan(b, &mut sink, |_| {}).fatal);
            assert!(sink.has_errors());
        }
    }

    #[test]
    fn wide_records_are_counted_not_stored() {
        let line = ",".repeat(50_000);
        let mut sink = Sink::new("t");
        let mut seen = (0, 0);
        scan(line.as_bytes(), &mut sink, |r| {
            seen = (r.field_count, r.len())
        });
        assert_eq!(seen, (50_001, MAX_FIELDS));
    }
}
