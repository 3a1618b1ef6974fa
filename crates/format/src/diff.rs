//! Item-by-item comparison of two files: this month's 予定 against the 実績 that came back, or
//! two versions of one plan.
//!
//! Records are matched by a key that suits the kind (e.g. 第6表: user, date, service code,
//! start time and provider), not by position, so reordered files compare equal. Items are
//! matched by name, so a 202208 file can be compared with a 202407 one.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;

use serde::Serialize;

use crate::document::Document;
use crate::kind::FileKind;
use crate::layout::Role;
use crate::render::esc;

/// What happened to one record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ChangeKind {
    /// Only in B.
    Added,
    /// Only in A.
    Removed,
    /// In both, with different items.
    Changed,
}

/// One item that differs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ItemChange {
    /// 項目No. in A's layout.
    pub no: u16,
    /// 日本語名称.
    pub name: String,
    /// Value in A.
    pub a: String,
    /// Value in B.
    pub b: String,
}

/// One record that differs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Change {
    /// The record's key, readable (e.g. `0000012345 20250505 111111 1000 1370000002`).
    pub key: String,
    /// Added, removed or changed.
    pub kind: ChangeKind,
    /// Line in A (removed/changed).
    pub line_a: Option<u64>,
    /// Line in B (added/changed).
    pub line_b: Option<u64>,
    /// Differing items (changed records).
    pub items: Vec<ItemChange>,
}

/// The comparison of A and B.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Diff {
    /// A's file name.
    pub a: String,
    /// B's file name.
    pub b: String,
    /// Records compared in A and B.
    pub records: (usize, usize),
    /// Differences, in key order.
    pub changes: Vec<Change>,
}

/// Why two files cannot be compared.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{a_kind} と {b_kind} は比較できません（同じ様式のファイル、または予定と実績を比べます） / {a_kind} and {b_kind} cannot be compared")]
pub struct DiffError {
    /// A's kind.
    pub a_kind: FileKind,
    /// B's kind.
    pub b_kind: FileKind,
}

fn key_roles(kind: FileKind) -> &'static [Role] {
    match kind {
        FileKind::Upplan | FileKind::Upjsk => &[
            Role::Insured,
            Role::ServiceDate,
            Role::ServiceCode,
            Role::Start,
            Role::Provider,
            Role::DetailNo,
        ],
        FileKind::Upsikyu => &[Role::Insured, Role::Provider, Role::ServiceCode],
        FileKind::Up2kyo => &[Role::Insured, Role::NeedNo, Role::GoalNo, Role::ContentNo],
        FileKind::Dltjsk => &[Role::Insured, Role::Month, Role::Provider, Role::Kind],
        FileKind::Dltplan => &[Role::Insured, Role::Month],
        FileKind::Dlt1kyo => &[Role::Insured, Role::PlanDate],
        // 第1表, 第3表 and 補足: per user, in order (a new plan has a new 作成（変更）日).
        _ => &[Role::Insured],
    }
}

fn keyed(doc: &Document, roles: &[Role], only_provider: Option<&str>) -> BTreeMap<String, usize> {
    let mut out = BTreeMap::new();
    let mut seen: HashMap<String, usize> = HashMap::new();
    for r in 0..doc.csv.len() {
        if doc.csv.width(r) != doc.layout.width() {
            continue;
        }
        if only_provider.is_some_and(|p| doc.role(r, Role::Provider) != p) {
            continue;
        }
        let base = roles
            .iter()
            .map(|ro| doc.role(r, *ro))
            .collect::<Vec<_>>()
            .join(" ");
        let n = seen.entry(base.clone()).or_insert(0);
        *n += 1;
        let key = if *n == 1 && roles.len() > 1 {
            base
        } else {
            format!("{base} #{n}")
        };
        out.insert(key, r);
    }
    out
}

/// Compare two documents of the same layout (or a 第6表 予定 with its 実績). When one side is
/// a 実績 file, the plan is narrowed to the 実績's provider.
pub fn diff(a: &Document, b: &Document) -> Result<Diff, DiffError> {
    if a.layout.id != b.layout.id {
        return Err(DiffError {
            a_kind: a.kind(),
            b_kind: b.kind(),
        });
    }
    let plan_vs_result = a.kind() != b.kind();
    let provider = |d: &Document| (d.kind() == FileKind::Upjsk).then(|| d.name.sender.to_string());
    let only = provider(a).or_else(|| provider(b));
    let roles = key_roles(a.kind());
    let ka = keyed(a, roles, only.as_deref());
    let kb = keyed(b, roles, only.as_deref());
    // Items of B by (name, occurrence) so 202208 and 202407 layouts line up.
    let mut b_pos: HashMap<(&str, usize), usize> = HashMap::new();
    let mut occ: HashMap<&str, usize> = HashMap::new();
    for (i, it) in b.layout.items.iter().enumerate() {
        let n = occ.entry(it.name.as_str()).or_insert(0);
        *n += 1;
        b_pos.insert((it.name.as_str(), *n), i);
    }
    let mut changes = Vec::new();
    for (key, &ra) in &ka {
        match kb.get(key) {
            None => changes.push(Change {
                key: key.clone(),
                kind: ChangeKind::Removed,
                line_a: Some(a.csv.line(ra)),
                line_b: None,
                items: Vec::new(),
            }),
            Some(&rb) => {
                let mut items = Vec::new();
                let mut occ_a: HashMap<&str, usize> = HashMap::new();
                for (i, it) in a.layout.items.iter().enumerate() {
                    let n = occ_a.entry(it.name.as_str()).or_insert(0);
                    *n += 1;
                    if plan_vs_result && matches!(it.role, Some(Role::Created | Role::Updater)) {
                        continue;
                    }
                    let Some(&j) = b_pos.get(&(it.name.as_str(), *n)) else {
                        continue;
                    };
                    let (va, vb) = (a.csv.get(ra, i), b.csv.get(rb, j));
                    if va != vb {
                        items.push(ItemChange {
                            no: it.no,
                            name: it.name.clone(),
                            a: va.to_owned(),
                            b: vb.to_owned(),
                        });
                    }
                }
                if !items.is_empty() {
                    changes.push(Change {
                        key: key.clone(),
                        kind: ChangeKind::Changed,
                        line_a: Some(a.csv.line(ra)),
                        line_b: Some(b.csv.line(rb)),
                        items,
                    });
                }
            }
        }
    }
    for (key, &rb) in &kb {
        if !ka.contains_key(key) {
            changes.push(Change {
                key: key.clone(),
                kind: ChangeKind::Added,
                line_a: None,
                line_b: Some(b.csv.line(rb)),
                items: Vec::new(),
            });
        }
    }
    changes.sort_by(|x, y| x.key.cmp(&y.key));
    Ok(Diff {
        a: a.file.clone(),
        b: b.file.clone(),
        records: (ka.len(), kb.len()),
        changes,
    })
}

impl Diff {
    /// Whether A and B agree.
    pub fn is_empty(&self) -> bool {
        self.changes.is_empty()
    }

    /// Plain text, one line per record and one indented line per item: `-` only in A, `+`
    /// only in B, `~` changed.
    pub fn to_text(&self) -> String {
        let mut o = format!("--- {}\n+++ {}\n", self.a, self.b);
        for c in &self.changes {
            let (mark, ja) = match c.kind {
                ChangeKind::Added => ('+', "Bのみ / only in B"),
                ChangeKind::Removed => ('-', "Aのみ / only in A"),
                ChangeKind::Changed => ('~', "変更 / changed"),
            };
            let _ = writeln!(o, "{mark} [{}] {ja}", c.key);
            for i in &c.items {
                let _ = writeln!(o, "    No.{} {}: {:?} → {:?}", i.no, i.name, i.a, i.b);
            }
        }
        if self.changes.is_empty() {
            o.push_str("差異はありません / no differences\n");
        }
        o
    }

    /// An HTML page with the same content as a table.
    pub fn to_html(&self) -> String {
        let mut o = format!(
            "<!DOCTYPE html>\n<html lang=\"ja\"><head><meta charset=\"utf-8\"><title>差分 / diff</title><style>body{{font-family:sans-serif;font-size:10pt}}table{{border-collapse:collapse}}td,th{{border:1px solid #999;padding:2px 4px}}.added{{background:#e6ffe6}}.removed{{background:#ffe6e6}}.changed{{background:#fff8dc}}</style></head><body><h1>差分 / diff</h1><p>A: {}<br>B: {}</p><table><tr><th>キー</th><th>区分</th><th>項目</th><th>A</th><th>B</th></tr>",
            esc(&self.a),
            esc(&self.b)
        );
        for c in &self.changes {
            let (cls, label) = match c.kind {
                ChangeKind::Added => ("added", "Bのみ"),
                ChangeKind::Removed => ("removed", "Aのみ"),
                ChangeKind::Changed => ("changed", "変更"),
            };
            if c.items.is_empty() {
                let _ = write!(o, "<tr class=\"{cls}\"><td>{}</td><td>{label}</td><td></td><td></td><td></td></tr>", esc(&c.key));
            }
            for i in &c.items {
                let _ = write!(o, "<tr class=\"{cls}\"><td>{}</td><td>{label}</td><td>No.{} {}</td><td>{}</td><td>{}</td></tr>", esc(&c.key), i.no, esc(&i.name), esc(&i.a), esc(&i.b));
            }
        }
        o.push_str("</table></body></html>\n");
        o
    }
}
