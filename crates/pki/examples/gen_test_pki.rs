//! Write a complete test PKI (see `renkei_pki::testpki`) to a directory.
//!
//! ```text
//! cargo run -p renkei-pki --features testpki --example gen_test_pki -- target/test-pki
//! ```

fn main() -> std::process::ExitCode {
    let Some(dir) = std::env::args_os().nth(1) else {
        eprintln!("使い方 / usage: gen_test_pki <出力ディレクトリ / output directory>");
        return std::process::ExitCode::from(2);
    };
    let pki = renkei_pki::testpki::TestPki::generate();
    match pki.write_to(std::path::Path::new(&dir)) {
        Ok(()) => {
            println!(
                "テスト用PKIを書き出しました / wrote the test PKI to {}",
                dir.to_string_lossy()
            );
            std::process::ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("{e}");
            std::process::ExitCode::FAILURE
        }
    }
}
