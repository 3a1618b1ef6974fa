//! Rendering and diffs of generated files.

use renkei_format::sample::default_parties;
use renkei_format::{diff, read_file, render_html, sample_unit, Document, FileKind};

fn docs(kind: FileKind, month: &str) -> Vec<Document> {
    let (cm, provider) = default_parties();
    let (from, to) = if kind.sent_by_provider() {
        (&provider, &cm)
    } else {
        (&cm, &provider)
    };
    sample_unit(
        kind,
        month.parse().unwrap(),
        from,
        to,
        &"20250425090000".parse().unwrap(),
    )
    .unwrap()
    .into_iter()
    .map(|(n, b)| read_file(&n.to_string(), &b).unwrap())
    .collect()
}

#[test]
fn every_kind_renders_as_a_printable_page() {
    for kind in [
        FileKind::Upplan,
        FileKind::Up1kyo,
        FileKind::Dltplan,
        FileKind::Upjsk,
        FileKind::Dltjsk,
        FileKind::Dlt1kyo,
        FileKind::Upkihon,
        FileKind::Upyobo,
        FileKind::Dltkihon,
        FileKind::Dltyobo,
    ] {
        for d in docs(kind, "202505") {
            let html = render_html(&d);
            assert!(html.starts_with("<!DOCTYPE html>"), "{}", d.file);
            assert!(html.contains("size: A4 landscape"));
            assert!(html.contains(d.kind().title_ja()), "{}", d.file);
        }
    }
    let plan = &docs(FileKind::Upplan, "202505")[0];
    let html = render_html(plan);
    // May 2025: 31 day columns, 1st is a Thursday; the 5th (Monday) has 身体介護 111111.
    assert!(html.contains("<th>31</th>") && !html.contains("<th>32</th>"));
    assert!(html.contains("111111"));
    assert!(html.contains("<th class=\"sun\">日</th>"));
    let sik = render_html(&docs(FileKind::Upplan, "202505")[1]);
    assert!(sik.contains("class=\"pseudo\"") && sik.contains("11AAAA"));
    let week = render_html(&docs(FileKind::Up1kyo, "202505")[2]);
    assert!(week.contains("週単位以外") && week.contains("起床"));
    // Free text with quotes and line breaks is escaped, not injected.
    let p1 = render_html(&docs(FileKind::Up1kyo, "202505")[0]);
    assert!(p1.contains("&quot;連絡先&quot;") && p1.contains("<br>"));
}

#[test]
fn plan_vs_results_and_two_versions_of_a_plan() {
    let plan = docs(FileKind::Upplan, "202505").remove(0);
    let results = docs(FileKind::Upjsk, "202505").remove(0);
    let d = diff(&plan, &results).unwrap();
    assert!(d.is_empty(), "{}", d.to_text());

    let mut changed = plan.clone();
    changed.set_item(0, 12, "1100").unwrap(); // サービス開始時刻 of the first line
    changed.set_item(1, 8, "250").unwrap(); // 単位数
    let reread = read_file(&changed.file, &changed.csv.to_bytes()).unwrap();
    let d = diff(&plan, &reread).unwrap();
    // The moved start time is a different line (removed + added); the units are a change.
    let kinds: Vec<_> = d.changes.iter().map(|c| c.kind).collect();
    assert_eq!(kinds.len(), 3, "{}", d.to_text());
    let changed_items: Vec<_> = d.changes.iter().flat_map(|c| &c.items).collect();
    assert_eq!(changed_items.len(), 1);
    assert_eq!(
        (changed_items[0].no, changed_items[0].b.as_str()),
        (8, "250")
    );
    assert!(d.to_text().contains("No.8 単位数"));
    assert!(d.to_html().contains("<td>No.8 単位数</td>"));

    let other = docs(FileKind::Up1kyo, "202505").remove(0);
    assert!(diff(&plan, &other).is_err());
}

#[test]
fn versions_202208_and_202407_compare_by_item_name() {
    let old = docs(FileKind::Upplan, "202503").remove(0);
    let new = docs(FileKind::Upplan, "202503").remove(0);
    assert!(diff(&old, &new).unwrap().is_empty());
}

#[test]
fn prevention_files_render_their_free_text() {
    let kihon = docs(FileKind::Upkihon, "202505");
    assert_eq!(kihon.len(), 3);
    let html = render_html(&kihon[0]);
    // A quoted free-text value with an escaped quote comes out unescaped (and HTML-escaped).
    assert!(
        html.contains("元教員。&quot;読書会&quot;を主宰していた"),
        "{html}"
    );
    // One record with 71 items reads as a two-column sheet, with code values labelled.
    assert!(html.contains("<dl class=\"form\">"), "{html}");
    assert!(html.contains("<dt>利用者性別</dt><dd>2："), "{html}");
    let yobo = render_html(&docs(FileKind::Upyobo, "202505")[0]);
    assert!(yobo.contains("<dl class=\"form\">") && yobo.contains("朝の散歩を続ける"));
    let sub2 = render_html(&kihon[2]);
    assert!(sub2.contains("H12年10月") && sub2.contains("高血圧症"));
}
