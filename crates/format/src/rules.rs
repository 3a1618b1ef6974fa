//! Rules across items and records of one file, per file kind (docs/spec/validation-codes.md).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::hash::{BuildHasherDefault, Hash, Hasher};

use crate::finding::Code;
use crate::kind::{FileKind, MonthToken};
use crate::layout::{Layout, Role};
use crate::reader::RecordView;
use crate::validate::{is_date, Checker, UserKey, MAX_FACTS};

/// Service kinds outside the exchange scope (標準仕様 §1.3–1.4).
pub const OUT_OF_SCOPE_KINDS: [&str; 15] = [
    "33", "36", "32", "41", "42", "51", "52", "53", "54", "59", "81", "35", "37", "44", "45",
];

/// 第7表 columns whose totals are compared with the sum of their lines.
const SUM_ROLES: [Role; 10] = [
    Role::ServiceUnits,
    Role::BenefitUnits,
    Role::KindOver,
    Role::KindWithin,
    Role::ClassOver,
    Role::ClassWithin,
    Role::TotalCost,
    Role::Claim,
    Role::Copay,
    Role::FullCopay,
];

#[derive(Debug, Default)]
struct Group {
    details: u32,
    first_line: u64,
    subtotal: Option<(u64, Vec<Option<u64>>)>,
    sums: Vec<Option<u64>>,
}

#[derive(Debug, Default)]
struct User {
    first_line: u64,
    totals: Vec<(u64, Vec<Option<u64>>)>,
    groups: BTreeMap<(String, String), Group>,
}

/// State the rules keep while records stream by.
#[derive(Debug, Default)]
pub(crate) struct RuleState {
    recipient_seen: bool,
    records: usize,
    /// (hash, line) of every 第6表 line, up to [`MAX_FACTS`]: duplicates (warnings) are found
    /// by sorting once at the end, which costs far less than a hash-set probe per line once
    /// the set outgrows the CPU caches.
    line_hashes: Vec<(u64, u64)>,
    /// Hashes of facts already recorded, so that a repeated key costs no allocation.
    key_hashes: HashSet<u64, IdBuild>,
    /// The previous record's key hash (records of one user usually follow each other).
    last_key: u64,
    /// Index into `counts` by key hash.
    count_keys: HashMap<u64, usize, IdBuild>,
    /// (被保険者番号, 事業所, サービスコード) → 回数, in order of first appearance (files list
    /// a user's lines together, so this is nearly sorted already).
    counts: Vec<((String, String, String), u64)>,
    users: BTreeMap<(String, String), User>,
}

/// A fast non-cryptographic hasher (the FxHash mix) for keys of one file's own records: they
/// only deduplicate work, so an adversarial collision costs at most a missed duplicate warning.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct FxHasher(u64);

impl Hasher for FxHasher {
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let w = u64::from_le_bytes(c.try_into().unwrap_or([0; 8]));
            self.0 = (self.0.rotate_left(5) ^ w).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
        }
        for &b in chunks.remainder() {
            self.0 = (self.0.rotate_left(5) ^ u64::from(b)).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
        }
    }
    fn finish(&self) -> u64 {
        self.0
    }
}

/// The 第6表 lines (被保険者番号, 事業所, サービスコード, 利用日) of a file kept in one buffer: one
/// append per line, no allocation per line. A line equal to the one before is stored once;
/// other repeats may be stored again (readers collect into sets).
#[derive(Debug, Clone, Default)]
pub(crate) struct LineSet {
    buf: String,
    spans: Vec<(u32, u32)>,
    last: Option<u64>,
}

impl LineSet {
    /// Add a line (ignored when equal to the previous one or when the set is full).
    pub(crate) fn insert(&mut self, parts: [&str; 4]) {
        let h = hash(&parts);
        if self.spans.len() >= crate::validate::MAX_FACTS || self.last == Some(h) {
            return;
        }
        self.last = Some(h);
        let start = self.buf.len() as u32;
        for (k, p) in parts.into_iter().enumerate() {
            if k > 0 {
                self.buf.push('\u{1f}');
            }
            self.buf.push_str(p);
        }
        self.spans.push((start, self.buf.len() as u32));
    }

    /// The lines as (被保険者番号, 事業所, サービスコード, 利用日).
    pub(crate) fn iter(&self) -> impl Iterator<Item = (&str, &str, &str, &str)> + '_ {
        self.spans.iter().map(|&(a, b)| {
            let mut it = self.buf[a as usize..b as usize].split('\u{1f}');
            let mut next = || it.next().unwrap_or_default();
            (next(), next(), next(), next())
        })
    }
}

/// Keys that are already hashes: used as they are.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct IdHasher(u64);

impl Hasher for IdHasher {
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 << 8) | u64::from(b);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
    fn finish(&self) -> u64 {
        self.0
    }
}

type IdBuild = BuildHasherDefault<IdHasher>;

fn hash(parts: &[&str]) -> u64 {
    let mut h = FxHasher::default();
    parts.hash(&mut h);
    h.finish()
}

fn add_count(c: &mut Checker<'_>, insured: &str, provider: &str, code: &str, count: u64) {
    let h = hash(&[insured, provider, code]);
    let full = c.rules.counts.len() >= MAX_FACTS;
    match c.rules.count_keys.get(&h) {
        Some(&i) => c.rules.counts[i].1 += count,
        None if !full => {
            let k = (insured.to_owned(), provider.to_owned(), code.to_owned());
            c.rules.count_keys.insert(h, c.rules.counts.len());
            c.rules.counts.push((k, count));
        }
        None => {}
    }
}

/// Move the accumulated counts into the file's facts.
pub(crate) fn flush(c: &mut Checker<'_>) {
    c.rules.count_keys.clear();
    let mut counts = std::mem::take(&mut c.rules.counts);
    // A stable sort finds the runs that are already in order: close to one pass here.
    counts.sort_by(|a, b| a.0.cmp(&b.0));
    if c.facts.counts.is_empty() {
        // Built in bulk from sorted keys, without a tree search per key.
        c.facts.counts = counts.into_iter().collect();
    } else {
        for (k, n) in counts {
            *c.facts.counts.entry(k).or_insert(0) += n;
        }
    }
}

fn add(a: Option<u64>, b: Option<u64>) -> Option<u64> {
    match (a, b) {
        (Some(x), Some(y)) => Some(x.saturating_add(y)),
        (x, None) => x,
        (None, y) => y,
    }
}

/// Rules for one record whose width matches the layout.
pub(crate) fn record(c: &mut Checker<'_>, l: &'static Layout, r: &RecordView<'_>) {
    let get = |role: Role| l.pos(role).map_or("", |p| r.text(p));
    let Some(kind) = c.kind else { return };
    c.rules.records += 1;
    let line = r.line;
    let name = c.name;
    // One service month per file, equal to the name's.
    if kind.month_token() == MonthToken::Required {
        let m = get(Role::Month);
        if c.first_month.is_none() {
            c.first_month = Some(m.to_owned());
        }
        let differs = match name.and_then(|n| n.month) {
            Some(nm) => m.parse::<renkei_ids::YearMonth>().ok() != Some(nm),
            None => c.first_month.as_deref() != Some(m),
        };
        let expected = differs
            .then(|| {
                name.and_then(|n| n.month)
                    .map(|m| m.to_string())
                    .or_else(|| c.first_month.clone())
            })
            .flatten();
        if let Some(exp) = expected {
            c.push(
                Code::F305,
                line,
                c.item(Role::Month),
                format!("対象年月 {m} がファイル名の {exp} と違います（1ファイル1対象年月）"),
                format!(
                    "service month {m} differs from {exp} in the file name (one month per file)"
                ),
            );
        }
    }
    // Keys for the transmission unit.
    let key = match kind {
        FileKind::Up1kyo
        | FileKind::Up2kyo
        | FileKind::Up3kyo
        | FileKind::Dlt1kyo
        | FileKind::Upyobo
        | FileKind::UpyoboSub
        | FileKind::Dltyobo => get(Role::PlanDate),
        FileKind::Upkihon | FileKind::UpkihonSub1 | FileKind::UpkihonSub2 | FileKind::Dltkihon => {
            get(Role::ConsultDate)
        }
        FileKind::Uphosoku if get(Role::Month) == "000000" => get(Role::PlanDate),
        _ => get(Role::Month),
    };
    let (insurer, insured) = (get(Role::Insurer), get(Role::Insured));
    let kh = hash(&[insurer, insured, key]);
    let new_key = kh != c.rules.last_key && c.rules.key_hashes.insert(kh);
    c.rules.last_key = kh;
    if c.facts.keys.len() < MAX_FACTS && new_key {
        c.facts.keys.insert(UserKey {
            insurer: insurer.to_owned(),
            insured: insured.to_owned(),
            key: key.to_owned(),
        });
    }
    match kind {
        FileKind::Upplan | FileKind::Upjsk => service_use(c, l, r, kind),
        FileKind::Upsikyu => summary(c, l, r),
        FileKind::Uphosoku => {
            let (m, d) = (get(Role::Month), get(Role::PlanDate));
            if let Some(n) = name {
                let want = n.month.map_or("000000".to_owned(), |m| m.to_string());
                if m != want {
                    c.push(
                        Code::F305,
                        line,
                        c.item(Role::Month),
                        format!("対象年月 {m} がファイル名の提供年月 {want} と違います"),
                        format!("対象年月 {m} differs from the name's month {want}"),
                    );
                }
            }
            if m == "000000" && d == "00000000" {
                c.push(
                    Code::F306,
                    line,
                    c.item(Role::PlanDate),
                    "第1表に紐づく利用者補足情報には居宅サービス計画作成（変更）日が必要です"
                        .into(),
                    "a supplement tied to table 1 needs the plan date".into(),
                );
            } else if m != "000000" && !m.is_empty() && d != "00000000" {
                c.push(Code::F306, line, c.item(Role::PlanDate),
                    format!("第6表に紐づく利用者補足情報の居宅サービス計画作成（変更）日は 00000000 です（{d}）"),
                    format!("a supplement tied to table 6 has plan date 00000000 (got {d})"));
            }
        }
        FileKind::Upkihon => {
            let image = get(Role::ImageFile);
            if !image.is_empty() {
                image_name(c, line, image);
            }
        }
        FileKind::Up1kyo => sender_is(
            c,
            line,
            Role::PlanOffice,
            get(Role::PlanOffice),
            "介護支援事業者コード",
        ),
        FileKind::Dltjsk => {
            sender_is(
                c,
                line,
                Role::Provider,
                get(Role::Provider),
                "サービス事業者コード",
            );
            let k = get(Role::Kind);
            if let Some(sk) = name
                .and_then(|n| n.sender_kind.as_ref())
                .filter(|sk| sk.as_str() != k)
            {
                c.push(
                    Code::F306,
                    line,
                    c.item(Role::Kind),
                    format!(
                        "サービス種類コード {k} がファイル名の送信元サービス種類 {sk} と違います"
                    ),
                    format!("service kind {k} differs from the sender kind {sk} in the file name"),
                );
            }
        }
        _ => {}
    }
}

/// 利用者基本情報 No.62 names a family-structure image: `UPKIHON_IMAGE_<route>_<連番>_<枝番>.jpg`
/// with the route and ファイル連番 of the file itself (S2 No.62 命名規則).
fn image_name(c: &mut Checker<'_>, line: u64, image: &str) {
    let parsed = crate::name::FileName::parse(image)
        .ok()
        .filter(|n| n.kind == FileKind::UpkihonImage);
    let Some(img) = parsed else {
        c.push(
            Code::F306,
            line,
            c.item(Role::ImageFile),
            format!("家族構成 画像ファイル名「{image}」が UPKIHON_IMAGE_送信元_種類_送信先_種類_連番_枝番.jpg の形式ではありません"),
            format!("image file name {image:?} does not follow UPKIHON_IMAGE_<route>_<seq>_<branch>.jpg"),
        );
        return;
    };
    let Some(n) = c.name else { return };
    if img.sender != n.sender || img.recipient != n.recipient || img.seq != n.seq {
        c.push(
            Code::F306,
            line,
            c.item(Role::ImageFile),
            format!(
                "家族構成 画像ファイル名「{image}」の送信元・送信先・連番がこのファイルと違います"
            ),
            format!("image file {image:?} has another route or file sequence than this file"),
        );
    }
}

fn sender_is(c: &mut Checker<'_>, line: u64, role: Role, v: &str, what: &str) {
    let Some(n) = c.name else { return };
    if !v.is_empty() && v != n.sender.as_str() {
        c.push(
            Code::F306,
            line,
            c.item(role),
            format!("{what} {v} がファイル名の送信元 {} と違います", n.sender),
            format!("{v} differs from the sender {} in the file name", n.sender),
        );
    }
}

fn service_use(c: &mut Checker<'_>, l: &'static Layout, r: &RecordView<'_>, kind: FileKind) {
    let get = |role: Role| l.pos(role).map_or("", |p| r.text(p));
    let line = r.line;
    let (date, code, provider) = (
        get(Role::ServiceDate),
        get(Role::ServiceCode),
        get(Role::Provider),
    );
    if let Some(m) = c.file_month() {
        let in_month = date.get(..4).and_then(|y| y.parse::<u16>().ok()) == Some(m.year())
            && date.get(4..6).and_then(|mo| mo.parse::<u8>().ok()) == Some(m.month());
        if is_date(date) && !in_month {
            c.push(
                Code::F307,
                line,
                c.item(Role::ServiceDate),
                format!("サービス利用日 {date} が対象年月 {m} の外です"),
                format!("service date {date} is outside the service month {m}"),
            );
        }
        let flags = get(Role::DayFlags);
        let days = usize::from(m.days());
        if flags.len() == 31 && flags.bytes().skip(days).any(|b| b == b'1') {
            c.push(
                Code::F308,
                line,
                c.item(Role::DayFlags),
                format!(
                    "{m} は {days} 日までですが、{}日目以降に 1 があります",
                    days + 1
                ),
                format!("{m} has {days} days but a flag is set after day {days}"),
            );
        }
    }
    let (start, end) = (get(Role::Start), get(Role::End));
    if (start == "9999") != (end == "9999") && !start.is_empty() && !end.is_empty() {
        c.push(
            Code::F309,
            line,
            c.item(Role::End),
            format!("開始時刻 {start} と終了時刻 {end} の一方だけが 9999（時刻なし）です"),
            format!("only one of start {start} and end {end} is 9999 (no time)"),
        );
    }
    let sk = code.get(..2).unwrap_or("");
    if (sk == "17" || sk == "67")
        && l.pos(Role::Tais).is_some()
        && get(Role::Tais).is_empty()
        && get(Role::Notified).is_empty()
    {
        c.push(
            Code::F310,
            line,
            c.item(Role::Tais),
            format!("福祉用具貸与（{code}）には TAISコード か 福祉用具届出コード が必要です"),
            format!("equipment rental {code} needs a TAIS code or a notification code"),
        );
    }
    if !get(Role::DetailNo).is_empty() && sk != "17" && sk != "67" {
        c.push(Code::F311, line, c.item(Role::DetailNo),
            "明細判別コードは福祉用具貸与で同じサービスコード・単位数の行を区別するときだけ使います".into(),
            "the detail number is only for telling equipment rental lines apart".into());
    }
    if OUT_OF_SCOPE_KINDS.contains(&sk) {
        c.push(
            Code::F317,
            line,
            c.item(Role::ServiceCode),
            format!("サービス種類 {sk} は連携対象外です（出力しない）"),
            format!("service kind {sk} is outside the exchange scope and is not output"),
        );
    }
    if let Some(n) = c.name {
        match kind {
            FileKind::Upplan => {
                sender_is(
                    c,
                    line,
                    Role::PlanOffice,
                    get(Role::PlanOffice),
                    "プラン担当業者コード",
                );
                if provider == n.recipient.as_str() {
                    c.rules.recipient_seen = true;
                }
            }
            _ => {
                sender_is(c, line, Role::Provider, provider, "サービス事業者コード");
                let po = get(Role::PlanOffice);
                if !po.is_empty() && po != n.recipient.as_str() {
                    c.push(
                        Code::F306,
                        line,
                        c.item(Role::PlanOffice),
                        format!(
                            "プラン担当業者コード {po} がファイル名の送信先 {} と違います",
                            n.recipient
                        ),
                        format!(
                            "plan office {po} differs from the recipient {} in the file name",
                            n.recipient
                        ),
                    );
                }
            }
        }
    }
    let insured = get(Role::Insured);
    let dup = hash(&[
        insured,
        date,
        code,
        start,
        provider,
        get(Role::DetailNo),
        get(Role::Satellite),
    ]);
    if c.rules.line_hashes.len() < MAX_FACTS {
        c.rules.line_hashes.push((dup, line));
    }
    let count: u64 = get(Role::Count).parse().unwrap_or(0);
    add_count(c, insured, provider, code, count);
    c.facts.lines.insert([insured, provider, code, date]);
}

fn pseudo(code: &str) -> Option<&str> {
    if code == "999999" {
        return Some("total");
    }
    match code.get(2..) {
        Some("AAAA") => Some("AAAA"),
        Some("EEEE") => Some("EEEE"),
        Some("ZZZZ") => Some("ZZZZ"),
        _ => None,
    }
}

fn summary(c: &mut Checker<'_>, l: &'static Layout, r: &RecordView<'_>) {
    let get = |role: Role| l.pos(role).map_or("", |p| r.text(p));
    let line = r.line;
    let (code, provider) = (get(Role::ServiceCode), get(Role::Provider));
    let values: Vec<Option<u64>> = SUM_ROLES.iter().map(|ro| get(*ro).parse().ok()).collect();
    let user_key = (get(Role::Insurer).to_owned(), get(Role::Insured).to_owned());
    if !c.rules.users.contains_key(&user_key) && c.rules.users.len() >= MAX_FACTS {
        return;
    }
    let sk = code.get(..2).unwrap_or("").to_owned();
    match pseudo(code) {
        Some(p) => {
            if get(Role::Units) != "0" {
                c.push(
                    Code::F314,
                    line,
                    c.item(Role::Units),
                    format!("集計行（{code}）の単位数は 0 です（{}）", get(Role::Units)),
                    format!("units on a subtotal/total row ({code}) are 0"),
                );
            }
            for role in [Role::DiscountRate, Role::DiscountedUnits] {
                if !get(role).is_empty() {
                    c.push(
                        Code::F314,
                        line,
                        c.item(role),
                        format!("集計行（{code}）のこの項目は空（Null）です"),
                        format!("this item is empty on a subtotal/total row ({code})"),
                    );
                }
            }
            let is_total = p == "total";
            if is_total != (provider == "9999999999") {
                c.push(
                    Code::F314,
                    line,
                    c.item(Role::Provider),
                    if is_total {
                        "合計行（999999）のサービス事業所コードは 9999999999 です".into()
                    } else {
                        format!("集計行 {code} のサービス事業所コードに 9999999999 は使えません")
                    },
                    if is_total {
                        "the total row 999999 has office 9999999999".into()
                    } else {
                        format!("office 9999999999 is only for the total row, not {code}")
                    },
                );
            }
            let u = c.rules.users.entry(user_key).or_default();
            if u.first_line == 0 {
                u.first_line = line;
            }
            if is_total {
                u.totals.push((line, values));
            } else if p == "AAAA" {
                let g = u.groups.entry((provider.to_owned(), sk)).or_default();
                g.subtotal = Some((line, values));
            }
        }
        None => {
            if provider == "9999999999" {
                c.push(
                    Code::F314,
                    line,
                    c.item(Role::Provider),
                    "9999999999 は合計行（999999）だけに使います".into(),
                    "office 9999999999 is only for the total row".into(),
                );
            }
            if (sk == "17" || sk == "67")
                && l.pos(Role::Tais).is_some()
                && get(Role::Tais).is_empty()
                && get(Role::Notified).is_empty()
            {
                c.push(
                    Code::F310,
                    line,
                    c.item(Role::Tais),
                    format!(
                        "福祉用具貸与（{code}）には TAISコード か 福祉用具届出コード が必要です"
                    ),
                    format!("equipment rental {code} needs a TAIS code or a notification code"),
                );
            }
            let count: u64 = get(Role::Count).parse().unwrap_or(0);
            add_count(c, &user_key.1, provider, code, count);
            let u = c.rules.users.entry(user_key).or_default();
            if u.first_line == 0 {
                u.first_line = line;
            }
            let g = u.groups.entry((provider.to_owned(), sk)).or_default();
            g.details += 1;
            if g.first_line == 0 {
                g.first_line = line;
            }
            if g.sums.is_empty() {
                g.sums = vec![None; SUM_ROLES.len()];
            }
            for (s, v) in g.sums.iter_mut().zip(values) {
                *s = add(*s, v);
            }
        }
    }
}

/// F318: a 第6表 line repeating an earlier one (same user, date, code, start, office, 明細判別,
/// 枝番), reported at the repeat with the line it repeats.
fn duplicate_lines(c: &mut Checker<'_>) {
    let mut hashes = std::mem::take(&mut c.rules.line_hashes);
    hashes.sort_unstable();
    let mut first = 0;
    let mut repeats = Vec::new();
    for (k, &(h, line)) in hashes.iter().enumerate() {
        if k > 0 && hashes[k - 1].0 == h {
            repeats.push((line, first));
        } else {
            first = line;
        }
    }
    // In line order, so that the per-code cap keeps the first repeats.
    repeats.sort_unstable();
    for (line, at) in repeats {
        c.push(
            Code::F318,
            line,
            None,
            format!("{at}行目と同じ利用者・日付・サービスコード・開始時刻・事業所の行です（重複）"),
            format!("duplicate of line {at}: same user, date, code, start and office"),
        );
    }
}

/// Rules that need the whole file.
pub(crate) fn finish(c: &mut Checker<'_>, l: &'static Layout) {
    let Some(kind) = c.kind else { return };
    if kind == FileKind::Upplan && c.rules.records > 0 && !c.rules.recipient_seen {
        if let Some(n) = c.name {
            c.sink.push(
                Code::F312,
                None,
                None,
                format!("送信先 {} のサービス行がありません", n.recipient),
                format!("no service line of the recipient office {}", n.recipient),
            );
        }
    }
    if matches!(kind, FileKind::Upplan | FileKind::Upjsk) {
        duplicate_lines(c);
    }
    if kind != FileKind::Upsikyu {
        return;
    }
    let users = std::mem::take(&mut c.rules.users);
    let col = |i: usize| l.pos(SUM_ROLES[i]).map(|p| &l.items[p]);
    for ((_, insured), u) in &users {
        if u.totals.len() != 1 {
            let (ja, en) = if u.totals.is_empty() {
                (
                    format!("被保険者 {insured} の合計行（サービスコード 999999）がありません"),
                    format!("no total row 999999 for insured {insured}"),
                )
            } else {
                (
                    format!(
                        "被保険者 {insured} の合計行（999999）が {} 行あります",
                        u.totals.len()
                    ),
                    format!("{} total rows 999999 for insured {insured}", u.totals.len()),
                )
            };
            c.push(
                Code::F313,
                u.totals.get(1).map_or(u.first_line, |t| t.0),
                c.item(Role::ServiceCode),
                ja,
                en,
            );
        }
        let mut grand: Vec<Option<u64>> = vec![None; SUM_ROLES.len()];
        for ((provider, sk), g) in &u.groups {
            if g.details > 1 && g.subtotal.is_none() {
                c.push(Code::F315, g.first_line, c.item(Role::ServiceCode),
                    format!("事業所 {provider} のサービス種類 {sk} は {} 行あるため小計行 {sk}AAAA が必要です", g.details),
                    format!("office {provider} kind {sk} has {} lines and needs a subtotal row {sk}AAAA", g.details));
            }
            let level: Vec<Option<u64>> = match &g.subtotal {
                Some((sline, vals)) => {
                    for (i, (sv, dv)) in vals.iter().zip(&g.sums).enumerate() {
                        if let (Some(sv), Some(dv), Some(item)) = (sv, dv, col(i)) {
                            if sv != dv {
                                c.push(
                                    Code::F316,
                                    *sline,
                                    Some(item),
                                    format!(
                                        "小計 {sk}AAAA の「{}」{sv} が明細の合計 {dv} と違います",
                                        item.name
                                    ),
                                    format!(
                                        "subtotal {sk}AAAA {} is {sv}, the lines sum to {dv}",
                                        item.name
                                    ),
                                );
                            }
                        }
                    }
                    vals.iter().zip(&g.sums).map(|(s, d)| s.or(*d)).collect()
                }
                None => g.sums.clone(),
            };
            for (gv, lv) in grand.iter_mut().zip(level) {
                *gv = add(*gv, lv);
            }
        }
        if let Some((tline, vals)) = u.totals.first() {
            for (i, (tv, gv)) in vals.iter().zip(&grand).enumerate() {
                if let (Some(tv), Some(gv), Some(item)) = (tv, gv, col(i)) {
                    if tv != gv {
                        c.push(
                            Code::F316,
                            *tline,
                            Some(item),
                            format!("合計行の「{}」{tv} が各行の合計 {gv} と違います", item.name),
                            format!("total row {} is {tv}, the lines sum to {gv}", item.name),
                        );
                    }
                }
            }
        }
    }
}
