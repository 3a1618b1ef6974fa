//! Valid example files of every kind Renkei has a layout for, with correct names — for demos,
//! tests and vendors. Every generated unit validates without errors (tested).

use renkei_ids::{days_in_month, FileSeq, OfficeNumber, ServiceKindCode, YearMonth};

use crate::kind::{CsvVersion, FileKind};
use crate::layout::{layout, Layout, Role};
use crate::model::RecordBuilder;
use crate::name::{FileName, NameGeneration};
use crate::write::{write_file, FileData, WriteError};

/// Why a sample cannot be generated.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SampleError {
    /// The kind has no item table (the family-structure image) or none in the CSV version of
    /// the month (the 介護予防 files and 第3表 exist from 202407).
    #[error("{0} の項目定義がない（またはこの対象年月のCSVバージョンにない）ため例を作れません / no layout for {0} in this version, no sample")]
    NoLayout(FileKind),
    /// Writing failed (a bug: sample data is MS932).
    #[error(transparent)]
    Write(#[from] WriteError),
}

/// An office and its service kind, as they appear in file names.
pub type Party = (OfficeNumber, ServiceKindCode);

const INSURER: &str = "131011"; // 千代田区 (check digit 1)
const INSURED: &str = "0000012345";

fn equipment_office() -> OfficeNumber {
    "1370000003".parse().expect("constant office number")
}

/// The kinds `sample_unit` can generate (every CSV kind; the 介護予防 kinds and 第3表 only for
/// service months of CSV version 202407).
pub fn sample_kinds() -> Vec<FileKind> {
    FileKind::ALL.into_iter().filter(|k| k.is_csv()).collect()
}

/// Whether `sample_unit` can generate `kind` for a service month of `version`.
pub fn can_sample(kind: FileKind, version: CsvVersion) -> bool {
    kind.is_csv() && layout(kind, version).is_some()
}

/// Default parties: a 居宅介護支援事業所 (43) and a 訪問介護事業所 (11).
pub fn default_parties() -> (Party, Party) {
    let p = |o: &str, k: &str| (o.parse().expect("constant"), k.parse().expect("constant"));
    (p("1370000001", "43"), p("1370000002", "11"))
}

/// The ファイル連番 `n` seconds after `seq` (within the same day; clamps at 23:59:59).
pub fn seq_plus(seq: &FileSeq, n: u32) -> FileSeq {
    let s = seq.as_str();
    let secs: u32 = s[8..10].parse::<u32>().unwrap_or(0) * 3600
        + s[10..12].parse::<u32>().unwrap_or(0) * 60
        + s[12..14].parse::<u32>().unwrap_or(0);
    let t = (secs + n).min(86_399);
    format!("{}{:02}{:02}{:02}", &s[..8], t / 3600, t / 60 % 60, t % 60)
        .parse()
        .unwrap_or_else(|_| seq.clone())
}

/// Generate the 送信単位 `kind` belongs to, for service month `month` (which also decides the
/// CSV version), from `from` to `to`, with ファイル連番 `seq`. For 実績 kinds `from` is the
/// provider. Returns (name, bytes) per file.
pub fn sample_unit(
    kind: FileKind,
    month: YearMonth,
    from: &Party,
    to: &Party,
    seq: &FileSeq,
) -> Result<Vec<(FileName, Vec<u8>)>, SampleError> {
    use FileKind::*;
    let version = CsvVersion::for_month(month);
    if !can_sample(kind, version) {
        return Err(SampleError::NoLayout(kind));
    }
    let kinds: Vec<FileKind> = match kind {
        Upplan | Upsikyu | Uphosoku => vec![Upplan, Upsikyu, Uphosoku],
        Up1kyo | Up2kyo | Up3kyo if version == CsvVersion::V202407 => {
            vec![Up1kyo, Up2kyo, Up3kyo, Uphosoku]
        }
        Up1kyo | Up2kyo | Up3kyo => vec![Up1kyo, Up2kyo, Uphosoku],
        Upkihon | UpkihonSub1 | UpkihonSub2 => vec![Upkihon, UpkihonSub1, UpkihonSub2],
        Upyobo | UpyoboSub => vec![Upyobo, UpyoboSub],
        k => vec![k],
    };
    let gen = if version == CsvVersion::V202407 {
        NameGeneration::WithServiceKinds
    } else {
        NameGeneration::WithoutServiceKinds
    };
    let ctx = Ctx { month, from, to };
    let care_plan = kinds.contains(&Up1kyo);
    let mut out = Vec::new();
    for k in kinds {
        let l = layout(k, version).ok_or(SampleError::NoLayout(k))?;
        let file_month = match k {
            Uphosoku if care_plan => None,
            Upplan | Upjsk | Dltplan | Dltjsk | Upsikyu | Uphosoku => Some(month),
            _ => None,
        };
        let name = FileName::new(k, file_month, from.clone(), to.clone(), seq.clone())
            .with_generation(gen);
        let records = ctx.records(k, l, care_plan);
        let bytes = write_file(&FileData {
            name: name.clone(),
            version,
            records,
        })?;
        out.push((name, bytes));
    }
    Ok(out)
}

/// One unit of every kind with a layout (care plan, service use, both deletes, 実績 and its
/// delete), with consecutive ファイル連番 in import order.
pub fn sample_all(
    month: YearMonth,
    cm: &Party,
    provider: &Party,
    seq: &FileSeq,
) -> Result<Vec<(FileName, Vec<u8>)>, SampleError> {
    use FileKind::*;
    let mut out = Vec::new();
    for (i, k) in [Up1kyo, Upplan, Dlt1kyo, Dltplan, Upjsk, Dltjsk]
        .into_iter()
        .enumerate()
    {
        let s = seq_plus(seq, i as u32);
        let (from, to) = if k.sent_by_provider() {
            (provider, cm)
        } else {
            (cm, provider)
        };
        out.extend(sample_unit(k, month, from, to, &s)?);
    }
    Ok(out)
}

struct Ctx<'a> {
    month: YearMonth,
    from: &'a Party,
    to: &'a Party,
}

impl Ctx<'_> {
    fn date(&self, day: u8) -> String {
        format!("{}{day:02}", self.month)
    }
    fn prev_month_date(&self, day: u8) -> String {
        let (y, m) = (self.month.year(), self.month.month());
        let (py, pm) = if m == 1 { (y - 1, 12) } else { (y, m - 1) };
        format!("{py:04}{pm:02}{day:02}")
    }
    /// The care manager office and the provider office of the exchange.
    fn cm_and_provider(&self, kind: FileKind) -> (&Party, &Party) {
        if kind.sent_by_provider() {
            (self.to, self.from)
        } else {
            (self.from, self.to)
        }
    }

    fn base(&self, l: &'static Layout) -> RecordBuilder {
        RecordBuilder::new(l)
            .role(Role::Insurer, INSURER)
            .role(Role::Insured, INSURED)
    }

    fn records(&self, kind: FileKind, l: &'static Layout, care_plan: bool) -> Vec<Vec<String>> {
        use FileKind::*;
        let (cm, provider) = self.cm_and_provider(kind);
        let plan_date = self.date(1);
        let m = self.month.to_string();
        match kind {
            Upplan | Upjsk => self.service_lines(kind, l),
            Upsikyu => self.summary_lines(l),
            Dltplan => vec![self.base(l).role(Role::Month, m).build()],
            Dltjsk => vec![self
                .base(l)
                .role(Role::Month, m)
                .role(Role::Provider, provider.0.as_str())
                .role(Role::Kind, provider.1.as_str())
                .build()],
            Dlt1kyo => vec![self.base(l).role(Role::PlanDate, plan_date).build()],
            Uphosoku => vec![self
                .base(l)
                .role(Role::PlanDate, if care_plan { plan_date } else { "00000000".into() })
                .role(Role::Kana, "タカハシ ハナコ")
                .role(Role::Name, "髙橋 花子")
                .role(Role::Sex, "2")
                .role(Role::Birth, "19400123")
                .no(9, "100-0001")
                .role(Role::Address1, "東京都千代田区千代田１－１")
                .no(12, "03-0000-0000")
                .no(13, self.prev_month_date(10))
                .no(16, "2")
                .role(Role::CareLevel, "22")
                .role(Role::Limit, "19705")
                .no(60, cm.0.as_str())
                .role(Role::Updater, cm.0.as_str())
                .role(Role::Month, if care_plan { "000000".into() } else { m })
                .build()],
            Up1kyo => vec![self
                .base(l)
                .role(Role::Created, plan_date.clone())
                .no(5, "100-0001")
                .no(6, "東京都千代田区千代田１－１")
                .role(Role::Planner, "連携 太郎")
                .role(Role::CmName, "れんけい居宅介護支援事業所")
                .no(10, "100-0002")
                .no(11, "東京都千代田区千代田２－２")
                .role(Role::PlanOffice, cm.0.as_str())
                .role(Role::PlanDate, plan_date.clone())
                .no(15, "20230401")
                .no(16, "21")
                .no(17, "2")
                .no(18, self.prev_month_date(10))
                .no(19, self.date(1))
                .no(20, format!("{}1231", self.month.year() + 1))
                .role(Role::CareLevel, "22")
                .no(22, "本人：「自宅で、できることは自分で続けたい」\r\n家族：「安全に入浴してほしい」")
                .no(23, "特になし")
                .no(24, "転倒を防ぎ、入浴と外出の機会を保つ。緊急時は長女（\"連絡先\"は別紙）へ連絡する")
                .no(25, "3")
                .no(26, "日中独居のため")
                .role(Role::Updater, cm.0.as_str())
                .build()],
            Up2kyo => {
                let row = |need: &str, need_text: &str, goal: &str, long: &str, short: &str, content: &str, text: &str, office: &str, office_name: &str| {
                    self.base(l)
                        .role(Role::Created, plan_date.clone())
                        .role(Role::PlanDate, plan_date.clone())
                        .role(Role::NeedNo, need)
                        .no(7, need_text)
                        .role(Role::GoalNo, goal)
                        .no(9, long)
                        .no(10, short)
                        .no(11, if long.is_empty() { "" } else { "6か月" })
                        .no(12, if short.is_empty() { "" } else { "3か月" })
                        .role(Role::ContentNo, content)
                        .no(14, text)
                        .no(15, if office.is_empty() { "" } else { "Y" })
                        .no(16, if office.is_empty() { "家族" } else { "訪問介護" })
                        .role(Role::Provider, office)
                        .no(18, office_name)
                        .no(19, "週2回")
                        .no(20, "6か月")
                        .role(Role::Updater, cm.0.as_str())
                        .build()
                };
                vec![
                    row("1", "安全に入浴したい", "1", "週2回自宅で入浴できる", "介助で浴槽をまたげる", "1", "入浴介助", provider.0.as_str(), "れんけい訪問介護"),
                    row("1", "", "1", "", "", "2", "見守り・声かけ", "", "長女"),
                    row("2", "転ばずに歩きたい", "1", "屋内を杖で歩ける", "手すりを使って移動できる", "1", "手すり貸与", equipment_office().as_str(), "れんけい福祉用具"),
                ]
            }
            Up3kyo => {
                let b = || self.base(l).role(Role::Created, plan_date.clone()).role(Role::PlanDate, plan_date.clone());
                vec![
                    b().role(Role::ServiceText, "訪問介護").role(Role::Weekday, "1").role(Role::Start, "1000").role(Role::End, "1030").build(),
                    b().role(Role::ServiceText, "訪問介護").role(Role::Weekday, "4").role(Role::Start, "1000").role(Role::End, "1100").build(),
                    b().role(Role::Activity, "起床").role(Role::ActivityStart, "0630").role(Role::ActivityEnd, "0630").build(),
                    b().role(Role::Activity, "就寝").role(Role::ActivityStart, "2100").role(Role::ActivityEnd, "2100").build(),
                    b().role(Role::OtherService, "福祉用具貸与（手すり）").build(),
                ]
            }
            Upkihon | UpkihonSub1 | UpkihonSub2 | Dltkihon => self.prevention_basic(kind, l),
            Upyobo | UpyoboSub | Dltyobo => self.prevention_plan(kind, l),
            _ => Vec::new(),
        }
    }

    /// 利用者基本情報, its 別表1/別表2 and its delete file, keyed by 相談日.
    fn prevention_basic(&self, kind: FileKind, l: &'static Layout) -> Vec<Vec<String>> {
        use FileKind::*;
        let consult = self.prev_month_date(10);
        let b = || self.base(l).role(Role::ConsultDate, consult.clone());
        match kind {
            Upkihon => vec![b()
                .no(5, "1")
                .no(6, "1")
                .no(7, "連携 花子")
                .no(8, "01")
                .no(10, "01")
                .no(12, "01")
                .role(Role::Kana, "タカハシ ハナコ")
                .role(Role::Name, "髙橋 花子")
                .role(Role::Sex, "2")
                .role(Role::Birth, "19400123")
                .role(Role::Address1, "東京都千代田区千代田１－１")
                .no(19, "03-0000-0000")
                .no(21, "11")
                .no(22, "02")
                .no(23, "12")
                .no(24, self.prev_month_date(1))
                .no(25, format!("{}0331", self.month.year() + 1))
                .no(26, "01")
                .no(27, "1")
                .no(28, self.prev_month_date(5))
                .no(29, "0")
                .no(30, "0")
                .no(31, "0")
                .no(32, "0")
                .no(34, "05")
                .no(35, "1")
                .no(36, "2")
                .no(37, "1")
                .no(38, "0")
                .no(39, "0")
                .no(40, "0")
                .no(42, "髙橋 一郎")
                .no(44, "03-0000-0003")
                .no(45, "長男")
                .no(46, "髙橋 一郎")
                .no(47, "長男")
                .no(48, "東京都千代田区千代田３－３")
                .no(49, "090-0000-0000")
                .no(63, "長男と二人暮らし。長男は日中仕事で不在")
                .no(64, "元教員。\"読書会\"を主宰していた")
                .no(65, "午前は散歩、午後は読書")
                .no(66, "読書、囲碁")
                .no(67, "近所の友人と週1回会う")
                .no(68, "なし")
                .no(69, "配食サービス（週3回）")
                .no(70, consult.clone())
                .no(71, "髙橋 花子")
                .build()],
            UpkihonSub1 => [
                ("6:00", "起床", ""),
                ("7:30", "朝食", "長男も同席"),
                ("10:00", "散歩", ""),
            ]
            .into_iter()
            .map(|(t, own, family)| b().no(5, t).no(6, own).no(7, family).build())
            .collect(),
            UpkihonSub2 => vec![
                b().no(5, "H12年10月")
                    .no(6, "高血圧症")
                    .no(7, "れんけいクリニック 山田医師")
                    .no(8, "1")
                    .no(9, "03-0000-0001")
                    .no(10, "01")
                    .no(11, "降圧剤の服用")
                    .build(),
                b().no(5, "R2年4月")
                    .no(6, "変形性膝関節症")
                    .no(7, "れんけい整形外科")
                    .no(8, "2")
                    .no(9, "03-0000-0002")
                    .no(10, "02")
                    .build(),
            ],
            _ => vec![b().build()],
        }
    }

    /// 介護予防サービス・支援計画書, its 別表 and its delete file, keyed by 計画作成(変更)日.
    fn prevention_plan(&self, kind: FileKind, l: &'static Layout) -> Vec<Vec<String>> {
        use FileKind::*;
        let plan_date = self.date(1);
        let b = || self.base(l).role(Role::PlanDate, plan_date.clone());
        match kind {
            Upyobo => {
                let mut r = b()
                    .no(5, "1")
                    .no(6, "2")
                    .no(7, "0001")
                    .role(Role::Name, "髙橋 花子")
                    .no(9, self.prev_month_date(1))
                    .no(10, self.prev_month_date(1))
                    .no(11, format!("{}0331", self.month.year() + 1))
                    .no(12, "21")
                    .no(13, "2")
                    .no(14, "1")
                    .no(15, "包括 一子")
                    .no(16, "連携 太郎")
                    .no(17, "れんけい居宅介護支援事業所")
                    .no(18, "東京都千代田区千代田２－２")
                    .no(19, "03-0000-0002")
                    .no(20, "20240401")
                    .no(21, "れんけい地域包括支援センター")
                    .no(22, "朝の散歩を続ける")
                    .no(23, "一人で近所の図書館に通える")
                    .no(41, "膝の痛みに配慮し、無理のない運動を続ける")
                    .no(42, "運動機能の維持と外出の機会の確保を図る")
                    .no(55, "計画に同意します")
                    .no(56, plan_date.clone())
                    .no(57, "髙橋 花子");
                // Four areas: 現在の状況, 意欲・意向, 課題の有無, 課題（背景・原因）.
                for (i, (now, wish, issue, why)) in [
                    (
                        "杖で屋内を歩ける",
                        "散歩を続けたい",
                        "1",
                        "膝の痛みで外出が減った",
                    ),
                    ("家事はほぼ自分でできる", "料理を続けたい", "2", ""),
                    (
                        "友人と週1回会う",
                        "読書会に戻りたい",
                        "1",
                        "外出の機会が少ない",
                    ),
                    ("血圧は安定", "服薬を続ける", "2", ""),
                ]
                .into_iter()
                .enumerate()
                {
                    let at = 24 + 4 * i as u16;
                    r = r
                        .no(at, now)
                        .no(at + 1, wish)
                        .no(at + 2, issue)
                        .no(at + 3, why);
                }
                for (i, (count, need)) in [
                    ("3", "1"),
                    ("0", "2"),
                    ("1", "2"),
                    ("2", "1"),
                    ("0", "2"),
                    ("0", "2"),
                ]
                .into_iter()
                .enumerate()
                {
                    r = r.no(43 + i as u16, count).no(49 + i as u16, need);
                }
                vec![r.build()]
            }
            UpyoboSub => {
                let row = |need: &str,
                           goal: &str,
                           service: &str,
                           first_need: bool,
                           first_goal: bool,
                           kind_: &str,
                           office: &str| {
                    let mut r = b().no(5, need).no(10, goal).no(14, service);
                    if first_need {
                        r = r
                            .no(6, "膝の痛みで外出が減り、体力が落ちるおそれがある")
                            .no(7, "週2回の通所で運動の機会を持つことを提案")
                            .no(8, "本人：散歩を続けたい")
                            .no(9, "近所を30分歩ける");
                    }
                    if first_goal {
                        r = r
                            .no(11, "膝に負担をかけない運動")
                            .no(12, "毎朝の散歩（本人）")
                            .no(13, "介護予防通所リハビリテーション");
                    }
                    r.no(15, kind_).no(16, office).no(17, "6か月").build()
                };
                vec![
                    row(
                        "1",
                        "1",
                        "1",
                        true,
                        true,
                        "介護予防通所リハビリテーション",
                        "れんけい通所リハ",
                    ),
                    row(
                        "1",
                        "1",
                        "2",
                        false,
                        false,
                        "地域の体操教室",
                        "社会福祉協議会",
                    ),
                ]
            }
            _ => vec![b().build()],
        }
    }

    /// (day, code, units, start, end, provider, name, kind) of the month's plan.
    #[allow(clippy::type_complexity)]
    fn plan(
        &self,
        provider: &OfficeNumber,
    ) -> Vec<(
        u8,
        &'static str,
        u32,
        &'static str,
        &'static str,
        OfficeNumber,
        &'static str,
    )> {
        let days = days_in_month(self.month.year(), self.month.month());
        let mut v = Vec::new();
        for d in 1..=days {
            // Weekday of day d (Zeller-like via days since 1970-01-01 Thursday).
            let wd = weekday(self.month.year(), self.month.month(), d);
            if wd == 1 {
                v.push((
                    d,
                    "111111",
                    244,
                    "1000",
                    "1030",
                    provider.clone(),
                    "れんけい訪問介護",
                ));
            } else if wd == 4 {
                v.push((
                    d,
                    "111211",
                    387,
                    "1000",
                    "1100",
                    provider.clone(),
                    "れんけい訪問介護",
                ));
            }
        }
        v.push((
            1,
            "171001",
            500,
            "9999",
            "9999",
            equipment_office(),
            "れんけい福祉用具",
        ));
        v
    }

    fn service_lines(&self, kind: FileKind, l: &'static Layout) -> Vec<Vec<String>> {
        let (cm, provider) = self.cm_and_provider(kind);
        let results = kind == FileKind::Upjsk;
        let created = if results {
            self.date(days_in_month(self.month.year(), self.month.month()))
        } else {
            self.prev_month_date(25)
        };
        self.plan(&provider.0)
            .into_iter()
            .filter(|p| !results || p.5 == provider.0)
            .map(|(d, code, units, start, end, office, office_name)| {
                let equipment = code.starts_with("17");
                self.base(l)
                    .role(Role::Created, created.clone())
                    .role(Role::Month, self.month.to_string())
                    .role(Role::PlanOffice, cm.0.as_str())
                    .role(Role::PlanPerson, "連携 太郎")
                    .role(Role::Units, units.to_string())
                    .role(Role::ServiceDate, self.date(d))
                    .role(Role::Start, start)
                    .role(Role::End, end)
                    .role(Role::Count, "1")
                    .role(Role::ServiceCode, code)
                    .role(Role::Tais, if equipment { "00170-000123" } else { "" })
                    .role(
                        Role::Equipment,
                        if equipment {
                            "手すり（据置型）"
                        } else {
                            ""
                        },
                    )
                    .role(Role::Provider, office.as_str())
                    .role(Role::ProviderName, office_name)
                    .role(Role::Over30, "0")
                    .role(
                        Role::Updater,
                        if results {
                            provider.0.as_str()
                        } else {
                            cm.0.as_str()
                        },
                    )
                    .build()
            })
            .collect()
    }

    fn summary_lines(&self, l: &'static Layout) -> Vec<Vec<String>> {
        let (cm, provider) = (self.from, self.to);
        let plan = self.plan(&provider.0);
        // (office, office name, first code, [(code, units, count)])
        type Group<'a> = (OfficeNumber, &'a str, &'a str, Vec<(&'a str, u32, u64)>);
        let mut groups: Vec<Group<'_>> = Vec::new();
        for (_, code, units, _, _, office, name) in &plan {
            let kind = &code[..2];
            let g = match groups
                .iter_mut()
                .position(|g| g.0 == *office && &g.2[..2] == kind)
            {
                Some(i) => &mut groups[i],
                None => {
                    groups.push((office.clone(), name, code, Vec::new()));
                    groups.last_mut().expect("just pushed")
                }
            };
            match g.3.iter_mut().find(|x| x.0 == *code) {
                Some(x) => x.2 += 1,
                None => g.3.push((code, *units, 1)),
            }
        }
        let row = |office: &str, name: &str, code: &str| {
            self.base(l)
                .role(Role::Created, self.prev_month_date(25))
                .role(Role::Month, self.month.to_string())
                .role(Role::ProviderName, name)
                .role(Role::Provider, office)
                .role(Role::ServiceCode, code)
                .role(Role::Over30, "0")
                .role(Role::Updater, cm.0.as_str())
        };
        let money = |b: RecordBuilder, su: u64| {
            let cost = su * 1140 / 100;
            let claim = cost * 90 / 100;
            b.role(Role::UnitPrice, "11.40")
                .role(Role::TotalCost, cost.to_string())
                .role(Role::BenefitRate, "90")
                .role(Role::Claim, claim.to_string())
                .role(Role::Copay, (cost - claim).to_string())
                .role(Role::FullCopay, "0")
        };
        let units_cols = |b: RecordBuilder, su: u64| {
            let s = su.to_string();
            b.role(Role::ServiceUnits, s.clone())
                .role(Role::BenefitUnits, s.clone())
                .role(Role::KindOver, "0")
                .role(Role::KindWithin, s.clone())
                .role(Role::ClassOver, "0")
                .role(Role::ClassWithin, s)
        };
        let mut out = Vec::new();
        let mut grand = 0u64;
        for (office, name, first_code, lines) in &groups {
            let subtotal: u64 = lines.iter().map(|(_, u, n)| u64::from(*u) * n).sum();
            grand += subtotal;
            for (code, units, n) in lines {
                let su = u64::from(*units) * n;
                let mut b = units_cols(row(office.as_str(), name, code), su)
                    .role(Role::Units, units.to_string())
                    .role(Role::Count, n.to_string());
                if code.starts_with("17") {
                    b = b
                        .role(Role::Tais, "00170-000123")
                        .role(Role::Equipment, "手すり（据置型）");
                }
                if lines.len() == 1 {
                    b = money(b, su);
                }
                out.push(b.build());
            }
            if lines.len() > 1 {
                let code = format!("{}AAAA", &first_code[..2]);
                let b = units_cols(row(office.as_str(), name, &code), subtotal)
                    .role(Role::Units, "0")
                    .role(Role::Count, "0");
                out.push(money(b, subtotal).build());
            }
        }
        let total = row("9999999999", "", "999999")
            .role(Role::Units, "0")
            .role(Role::Count, "0");
        // The grand total's money is the sum of the per-group amounts (each truncated).
        let per_group: Vec<u64> = groups
            .iter()
            .map(|g| g.3.iter().map(|(_, u, n)| u64::from(*u) * n).sum())
            .collect();
        let cost: u64 = per_group.iter().map(|su| su * 1140 / 100).sum();
        let claim: u64 = per_group.iter().map(|su| su * 1140 / 100 * 90 / 100).sum();
        let total = units_cols(total, grand)
            .role(Role::TotalCost, cost.to_string())
            .role(Role::Claim, claim.to_string())
            .role(Role::Copay, (cost - claim).to_string())
            .role(Role::FullCopay, "0");
        out.push(total.build());
        out
    }
}

/// ISO weekday (1 = Monday … 7 = Sunday) of a Gregorian date.
pub fn weekday(year: u16, month: u8, day: u8) -> u8 {
    // Sakamoto's method.
    const T: [i32; 12] = [0, 3, 2, 5, 0, 3, 5, 1, 4, 6, 2, 4];
    let mut y = i32::from(year);
    if month < 3 {
        y -= 1;
    }
    let w = (y + y / 4 - y / 100 + y / 400 + T[usize::from(month) - 1] + i32::from(day)) % 7; // 0 = Sunday
    if w == 0 {
        7
    } else {
        w as u8
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weekdays() {
        assert_eq!(weekday(2025, 4, 1), 2); // Tuesday
        assert_eq!(weekday(2024, 2, 29), 4);
        assert_eq!(weekday(2026, 11, 25), 3);
    }

    #[test]
    fn seq_arithmetic() {
        let s: FileSeq = "20250325235958".parse().unwrap();
        assert_eq!(seq_plus(&s, 1).as_str(), "20250325235959");
        assert_eq!(seq_plus(&s, 5).as_str(), "20250325235959");
    }
}
