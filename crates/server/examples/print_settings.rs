//! Prints every server setting with its default (used to write docs/CONFIGURATION.md).
fn main() {
    for (k, v) in renkei_server::config::settings_with_defaults() {
        println!("| `{k}` | `{v}` |");
    }
}
