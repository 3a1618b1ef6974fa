//! Structured logs with tracing: human-readable text by default, JSON lines as an option.

use tracing_subscriber::{fmt, EnvFilter};

/// Logging choices from the command line (they override the configuration file).
#[derive(Debug, Clone, Default)]
pub struct LogOptions {
    /// `text` or `json`.
    pub format: Option<String>,
    /// A tracing filter.
    pub level: Option<String>,
}

/// Install the global subscriber. `format`/`level` from flags win over the configuration values.
pub fn init(opts: &LogOptions, config_format: &str, config_level: &str) {
    let level = opts.level.as_deref().unwrap_or(config_level);
    let filter = EnvFilter::try_new(level).unwrap_or_else(|_| EnvFilter::new("info"));
    let json = opts.format.as_deref().unwrap_or(config_format) == "json";
    let builder = fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(true);
    let _ = if json {
        builder.json().flatten_event(true).try_init()
    } else {
        builder.try_init()
    };
}
