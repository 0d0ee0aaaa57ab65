//! Logging through tracing to stderr: human-readable text by default (journald adds
//! its own timestamps), JSON lines on request.

use tracing_subscriber::EnvFilter;

/// Installs the global subscriber. `RUST_LOG` overrides `level`.
pub fn init(format: &str, level: &str) {
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(level))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    let filter = quiet_client_noise(filter);
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        // Colours only on a terminal: journald, log files and fail2ban get plain text.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_target(false);
    let result = if format == "json" {
        builder.json().flatten_event(true).try_init()
    } else {
        builder.try_init()
    };
    // A second init (tests) keeps the first subscriber.
    let _ = result;
}

/// rustls warns of every client that sends an IP address as TLS server name
/// (`Illegal SNI extension: ignoring IP address ...`): the client's mistake,
/// harmless (the name is ignored, the handshake goes on), one line per
/// connection. Its handshake-parsing messages are kept to errors.
fn quiet_client_noise(filter: EnvFilter) -> EnvFilter {
    match "rustls::msgs::handshake=error".parse() {
        Ok(d) => filter.add_directive(d),
        Err(_) => filter,
    }
}

/// For tests: log lines go through libtest's capture.
pub fn init_test() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_test_writer()
        .with_target(false)
        .try_init();
}
