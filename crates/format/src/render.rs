//! HTML that looks like the printed forms: 第6表 with its calendar grid, 第7表 with its unit
//! table, 第1表–第3表 as the plan pages, 利用者補足情報 and the 介護予防 利用者基本情報 /
//! 支援計画書 as sheets, their 別表 as tables. One page per user, A4
//! landscape when printed from a browser.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use crate::document::Document;
use crate::kind::FileKind;
use crate::layout::{registry, ItemType, Role};
use crate::model::SummaryLine;
use crate::sample::weekday;

/// Escape text for HTML; line breaks become `<br>`.
pub fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            '\n' => o.push_str("<br>"),
            '\r' => {}
            c => o.push(c),
        }
    }
    o
}

const CSS: &str = r#"
@page { size: A4 landscape; margin: 10mm; }
body { font-family: "BIZ UDPGothic", "Yu Gothic", "Hiragino Sans", "Noto Sans JP", sans-serif; font-size: 10pt; color: #000; margin: 0 1em; }
h1 { font-size: 14pt; text-align: center; margin: .3em 0; letter-spacing: .2em; }
.meta { font-size: 8pt; color: #444; display: flex; justify-content: space-between; border-bottom: 1px solid #000; margin-bottom: .4em; }
section.page { page-break-after: always; break-after: page; margin-bottom: 2em; }
section.page:last-child { page-break-after: auto; break-after: auto; }
table { border-collapse: collapse; width: 100%; }
th, td { border: 1px solid #000; padding: 1px 3px; vertical-align: top; }
th { background: #eee; font-weight: normal; }
td.n { text-align: right; font-variant-numeric: tabular-nums; }
td.c, th.c { text-align: center; }
.grid td, .grid th { font-size: 8pt; padding: 1px; min-width: 1.4em; text-align: center; }
.sat { color: #06c; } .sun { color: #c00; }
tr.pseudo td { background: #f6f6f6; font-weight: bold; }
dl.form { display: grid; grid-template-columns: 14em 1fr; border: 1px solid #000; margin: 0; }
dl.form dt, dl.form dd { border-bottom: 1px solid #000; margin: 0; padding: 2px 4px; }
dl.form dt { background: #eee; border-right: 1px solid #000; }
.week td { height: 1.6em; font-size: 8pt; }
@media screen { body { max-width: 297mm; } }
"#;

/// Render a document as a standalone HTML page.
pub fn render_html(doc: &Document) -> String {
    let mut body = String::new();
    let users = group_by_user(doc);
    for (user, recs) in &users {
        body.push_str("<section class=\"page\">");
        let _ = write!(body, "<h1>{}</h1>", esc(doc.kind().title_ja()));
        let _ = write!(
            body,
            "<div class=\"meta\"><span>保険者番号 {} ／ 被保険者番号 {}</span><span>{}</span></div>",
            esc(&user.0),
            esc(&user.1),
            esc(&meta(doc))
        );
        match doc.kind() {
            FileKind::Upplan | FileKind::Upjsk => service_use(doc, recs, &mut body),
            FileKind::Upsikyu => summary(doc, recs, &mut body),
            // One record per user with many items: a two-column sheet like the paper form.
            FileKind::Up1kyo | FileKind::Uphosoku | FileKind::Upkihon | FileKind::Upyobo => {
                sheet(doc, recs, &mut body)
            }
            FileKind::Up2kyo => plan2(doc, recs, &mut body),
            FileKind::Up3kyo => plan3(doc, recs, &mut body),
            _ => table(doc, recs, &mut body),
        }
        body.push_str("</section>");
    }
    format!(
        "<!DOCTYPE html>\n<html lang=\"ja\"><head><meta charset=\"utf-8\"><title>{} {}</title><style>{CSS}</style></head><body>{body}</body></html>\n",
        esc(doc.kind().title_ja()),
        esc(&doc.file)
    )
}

fn meta(doc: &Document) -> String {
    let n = &doc.name;
    let month = n
        .month
        .map(|m| format!("対象年月 {}年{}月　", m.year(), m.month()))
        .unwrap_or_default();
    format!(
        "{month}送信元 {} → 送信先 {}　CSVバージョン {}　ファイル連番 {}",
        n.sender, n.recipient, doc.version, n.seq
    )
}

fn group_by_user(doc: &Document) -> BTreeMap<(String, String), Vec<usize>> {
    let mut m: BTreeMap<(String, String), Vec<usize>> = BTreeMap::new();
    for r in 0..doc.csv.len() {
        if doc.csv.width(r) != doc.layout.width() {
            continue;
        }
        m.entry((
            doc.role(r, Role::Insurer).to_owned(),
            doc.role(r, Role::Insured).to_owned(),
        ))
        .or_default()
        .push(r);
    }
    m
}

fn hhmm(s: &str) -> String {
    if s.len() == 4 && s.is_ascii() && s != "9999" {
        format!("{}:{}", &s[..2], &s[2..])
    } else {
        String::new()
    }
}

fn service_use(doc: &Document, recs: &[usize], o: &mut String) {
    let Some(month) = doc.name.month.or_else(|| {
        recs.first()
            .and_then(|&r| doc.role(r, Role::Month).parse().ok())
    }) else {
        return table(doc, recs, o);
    };
    let days = month.days();
    let first = recs[0];
    let _ = write!(
        o,
        "<p>作成年月日 {}　居宅介護支援事業者 {}　担当者 {}</p>",
        esc(doc.role(first, Role::Created)),
        esc(doc.role(first, Role::PlanOffice)),
        esc(doc.role(first, Role::PlanPerson))
    );
    // Rows of the form: (start, end, code, provider) → counts per day.
    // (start, end, code, provider) → (provider name, counts per day)
    type Row = (String, String, String, String);
    let mut rows: BTreeMap<Row, (String, Vec<u32>)> = BTreeMap::new();
    for &r in recs {
        let key = (
            doc.role(r, Role::Start).to_owned(),
            doc.role(r, Role::End).to_owned(),
            doc.role(r, Role::ServiceCode).to_owned(),
            doc.role(r, Role::Provider).to_owned(),
        );
        let e = rows.entry(key).or_insert_with(|| {
            (
                doc.role(r, Role::ProviderName).to_owned(),
                vec![0; usize::from(days)],
            )
        });
        let d: usize = doc
            .role(r, Role::ServiceDate)
            .get(6..8)
            .and_then(|d| d.parse().ok())
            .unwrap_or(0);
        if (1..=usize::from(days)).contains(&d) {
            e.1[d - 1] += doc.role(r, Role::Count).parse::<u32>().unwrap_or(0);
        }
    }
    let label = if doc.kind() == FileKind::Upjsk {
        "実績"
    } else {
        "予定"
    };
    o.push_str("<table class=\"grid\"><tr><th rowspan=\"2\">提供時間帯</th><th rowspan=\"2\">サービスコード</th><th rowspan=\"2\">サービス事業者<br>事業所名</th><th rowspan=\"2\"></th>");
    for d in 1..=days {
        let _ = write!(o, "<th>{d}</th>");
    }
    o.push_str("<th rowspan=\"2\">合計<br>回数</th></tr><tr>");
    for d in 1..=days {
        let w = weekday(month.year(), month.month(), d);
        let cls = match w {
            6 => " class=\"sat\"",
            7 => " class=\"sun\"",
            _ => "",
        };
        let _ = write!(
            o,
            "<th{cls}>{}</th>",
            ["月", "火", "水", "木", "金", "土", "日"][usize::from(w) - 1]
        );
    }
    o.push_str("</tr>");
    for ((start, end, code, provider), (pname, counts)) in &rows {
        let time = if start == "9999" {
            String::new()
        } else {
            format!("{}〜{}", hhmm(start), hhmm(end))
        };
        let _ = write!(
            o,
            "<tr><td>{}</td><td>{}</td><td>{}<br>{}</td><td>{label}</td>",
            esc(&time),
            esc(code),
            esc(pname),
            esc(provider)
        );
        for c in counts {
            if *c == 0 {
                o.push_str("<td></td>")
            } else {
                let _ = write!(o, "<td>{c}</td>");
            }
        }
        let _ = write!(
            o,
            "<td class=\"n\">{}</td></tr>",
            counts.iter().sum::<u32>()
        );
    }
    o.push_str("</table>");
}

fn num(v: Option<u64>) -> String {
    v.map(|v| v.to_string()).unwrap_or_default()
}

fn summary(doc: &Document, recs: &[usize], o: &mut String) {
    o.push_str("<table><tr><th>事業所名</th><th>事業所番号</th><th>サービスコード</th><th>単位数</th><th>割引後<br>率％</th><th>割引後<br>単位数</th><th>回数</th><th>サービス<br>単位／金額</th><th>給付管理<br>単位数</th><th>種類支給限度<br>基準を超える<br>単位数</th><th>種類支給限度<br>基準内単位数</th><th>区分支給限度<br>基準を超える<br>単位数</th><th>区分支給限度<br>基準内単位数</th><th>単位数<br>単価</th><th>費用総額<br>（保険／事業対象分）</th><th>給付率<br>％</th><th>保険／事業費<br>請求額</th><th>利用者負担<br>（保険／事業対象分）</th><th>利用者負担<br>（全額負担分）</th></tr>");
    for &r in recs {
        let s = SummaryLine::from_document(doc, r);
        let g = |role| esc(doc.role(r, role));
        let (name, office) = if s.code == "999999" {
            ("区分支給限度管理・利用者負担計算".to_owned(), String::new())
        } else {
            (s.office_name.clone(), s.office.clone())
        };
        let _ = write!(
            o,
            "<tr{}><td>{}</td><td>{}</td><td>{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td></tr>",
            if s.is_pseudo() { " class=\"pseudo\"" } else { "" },
            esc(&name), esc(&office), esc(&s.code),
            if s.is_pseudo() { String::new() } else { num(s.units) },
            g(Role::DiscountRate), g(Role::DiscountedUnits), num(s.count), num(s.service_units), g(Role::BenefitUnits),
            g(Role::KindOver), g(Role::KindWithin), g(Role::ClassOver), num(s.class_within), g(Role::UnitPrice),
            num(s.total_cost), g(Role::BenefitRate), num(s.claim), num(s.copay), g(Role::FullCopay)
        );
    }
    o.push_str("</table>");
}

/// 第1表 and 利用者補足情報: every item as a labelled box, code values with their label.
fn sheet(doc: &Document, recs: &[usize], o: &mut String) {
    for &r in recs {
        o.push_str("<dl class=\"form\">");
        for (i, item) in doc.layout.items.iter().enumerate() {
            let v = doc.csv.get(r, i);
            if item.ty == ItemType::Unused
                || item.ty == ItemType::Version
                || (v.is_empty() && item.no > 19)
            {
                continue;
            }
            let shown = match item
                .codes
                .as_deref()
                .and_then(|c| registry().codes(c))
                .and_then(|c| c.get(v))
            {
                Some(label) => format!("{v}：{label}"),
                None => v.to_owned(),
            };
            let _ = write!(o, "<dt>{}</dt><dd>{}</dd>", esc(&item.name), esc(&shown));
        }
        o.push_str("</dl>");
    }
}

fn plan2(doc: &Document, recs: &[usize], o: &mut String) {
    let first = recs[0];
    let _ = write!(
        o,
        "<p>作成年月日 {}　居宅サービス計画作成（変更）日 {}</p>",
        esc(doc.role(first, Role::Created)),
        esc(doc.role(first, Role::PlanDate))
    );
    o.push_str("<table><tr><th rowspan=\"2\">生活全般の解決すべき<br>課題（ニーズ）</th><th colspan=\"4\">目標</th><th colspan=\"6\">援助内容</th></tr><tr><th>長期目標</th><th>（期間）</th><th>短期目標</th><th>（期間）</th><th>サービス内容</th><th>※1</th><th>サービス種別</th><th>※2</th><th>頻度</th><th>期間</th></tr>");
    let mut sorted = recs.to_vec();
    let n = |r: usize, role| doc.role(r, role).parse::<u32>().unwrap_or(0);
    sorted.sort_by_key(|&r| {
        (
            n(r, Role::NeedNo),
            n(r, Role::GoalNo),
            n(r, Role::ContentNo),
        )
    });
    for r in sorted {
        let c = |no: usize| esc(doc.csv.get(r, no - 1));
        let _ = write!(o, "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td class=\"c\">{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            c(7), c(9), c(11), c(10), c(12), c(14), if doc.csv.get(r, 14) == "Y" { "○" } else { "" }, c(16), c(18), c(19), c(20));
    }
    o.push_str("</table><p>※1「保険給付の対象となるかどうかの区分」について、保険給付対象内サービスについては○印を付す。※2「当該サービス提供を行う事業所」について記入する。</p>");
}

fn plan3(doc: &Document, recs: &[usize], o: &mut String) {
    let mut cells: BTreeMap<(u8, usize), Vec<String>> = BTreeMap::new();
    let mut activities: BTreeMap<usize, Vec<String>> = BTreeMap::new();
    let mut others = Vec::new();
    let hour = |s: &str| {
        s.get(..2)
            .and_then(|h| h.parse::<usize>().ok())
            .filter(|h| *h < 24)
            .map(|h| h / 2)
    };
    for &r in recs {
        let text = doc.role(r, Role::ServiceText);
        if !text.is_empty() {
            let wd: u8 = doc.role(r, Role::Weekday).parse().unwrap_or(0);
            if let (1..=7, Some(h)) = (wd, hour(doc.role(r, Role::Start))) {
                cells.entry((wd, h)).or_default().push(format!(
                    "{} {}〜{}",
                    text,
                    hhmm(doc.role(r, Role::Start)),
                    hhmm(doc.role(r, Role::End))
                ));
            }
        }
        let act = doc.role(r, Role::Activity);
        if let (false, Some(h)) = (act.is_empty(), hour(doc.role(r, Role::ActivityStart))) {
            activities.entry(h).or_default().push(format!(
                "{} {}",
                hhmm(doc.role(r, Role::ActivityStart)),
                act
            ));
        }
        let other = doc.role(r, Role::OtherService);
        if !other.is_empty() {
            others.push(other.to_owned());
        }
    }
    o.push_str("<table class=\"week\"><tr><th></th><th>月</th><th>火</th><th>水</th><th>木</th><th>金</th><th>土</th><th>日</th><th>主な日常生活上の活動</th></tr>");
    for band in 0..12 {
        let _ = write!(o, "<tr><th>{:02}:00</th>", band * 2);
        for wd in 1..=7u8 {
            let v = cells
                .get(&(wd, band))
                .map(|v| v.join("\n"))
                .unwrap_or_default();
            let _ = write!(o, "<td>{}</td>", esc(&v));
        }
        let a = activities
            .get(&band)
            .map(|v| v.join("\n"))
            .unwrap_or_default();
        let _ = write!(o, "<td>{}</td></tr>", esc(&a));
    }
    let _ = write!(
        o,
        "<tr><th>週単位以外<br>のサービス</th><td colspan=\"8\">{}</td></tr></table>",
        esc(&others.join("、"))
    );
}

/// Any layout: one row per record, one column per item.
fn table(doc: &Document, recs: &[usize], o: &mut String) {
    o.push_str("<table><tr>");
    for item in &doc.layout.items {
        let _ = write!(o, "<th>{}</th>", esc(&item.name));
    }
    o.push_str("</tr>");
    for &r in recs {
        o.push_str("<tr>");
        for i in 0..doc.layout.width() {
            let _ = write!(o, "<td>{}</td>", esc(doc.csv.get(r, i)));
        }
        o.push_str("</tr>");
    }
    o.push_str("</table>");
}
