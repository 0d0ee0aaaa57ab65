//! The command line (DESIGN §6).

use std::path::{Path, PathBuf};

use clap::{ArgGroup, CommandFactory, Parser, Subcommand};

pub use crate::admin::discover_cli::AliasesAction;
pub use crate::admin::ops_cli::{read_password, MigrateAction};
use crate::config::{self, Config};

pub const DEFAULT_CONFIG: &str = "/etc/ferrymail/ferrymail.toml";

#[derive(Parser, Debug)]
#[command(
    name = "ferrymail",
    version,
    about = "Mail server that migrates users off a legacy server on their first login"
)]
pub struct Cli {
    /// Log format: text or json (overrides [log] format).
    #[arg(long, global = true, value_name = "FORMAT")]
    pub log_format: Option<String>,
    /// Change a value of the server file without editing it, e.g.
    /// `--set imap.listen=127.0.0.1:20143` (repeatable; VALUE is TOML, else a
    /// string; one value becomes a list where the setting takes a list).
    #[arg(long = "set", global = true, value_name = "KEY=VALUE")]
    pub set: Vec<String>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run the daemon.
    Serve {
        /// The server configuration file (domains are read from its domains_dir).
        #[arg(long, env = "FERRYMAIL_CONFIG", default_value = DEFAULT_CONFIG)]
        config: PathBuf,
    },
    /// Report every problem in the configuration; exit 1 on any.
    CheckConfig {
        /// The server configuration file (domains are read from its domains_dir).
        #[arg(long, env = "FERRYMAIL_CONFIG", default_value = DEFAULT_CONFIG)]
        config: PathBuf,
    },
    /// Migration status per domain, from the running daemon.
    Status {
        /// The server configuration file (domains are read from its domains_dir).
        #[arg(long, env = "FERRYMAIL_CONFIG", default_value = DEFAULT_CONFIG)]
        config: PathBuf,
        /// Only this domain (exit 1 when it is not hosted).
        #[arg(long)]
        domain: Option<String>,
        /// Also show this user's line: an address, or a bare name with the
        /// server's default_domain (exit 1 when there is no such account).
        #[arg(long)]
        user: Option<String>,
        /// List every user.
        #[arg(long)]
        users: bool,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Migrate users now, through the running daemon (`test`: a local dry run).
    Migrate {
        /// The server configuration file (domains are read from its domains_dir).
        #[arg(long, env = "FERRYMAIL_CONFIG", default_value = DEFAULT_CONFIG, global = true)]
        config: PathBuf,
        #[command(subcommand)]
        action: MigrateAction,
    },
    /// Final sweep of every migrated user of a domain, then mark them finished
    /// (`--domain D`, or `--all` for every hosted domain).
    #[command(group(ArgGroup::new("scope").required(true).args(["domain", "all"])))]
    Finish {
        /// The server configuration file (domains are read from its domains_dir).
        #[arg(long, env = "FERRYMAIL_CONFIG", default_value = DEFAULT_CONFIG)]
        config: PathBuf,
        /// The domain to finish.
        #[arg(long)]
        domain: Option<String>,
        /// Finish every hosted domain.
        #[arg(long)]
        all: bool,
        /// Also finish users whose password is not in memory, without a sweep.
        #[arg(long)]
        force: bool,
    },
    /// The known population of a domain (`users import`).
    Users {
        /// The server configuration file (domains are read from its domains_dir).
        #[arg(long, env = "FERRYMAIL_CONFIG", default_value = DEFAULT_CONFIG, global = true)]
        config: PathBuf,
        #[command(subcommand)]
        action: UsersAction,
    },
    /// Addresses that are not mailboxes (`discover`: suggestions from the
    /// copied mail).
    Aliases {
        /// The server configuration file (domains are read from its domains_dir).
        #[arg(long, env = "FERRYMAIL_CONFIG", default_value = DEFAULT_CONFIG, global = true)]
        config: PathBuf,
        #[command(subcommand)]
        action: AliasesAction,
    },
    /// Manage local accounts (passwords are read from standard input).
    Account {
        /// The server configuration file (domains are read from its domains_dir).
        #[arg(long, env = "FERRYMAIL_CONFIG", default_value = DEFAULT_CONFIG, global = true)]
        config: PathBuf,
        #[command(subcommand)]
        action: AccountAction,
    },
    /// Print a shell completion script to standard output
    /// (e.g. `ferrymail completions bash > /etc/bash_completion.d/ferrymail`).
    Completions {
        /// The shell to complete for.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the manual page ferrymail(1) (roff) to standard output.
    Man {
        /// Write ferrymail.1 and one page per subcommand (ferrymail-serve.1, ...)
        /// into this folder instead.
        #[arg(long, value_name = "DIR")]
        dir: Option<PathBuf>,
    },
}

#[derive(Subcommand, Debug)]
pub enum UsersAction {
    /// Import the users of a domain as `pending` accounts (known, not moved):
    /// FILE has one address per line, optionally `address:{SCHEME}hash` with a
    /// password hash exported from the legacy server.
    Import {
        /// The hosted domain the users belong to.
        #[arg(long)]
        domain: String,
        /// The list of users: one address per line, optionally with `:{SCHEME}hash`.
        file: PathBuf,
    },
}

#[derive(Subcommand, Debug)]
pub enum AccountAction {
    /// Create a local account; the password is read from standard input.
    Add {
        /// The account's address, or a bare name with the server's default_domain.
        address: String,
        /// Read a password hash instead of a password from standard input: one
        /// exported from the legacy server (`{SHA512-CRYPT}$6$...`,
        /// `{SHA256-CRYPT}$5$...`, `{BLF-CRYPT}$2y$...`) or an argon2id PHC string.
        /// Legacy hashes are replaced by argon2id at the user's first login.
        #[arg(long)]
        hash_stdin: bool,
    },
    /// List accounts with their state.
    List {
        /// Only the accounts of this domain.
        #[arg(long)]
        domain: Option<String>,
    },
    /// Set a new password, read from standard input.
    Passwd {
        /// The account's address, or a bare name with the server's default_domain.
        address: String,
    },
    /// Delete an account and all its mail (asks first on a terminal).
    Delete {
        /// The account's address, or a bare name with the server's default_domain.
        address: String,
        /// Delete without asking (needed when standard input is not a terminal).
        #[arg(long)]
        yes: bool,
    },
}

/// Runs the command line; returns the process exit status.
pub fn main() -> i32 {
    let cli = Cli::parse();
    if let Err(e) = config::overrides::set(&cli.set) {
        eprintln!("ferrymail: {e}");
        return 2;
    }
    match run(cli) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("ferrymail: {e}");
            1
        }
    }
}

fn load_config(path: &Path) -> Result<Config, String> {
    config::load(path).map_err(|problems| {
        let mut s = String::new();
        for p in &problems {
            s.push_str(&format!("{p}\n"));
        }
        s.push_str(&format!(
            "{} problem(s) in the configuration",
            problems.len()
        ));
        s
    })
}

fn runtime() -> Result<tokio::runtime::Runtime, String> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the runtime: {e}"))
}

fn run(cli: Cli) -> Result<(), String> {
    match cli.command {
        Command::Completions { shell } => crate::cli_docs::completions(Cli::command(), shell),
        Command::Man { dir } => crate::cli_docs::man(Cli::command(), dir.as_deref()),
        Command::CheckConfig { config } => match config::load(&config) {
            Ok(c) => {
                let accounts = crate::smtp::alias_check::check_accounts(&c);
                if !accounts.problems.is_empty() {
                    for p in &accounts.problems {
                        println!("{p}");
                    }
                    return Err(format!(
                        "{} problem(s) in the configuration",
                        accounts.problems.len()
                    ));
                }
                println!("{}", c.summary());
                for w in c.warnings() {
                    println!("warning: {w}");
                }
                for w in &accounts.warnings {
                    println!("warning: {w}");
                }
                Ok(())
            }
            Err(problems) => {
                for p in &problems {
                    println!("{p}");
                }
                Err(format!(
                    "{} problem(s) in the configuration",
                    problems.len()
                ))
            }
        },
        Command::Serve { config } => {
            let cfg = match config::load(&config) {
                Ok(c) => c,
                Err(problems) => {
                    crate::logging::init(cli.log_format.as_deref().unwrap_or("text"), "info");
                    for p in &problems {
                        tracing::error!("{p}");
                    }
                    return Err(format!(
                        "{} problem(s) in the configuration; not starting",
                        problems.len()
                    ));
                }
            };
            let format = cli
                .log_format
                .clone()
                .unwrap_or_else(|| cfg.log.format.clone());
            crate::logging::init(&format, &cfg.log.level);
            runtime()?.block_on(crate::daemon::serve(cfg, &crate::daemon::services))
        }
        Command::Status {
            config,
            domain,
            user,
            users,
            json,
        } => {
            let cfg = load_config(&config)?;
            let client = crate::admin::client::AdminClient::from_config(&cfg)?;
            let mut path = String::from("/api/status?");
            if let Some(d) = &domain {
                path.push_str(&format!("domain={}&", crate::admin::client::query_value(d)));
            }
            if let Some(u) = &user {
                let address = crate::admin::accounts_cli::resolve(&cfg, u)?;
                path.push_str(&format!(
                    "user={}&",
                    crate::admin::client::query_value(&address)
                ));
            }
            if users {
                path.push_str("users=1");
            }
            let report: crate::admin::status::StatusReport = client.get_json(&path)?;
            if json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&report).map_err(|e| e.to_string())?
                );
            } else {
                print!("{}", crate::admin::status::render_text(&report));
            }
            Ok(())
        }
        Command::Aliases { config, action } => {
            let cfg = load_config(&config)?;
            crate::admin::discover_cli::run(&cfg, action)
        }
        Command::Account { config, action } => {
            let cfg = load_config(&config)?;
            use crate::admin::accounts_cli as accounts;
            match action {
                AccountAction::Add {
                    address,
                    hash_stdin,
                } => accounts::add(&cfg, &address, hash_stdin),
                AccountAction::List { domain } => accounts::list(&cfg, domain.as_deref()),
                AccountAction::Passwd { address } => accounts::passwd(&cfg, &address),
                AccountAction::Delete { address, yes } => accounts::delete(&cfg, &address, yes),
            }
        }
        Command::Users {
            config,
            action: UsersAction::Import { domain, file },
        } => {
            let cfg = load_config(&config)?;
            crate::admin::accounts_cli::import_users(&cfg, &domain, &file)
        }
        Command::Migrate { config, action } => {
            let cfg = load_config(&config)?;
            crate::admin::ops_cli::migrate(&cfg, action)
        }
        Command::Finish {
            config,
            domain,
            all: _,
            force,
        } => {
            let cfg = load_config(&config)?;
            let client = crate::admin::client::AdminClient::from_config(&cfg)?;
            let domains: Vec<String> = match domain {
                Some(d) => vec![d],
                // `--all` (clap requires one of the two).
                None => cfg.domains.values().map(|d| d.name.clone()).collect(),
            };
            crate::admin::ops_cli::finish(&client, &domains, force)
        }
    }
}
