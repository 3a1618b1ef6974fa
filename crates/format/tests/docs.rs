//! docs/spec/validation-codes.md lists every finding code with its severity.

use renkei_format::{Code, Severity};

#[test]
fn every_code_is_documented_with_its_severity() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../docs/spec/validation-codes.md");
    let doc = std::fs::read_to_string(&path).expect("docs/spec/validation-codes.md");
    for code in Code::ALL {
        let sev = match code.severity() {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        let row = format!("| {} | {} | {} |", code.as_str(), sev, code.title_ja());
        assert!(
            doc.contains(&row),
            "missing or outdated row for {code}: {row}"
        );
    }
}
