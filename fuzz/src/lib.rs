//! The body shared by the libFuzzer target and the stable driver.

use renkei_format::{diff, read_file, render_html, validate_file, validate_units};

/// File names the first input byte chooses from (every kind, both name generations).
pub const NAMES: [&str; 20] = [
    "UPPLAN_202505_1370000001_43_1370000002_11_20250425090000.CSV",
    "UPJSK_202505_1370000002_11_1370000001_43_20250425090000.CSV",
    "UPSIKYU_202505_1370000001_43_1370000002_11_20250425090000.CSV",
    "UPHOSOKU_202505_1370000001_43_1370000002_11_20250425090000.CSV",
    "UPHOSOKU_000000_1370000001_43_1370000002_11_20250425090000.CSV",
    "UP1KYO_1370000001_43_1370000002_11_20250425090000.CSV",
    "UP2KYO_1370000001_43_1370000002_11_20250425090000.CSV",
    "UP3KYO_1370000001_43_1370000002_11_20250425090000.CSV",
    "DLTPLAN_202505_1370000001_43_1370000002_11_20250425090000.CSV",
    "DLTJSK_202505_1370000002_11_1370000001_43_20250425090000.CSV",
    "UPPLAN_202503_1370000001_1370000002_20250325090000.CSV",
    "not-a-standard-name.csv",
    "UPKIHON_1370000001_43_1370000002_11_20250425090000.CSV",
    "UPKIHON_SUB1_1370000001_43_1370000002_11_20250425090000.CSV",
    "UPKIHON_SUB2_1370000001_43_1370000002_11_20250425090000.CSV",
    "DLTKIHON_1370000001_43_1370000002_11_20250425090000.CSV",
    "UPYOBO_1370000001_43_1370000002_11_20250425090000.CSV",
    "UPYOBO_SUB_1370000001_43_1370000002_11_20250425090000.CSV",
    "DLTYOBO_1370000001_43_1370000002_11_20250425090000.CSV",
    "UPKIHON_IMAGE_1370000001_43_1370000002_11_20250425090000_0001.JPG",
];

/// The selector byte that makes [`run`] read a file under a name of the same kind and name
/// generation as `file_name` (for turning the conformance corpus into seeds); a name that is
/// not the standard's gets the non-standard one.
pub fn selector_for(file_name: &str) -> u8 {
    let parse = |n: &str| renkei_format::FileName::parse(n).ok();
    let Some(want) = parse(file_name) else {
        return 11;
    };
    let same = |n: &renkei_format::FileName| {
        n.kind == want.kind
            && n.generation == want.generation
            && n.month.is_some() == want.month.is_some()
    };
    NAMES
        .iter()
        .position(|n| parse(n).is_some_and(|n| same(&n)))
        .or_else(|| {
            NAMES
                .iter()
                .position(|n| parse(n).is_some_and(|n| n.kind == want.kind))
        })
        .and_then(|i| u8::try_from(i).ok())
        .unwrap_or(11)
}

/// Read, validate, group, render, diff and round-trip one input. Panics on a broken invariant.
pub fn run(data: &[u8]) {
    let (name, bytes) = match data.split_first() {
        Some((&b, rest)) => (NAMES[usize::from(b) % NAMES.len()], rest),
        None => (NAMES[0], data),
    };
    let report = validate_file(name, bytes);
    let _ = validate_units(std::slice::from_ref(&report));
    if let Ok(doc) = read_file(name, bytes) {
        assert_eq!(doc.csv.to_bytes(), bytes, "unchanged file must round-trip");
        let _ = render_html(&doc);
        assert!(
            diff(&doc, &doc).map(|d| d.is_empty()).unwrap_or(false),
            "a file equals itself"
        );
    }
}
