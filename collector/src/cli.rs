//! The `census-collector` command line: every subcommand and flag, with the help users read.

use crate::config::LogFormat;
use crate::store::engine::Engine;
use clap::{Args, Parser, Subcommand};
use std::net::SocketAddr;
use std::path::PathBuf;

#[derive(Debug, Parser)]
#[command(
    name = "census-collector",
    version,
    about = "Census collector: receives agent inventories over HTTPS and keeps the configuration database",
    long_about = "Census collector.\n\nReceives inventories from census-agent over mutual TLS, reconciles them into \
                  configuration items (one per real machine), keeps the history of every change and serves the \
                  CMDB to people and tools.\n\nFirst run: `census-collector init --data-dir DIR`, then \
                  `census-collector serve --data-dir DIR`, then create an enrollment token for agents with \
                  `census-collector enroll-token create --data-dir DIR`."
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// Configuration file [default: /etc/census-collector/collector.toml when it exists].
    #[arg(
        long,
        global = true,
        value_name = "FILE",
        env = "CENSUS_COLLECTOR_CONFIG"
    )]
    pub config: Option<PathBuf>,
    /// Data directory (CA, certificates, admin token, database); overrides the configuration file.
    #[arg(long, global = true, value_name = "DIR", env = "CENSUS_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// Log format on stderr.
    #[arg(long, global = true, value_enum, value_name = "FORMAT")]
    pub log_format: Option<LogFormat>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Start everything locally for a first look: a collector on 127.0.0.1 with its data in
    /// ./census-data and this machine's agent reporting to it. Run again to reuse the data; Ctrl-C stops.
    Quickstart(ServeArgs),
    /// Create a data directory: collector CA, server certificate, database and a first admin token.
    Init(InitArgs),
    /// Serve the HTTPS API for agents and people (stops cleanly on SIGTERM or Ctrl-C).
    Serve(ServeArgs),
    /// Validate a configuration file and report every problem at once.
    CheckConfig,
    /// Manage enrollment tokens (what a new agent presents once to get its certificate).
    #[command(subcommand)]
    EnrollToken(EnrollTokenCommand),
    /// List, approve and revoke enrolled agents.
    #[command(subcommand)]
    Agent(AgentCommand),
    /// Write a consistent backup (database and key files) while the collector runs or is stopped.
    /// The file holds the CA private key: it is created 0600; keep it secret.
    Backup(BackupArgs),
    /// Restore a backup into an empty data directory (checks its checksum and versions first).
    Restore(RestoreArgs),
    /// Manage the people (and scripts) who use the API: each has one role.
    #[command(subcommand)]
    User(UserCommand),
    /// Manage API tokens of users (what people and scripts send as `Authorization: Bearer`).
    #[command(subcommand)]
    Token(TokenCommand),
}

#[derive(Debug, Args)]
pub struct BackupArgs {
    /// The backup file to create (must not exist).
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,
}

#[derive(Debug, Args)]
pub struct RestoreArgs {
    /// The backup file written by `census-collector backup`.
    #[arg(long, value_name = "FILE")]
    pub from: PathBuf,
    /// The storage engine of the restored database (a backup restores into either: this is how a
    /// collector moves from one engine to the other).
    #[arg(long, value_enum, default_value_t = Engine::default(), value_name = "ENGINE")]
    pub engine: Engine,
}

#[derive(Debug, Args)]
pub struct InitArgs {
    /// A name or IP address agents use to reach this collector; repeat for several.
    /// [default: 127.0.0.1 and localhost]
    #[arg(long = "hostname", value_name = "NAME")]
    pub hostnames: Vec<String>,
    /// The storage engine of the database: sled (log-structured, the default) or redb (a B-tree
    /// file that reuses freed space: about a third of the disk for the same history). Fixed for
    /// the data directory's life; `backup` then `restore --engine` moves it.
    #[arg(long, value_enum, default_value_t = Engine::default(), value_name = "ENGINE")]
    pub engine: Engine,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address and port to listen on; overrides the configuration file [default: 127.0.0.1:8443].
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<SocketAddr>,
}

#[derive(Debug, Subcommand)]
pub enum EnrollTokenCommand {
    /// Create a token; it is printed once, alone on the last line of stdout.
    Create(EnrollTokenCreateArgs),
    /// List tokens (never their secrets).
    List(OutputArgs),
    /// Revoke a token so it can no longer enroll agents.
    Revoke {
        /// The token's id, as `enroll-token list` shows it.
        id: String,
    },
}

#[derive(Debug, Args)]
pub struct EnrollTokenCreateArgs {
    /// How long the token stays valid (e.g. 1h, 24h, 7d).
    #[arg(long, default_value = "24h", value_name = "DURATION")]
    pub ttl: String,
    /// How many agents may enroll with it.
    #[arg(long, default_value_t = 1, value_name = "N")]
    pub max_uses: u32,
    /// A note for administrators (what the token is for).
    #[arg(long, value_name = "TEXT")]
    pub note: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum AgentCommand {
    /// List enrolled agents with their status.
    List(OutputArgs),
    /// Approve a pending agent so its reports are accepted.
    Approve {
        /// The agent's id (`agt-…`).
        id: String,
    },
    /// Revoke an agent: its certificate is refused from its next request on.
    Revoke {
        /// The agent's id (`agt-…`).
        id: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create a user with a role; then give them a token with `token create --user NAME`.
    Add(UserAddArgs),
    /// List users with their role and whether they are disabled.
    List(OutputArgs),
    /// Disable a user and revoke every token they hold.
    Disable {
        /// The user's name.
        name: String,
    },
    /// Change a user's role; every token they hold takes the new role at once.
    SetRole {
        /// The user's name.
        name: String,
        /// admin, asset_manager, service_desk, auditor or approver (see docs/itsm.md, "Roles").
        #[arg(long, value_name = "ROLE")]
        role: String,
    },
}

#[derive(Debug, Args)]
pub struct UserAddArgs {
    /// Letters, digits, '.', '_' or '-' (up to 64), e.g. alice or ci-bot.
    pub name: String,
    /// admin, asset_manager, service_desk, auditor or approver (see docs/itsm.md, "Roles").
    #[arg(long, value_name = "ROLE")]
    pub role: String,
    /// The person's full name, for lists and audits.
    #[arg(long, value_name = "TEXT")]
    pub display_name: Option<String>,
    #[arg(long, value_name = "ADDRESS")]
    pub email: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Create a token for a user (it gets the user's role); printed once, alone on the last line.
    Create(TokenCreateArgs),
    /// List tokens (never their secrets).
    List(TokenListArgs),
    /// Revoke a token so that it is refused from now on.
    Revoke {
        /// The token's id (`key-…`), as `token list` shows it.
        id: String,
    },
}

#[derive(Debug, Args)]
pub struct TokenCreateArgs {
    /// The user the token belongs to (see `user list`).
    #[arg(long, value_name = "NAME")]
    pub user: String,
    /// How long the token stays valid (e.g. 12h, 30d, 90d; at most two years).
    #[arg(long, default_value = "90d", value_name = "DURATION")]
    pub ttl: String,
    /// What the token is for (shown in `token list`).
    #[arg(long, value_name = "TEXT")]
    pub note: Option<String>,
}

#[derive(Debug, Args)]
pub struct TokenListArgs {
    /// Only this user's tokens.
    #[arg(long, value_name = "NAME")]
    pub user: Option<String>,
    #[command(flatten)]
    pub output: OutputArgs,
}

#[derive(Debug, Args)]
pub struct OutputArgs {
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn the_documented_invocations_parse() {
        for line in [
            "census-collector init --data-dir /tmp/d --hostname collector.example.com --hostname 10.0.0.5",
            "census-collector serve --config /etc/census-collector/collector.toml --data-dir /tmp/d --listen 0.0.0.0:8443",
            "census-collector check-config --config collector.toml",
            "census-collector enroll-token create --data-dir /tmp/d --ttl 24h --max-uses 50 --note rack-12",
            "census-collector enroll-token list --data-dir /tmp/d",
            "census-collector agent approve agt-abc --data-dir /tmp/d",
            "census-collector backup --out /tmp/census.backup --data-dir /tmp/d",
            "census-collector restore --from /tmp/census.backup --data-dir /tmp/new",
            "census-collector user add alice --role service_desk --display-name Alice --data-dir /tmp/d",
            "census-collector user list --json --data-dir /tmp/d",
            "census-collector user disable alice --data-dir /tmp/d",
            "census-collector token create --user alice --ttl 90d --note laptop --data-dir /tmp/d",
            "census-collector token list --user alice --json --data-dir /tmp/d",
            "census-collector token revoke key-abc --data-dir /tmp/d",
        ] {
            let parsed = Cli::try_parse_from(line.split_whitespace());
            assert!(parsed.is_ok(), "{line}: {}", parsed.unwrap_err());
        }
    }
}
