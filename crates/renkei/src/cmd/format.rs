//! `renkei validate | render | diff | sample`: the standard-format commands (renkei-format).
//!
//! Each command has a `*_to` variant writing to given streams and returning the exit code as a
//! number, so tests can run it in-process; the public functions bind stdout/stderr.

use std::fs;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{anyhow, Context};
use renkei_format::sample::{default_parties, sample_kinds, Party};
use renkei_format::{
    diff as diff_files, read_file, render_html, sample_all, sample_unit, validate_file,
    validate_units, FileKind, Report, Severity,
};
use renkei_ids::{FileSeq, OfficeNumber, ServiceKindCode, YearMonth};

/// 標準仕様CSVを検査する / Validate standard CSV files
#[derive(Debug, Clone, clap::Args)]
pub struct ValidateArgs {
    /// 結果をJSONで出力 / print the result as JSON
    #[arg(long)]
    pub json: bool,
    /// 検査するファイルまたはフォルダ（フォルダは送信単位としても検査） / files or folders (a folder is also checked as a set of transmission units)
    #[arg(required = true, value_name = "PATH")]
    pub paths: Vec<PathBuf>,
}

/// 標準仕様CSVを帳票の見た目のHTMLにする / Render a standard CSV file as HTML that looks like the printed form
#[derive(Debug, Clone, clap::Args)]
pub struct RenderArgs {
    /// 表示するCSVファイル / the CSV file
    pub file: PathBuf,
    /// 出力するHTMLファイル（省略時は標準出力） / output HTML file (standard output when omitted)
    #[arg(short, long, value_name = "OUT.html")]
    pub output: Option<PathBuf>,
}

/// 2つのファイルを項目ごとに比べる（予定と実績、計画の新旧） / Compare two files item by item (plan vs results, two versions)
#[derive(Debug, Clone, clap::Args)]
pub struct DiffArgs {
    /// 比較元 / file A
    pub a: PathBuf,
    /// 比較先 / file B
    pub b: PathBuf,
    /// 結果をJSONで出力 / print the result as JSON
    #[arg(long)]
    pub json: bool,
    /// HTMLでも書き出す / also write the diff as HTML
    #[arg(long, value_name = "OUT.html")]
    pub html: Option<PathBuf>,
}

/// 正しい例ファイルを作る / Write valid example files
#[derive(Debug, Clone, clap::Args)]
pub struct SampleArgs {
    /// ファイル種別（例: UPPLAN、all） / file kind (e.g. UPPLAN, or all)
    #[arg(long, value_name = "KIND", required_unless_present = "list")]
    pub kind: Option<String>,
    /// 対象年月 YYYYMM（省略時は今月） / service month YYYYMM (default: this month)
    #[arg(long, value_name = "YYYYMM")]
    pub month: Option<YearMonth>,
    /// 送信元 事業所番号[:サービス種類] / sender office[:service kind]
    #[arg(long, value_name = "OFFICE[:KIND]")]
    pub from: Option<String>,
    /// 送信先 事業所番号[:サービス種類] / recipient office[:service kind]
    #[arg(long, value_name = "OFFICE[:KIND]")]
    pub to: Option<String>,
    /// ファイル連番 YYYYMMDDHHMMSS（省略時は現在時刻） / file sequence (default: now)
    #[arg(long, value_name = "YYYYMMDDHHMMSS")]
    pub seq: Option<FileSeq>,
    /// 出力先フォルダ / output folder
    #[arg(short, long, value_name = "DIR", required_unless_present = "list")]
    pub output: Option<PathBuf>,
    /// 作れる種別を一覧表示 / list the kinds
    #[arg(long)]
    pub list: bool,
}

/// Run `renkei validate`.
pub fn validate(args: &ValidateArgs) -> anyhow::Result<ExitCode> {
    Ok(ExitCode::from(validate_to(
        args,
        &mut io::stdout().lock(),
        &mut io::stderr().lock(),
    )?))
}

/// Run `renkei render`.
pub fn render(args: &RenderArgs) -> anyhow::Result<ExitCode> {
    Ok(ExitCode::from(render_to(
        args,
        &mut io::stdout().lock(),
        &mut io::stderr().lock(),
    )?))
}

/// Run `renkei diff`.
pub fn diff(args: &DiffArgs) -> anyhow::Result<ExitCode> {
    Ok(ExitCode::from(diff_to(
        args,
        &mut io::stdout().lock(),
        &mut io::stderr().lock(),
    )?))
}

/// Run `renkei sample`.
pub fn sample(args: &SampleArgs) -> anyhow::Result<ExitCode> {
    Ok(ExitCode::from(sample_to(args, &mut io::stdout().lock())?))
}

/// Largest file read; bigger ones are reported without being loaded.
const MAX_READ: u64 = 1 << 31;

fn read_limited(path: &Path) -> io::Result<Vec<u8>> {
    let mut buf = Vec::new();
    fs::File::open(path)?
        .take(MAX_READ + 1)
        .read_to_end(&mut buf)?;
    Ok(buf)
}

fn is_exchange_file(p: &Path) -> bool {
    p.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| e.eq_ignore_ascii_case("csv") || e.eq_ignore_ascii_case("jpg"))
}

/// `validate` writing findings to `out` and problems to `err`; returns 0, 1 or 2.
pub fn validate_to(
    args: &ValidateArgs,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> anyhow::Result<u8> {
    let mut unreadable = false;
    let mut reports: Vec<Report> = Vec::new();
    let mut folder_sets: Vec<(usize, usize)> = Vec::new();
    for p in &args.paths {
        if p.is_dir() {
            let mut files: Vec<PathBuf> = match fs::read_dir(p) {
                Ok(rd) => rd
                    .filter_map(|e| e.ok().map(|e| e.path()))
                    .filter(|f| f.is_file() && is_exchange_file(f))
                    .collect(),
                Err(e) => {
                    writeln!(
                        err,
                        "{}: フォルダを読めません / cannot read folder: {e}",
                        p.display()
                    )?;
                    unreadable = true;
                    continue;
                }
            };
            files.sort();
            let start = reports.len();
            for f in files {
                match read_limited(&f) {
                    Ok(bytes) => reports.push(validate_file(&f.display().to_string(), &bytes)),
                    Err(e) => {
                        writeln!(err, "{}: 読み込めません / cannot read: {e}", f.display())?;
                        unreadable = true;
                    }
                }
            }
            folder_sets.push((start, reports.len()));
        } else {
            match read_limited(p) {
                Ok(bytes) => reports.push(validate_file(&p.display().to_string(), &bytes)),
                Err(e) => {
                    writeln!(err, "{}: 読み込めません / cannot read: {e}", p.display())?;
                    unreadable = true;
                }
            }
        }
    }
    let units: Vec<_> = folder_sets
        .iter()
        .map(|&(a, b)| validate_units(&reports[a..b]))
        .collect();
    let unit_findings = units.iter().flat_map(|u| &u.findings);
    let all: Vec<_> = reports
        .iter()
        .flat_map(|r| &r.findings)
        .chain(unit_findings)
        .collect();
    let errors = all.iter().filter(|f| f.severity == Severity::Error).count();
    let warnings = all.len() - errors;
    if args.json {
        let doc = serde_json::json!({
            "files": reports,
            "units": units,
            "errors": errors,
            "warnings": warnings,
            "unreadable": unreadable,
        });
        writeln!(out, "{}", serde_json::to_string_pretty(&doc)?)?;
    } else {
        for f in &all {
            writeln!(out, "{f}")?;
        }
        writeln!(
            err,
            "{} ファイル: エラー {errors} 件、警告 {warnings} 件 / {} files: {errors} errors, {warnings} warnings",
            reports.len(),
            reports.len()
        )?;
    }
    Ok(if unreadable {
        2
    } else if errors > 0 {
        1
    } else {
        0
    })
}

/// `render` writing HTML to the output file or `out`; returns 0, 1 (not readable as the
/// standard) or 2 (I/O).
pub fn render_to(
    args: &RenderArgs,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> anyhow::Result<u8> {
    let bytes = match read_limited(&args.file) {
        Ok(b) => b,
        Err(e) => {
            writeln!(
                err,
                "{}: 読み込めません / cannot read: {e}",
                args.file.display()
            )?;
            return Ok(2);
        }
    };
    let doc = match read_file(&args.file.display().to_string(), &bytes) {
        Ok(d) => d,
        Err(e) => {
            writeln!(err, "{e}")?;
            return Ok(1);
        }
    };
    let html = render_html(&doc);
    match &args.output {
        Some(p) => fs::write(p, html)
            .with_context(|| format!("{} に書き込めません / cannot write", p.display()))?,
        None => out.write_all(html.as_bytes())?,
    }
    Ok(0)
}

/// `diff`: 0 when the files agree, 1 when they differ or cannot be compared, 2 on I/O errors.
pub fn diff_to(args: &DiffArgs, out: &mut dyn Write, err: &mut dyn Write) -> anyhow::Result<u8> {
    let mut docs = Vec::new();
    for p in [&args.a, &args.b] {
        let bytes = match read_limited(p) {
            Ok(b) => b,
            Err(e) => {
                writeln!(err, "{}: 読み込めません / cannot read: {e}", p.display())?;
                return Ok(2);
            }
        };
        match read_file(&p.display().to_string(), &bytes) {
            Ok(d) => docs.push(d),
            Err(e) => {
                writeln!(err, "{e}")?;
                return Ok(1);
            }
        }
    }
    let d = match diff_files(&docs[0], &docs[1]) {
        Ok(d) => d,
        Err(e) => {
            writeln!(err, "{e}")?;
            return Ok(1);
        }
    };
    if args.json {
        writeln!(out, "{}", serde_json::to_string_pretty(&d)?)?;
    } else {
        out.write_all(d.to_text().as_bytes())?;
    }
    if let Some(p) = &args.html {
        fs::write(p, d.to_html())
            .with_context(|| format!("{} に書き込めません / cannot write", p.display()))?;
    }
    Ok(if d.is_empty() { 0 } else { 1 })
}

fn party(s: Option<&str>, default: &Party) -> anyhow::Result<Party> {
    let Some(s) = s else {
        return Ok(default.clone());
    };
    let (office, kind) = match s.split_once(':') {
        Some((o, k)) => (o, Some(k)),
        None => (s, None),
    };
    let office: OfficeNumber = office.parse().map_err(|e| anyhow!("{e}"))?;
    let kind: ServiceKindCode = match kind {
        Some(k) => k.parse().map_err(|e| anyhow!("{e}"))?,
        None => default.1.clone(),
    };
    Ok((office, kind))
}

/// Current date and time in Japan (UTC+9) as (year, month, day, h, m, s).
fn now_jst() -> (i64, u32, u32, u64, u64, u64) {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
        + 9 * 3600;
    let days = (secs / 86_400) as i64;
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    let t = secs % 86_400;
    (y, m, d, t / 3600, t / 60 % 60, t % 60)
}

/// `sample`: writes files into the output folder and lists their names on `out`.
pub fn sample_to(args: &SampleArgs, out: &mut dyn Write) -> anyhow::Result<u8> {
    if args.list {
        for k in FileKind::ALL {
            let note = if !k.is_csv() {
                "（画像ファイルのため作成不可 / an image, cannot generate）"
            } else if !renkei_format::sample::can_sample(k, renkei_format::CsvVersion::V202208) {
                "（2025年4月以降の提供月のみ / service months from 2025-04 only）"
            } else {
                ""
            };
            writeln!(
                out,
                "{:<14} {} / {}{note}",
                k.prefix(),
                k.title_ja(),
                k.title_en()
            )?;
        }
        writeln!(
            out,
            "{:<14} 全種別を1送信単位ずつ / one unit of every kind",
            "all"
        )?;
        return Ok(0);
    }
    let kind = args.kind.as_deref().unwrap_or("all");
    let dir = args
        .output
        .as_ref()
        .ok_or_else(|| anyhow!("-o DIR が必要です / -o DIR is required"))?;
    let (y, m, d, h, mi, s) = now_jst();
    let month = match args.month {
        Some(m) => m,
        None => {
            YearMonth::new(y as u16, m as u8).ok_or_else(|| anyhow!("clock is out of range"))?
        }
    };
    let seq = match &args.seq {
        Some(s) => s.clone(),
        None => format!("{y:04}{m:02}{d:02}{h:02}{mi:02}{s:02}")
            .parse()
            .map_err(|e| anyhow!("{e}"))?,
    };
    let (cm, provider) = default_parties();
    let files = if kind.eq_ignore_ascii_case("all") {
        let from = party(args.from.as_deref(), &cm)?;
        let to = party(args.to.as_deref(), &provider)?;
        sample_all(month, &from, &to, &seq)?
    } else {
        let k: FileKind = kind.parse().map_err(|e| anyhow!("{e}"))?;
        if !sample_kinds().contains(&k) {
            return Err(anyhow!("{}", renkei_format::SampleError::NoLayout(k)));
        }
        let (dfrom, dto) = if k.sent_by_provider() {
            (&provider, &cm)
        } else {
            (&cm, &provider)
        };
        let from = party(args.from.as_deref(), dfrom)?;
        let to = party(args.to.as_deref(), dto)?;
        sample_unit(k, month, &from, &to, &seq)?
    };
    fs::create_dir_all(dir)
        .with_context(|| format!("{} を作れません / cannot create", dir.display()))?;
    for (name, bytes) in files {
        let path = dir.join(name.to_string());
        fs::write(&path, bytes)
            .with_context(|| format!("{} に書き込めません / cannot write", path.display()))?;
        writeln!(out, "{}", path.display())?;
    }
    Ok(0)
}
