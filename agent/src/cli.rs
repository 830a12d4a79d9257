//! The `census-agent` command line: every subcommand and flag, with the help users read.

use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

#[derive(Debug, Parser)]
#[command(
    name = "census-agent",
    version,
    about = "Census inventory agent: inventories this machine and reports it to a Census collector",
    long_about = "Census inventory agent.\n\nCollects this machine's hardware and software inventory \
                  (SMBIOS identity, CPU, memory, disks, network, OS, packages, users, services, listening \
                  ports) and reports it over mutual TLS to a Census collector.\n\nStart with \
                  `census-agent inventory --pretty` to see what it collects; no collector is needed for that. \
                  Then `census-agent enroll`, and `census-agent run` (usually as the census-agent systemd \
                  service)."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Print this machine's inventory as JSON on stdout (no collector needed).
    Inventory(InventoryArgs),
    /// Enroll with a collector: generate a key pair here, get a certificate with a one-time token.
    Enroll(EnrollArgs),
    /// Report at start, then every interval (the service's command).
    Run(RunArgs),
    /// Collect and send one report; exits 0 when it was delivered or kept in the spool.
    Once(OnceArgs),
    /// One report cycle of `run`, started by `run` itself in a child process (see `cycle.rs`).
    #[command(hide = true)]
    Cycle(CycleArgs),
    /// Show enrollment, last and next report, spool and certificate expiry.
    Status(StatusArgs),
    /// Check the configuration file and exit (for systemd's ExecStartPre=).
    CheckConfig(CommonArgs),
}

#[derive(Debug, Args)]
pub struct InventoryArgs {
    /// Indent the JSON for people.
    #[arg(long)]
    pub pretty: bool,
    /// Inventory the machine whose files are under DIR (a mounted image, a container's root, a fixture
    /// tree) instead of this one. What DIR lacks is reported in `collection_errors`.
    #[arg(long, value_name = "DIR")]
    pub root: Option<PathBuf>,
}

/// Flags every reporting subcommand takes.
#[derive(Debug, Args, Clone)]
pub struct CommonArgs {
    /// Configuration file. The default may be absent (built-in defaults apply); a file named here must
    /// exist.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Where the agent keeps its identity, sequence and spool [default: state_dir from the
    /// configuration, else /var/lib/census-agent].
    #[arg(long, value_name = "DIR")]
    pub state_dir: Option<PathBuf>,
    /// Log format on stderr [default: log_format from the configuration, else text].
    #[arg(long, value_enum, value_name = "FORMAT")]
    pub log_format: Option<LogFormatArg>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormatArg {
    Text,
    Json,
}

#[derive(Debug, Args)]
pub struct EnrollArgs {
    #[command(flatten)]
    pub common: CommonArgs,
    /// The collector's URL, e.g. https://census.example.com:8443 [default: collector_url from the
    /// configuration].
    #[arg(long, value_name = "URL")]
    pub collector: Option<String>,
    /// The CA certificate (PEM) that signs the collector's certificate; it is copied into the state
    /// directory and is the only CA the agent trusts [default: ca_file from the configuration].
    #[arg(long, value_name = "FILE")]
    pub ca: Option<PathBuf>,
    /// The one-time enrollment token from the administrator.
    #[arg(
        long,
        value_name = "TOKEN",
        env = "CENSUS_ENROLL_TOKEN",
        hide_env_values = true,
        conflicts_with = "token_file"
    )]
    pub token: Option<String>,
    /// Read the enrollment token from FILE (surrounding whitespace is ignored).
    #[arg(long, value_name = "FILE")]
    pub token_file: Option<PathBuf>,
    /// Enroll again even if this state directory already holds an identity (it is replaced).
    #[arg(long)]
    pub force: bool,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub common: CommonArgs,
}

#[derive(Debug, Args)]
#[command(group = clap::ArgGroup::new("kind").required(true))]
pub struct CycleArgs {
    #[command(flatten)]
    pub common: CommonArgs,
    /// Collect and report (draining the spool first).
    #[arg(long, group = "kind")]
    pub collect: bool,
    /// Only retry the spool.
    #[arg(long, group = "kind")]
    pub drain: bool,
    /// The daemon's pid: the cycle stops when that process dies (see `parent.rs`).
    #[arg(long, value_name = "PID")]
    pub parent_pid: Option<u32>,
}

impl CommonArgs {
    /// The same flags as arguments again, for a child process that must see what this one saw.
    pub fn to_args(&self) -> Vec<std::ffi::OsString> {
        let mut args = Vec::new();
        if let Some(path) = &self.config {
            args.push("--config".into());
            args.push(path.clone().into_os_string());
        }
        if let Some(dir) = &self.state_dir {
            args.push("--state-dir".into());
            args.push(dir.clone().into_os_string());
        }
        if let Some(value) = self.log_format.and_then(|f| f.to_possible_value()) {
            args.push("--log-format".into());
            args.push(value.get_name().into());
        }
        args
    }
}

#[derive(Debug, Args)]
pub struct OnceArgs {
    #[command(flatten)]
    pub common: CommonArgs,
    /// Inventory the machine whose files are under DIR instead of this one (as `inventory --root`).
    #[arg(long, value_name = "DIR")]
    pub root: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct StatusArgs {
    #[command(flatten)]
    pub common: CommonArgs,
    /// Output format.
    #[arg(long, value_enum, default_value = "text")]
    pub format: StatusFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum StatusFormat {
    Text,
    Json,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn run_hands_its_own_flags_to_the_cycle_child() {
        let Command::Run(run) = Cli::try_parse_from([
            "census-agent",
            "run",
            "--config",
            "/etc/census/agent.toml",
            "--state-dir",
            "/var/lib/census agent",
            "--log-format",
            "json",
        ])
        .unwrap()
        .command
        else {
            panic!("expected run")
        };
        let mut child = vec!["census-agent".into(), "cycle".into(), "--drain".into()];
        child.extend(run.common.to_args());
        let Command::Cycle(cycle) = Cli::try_parse_from(child).unwrap().command else {
            panic!("expected cycle")
        };
        assert!(cycle.drain && !cycle.collect);
        assert_eq!(cycle.common.config, run.common.config);
        assert_eq!(cycle.common.state_dir, run.common.state_dir);
        assert_eq!(cycle.common.log_format, Some(LogFormatArg::Json));
        // Exactly one of --collect and --drain.
        assert!(Cli::try_parse_from(["census-agent", "cycle"]).is_err());
        assert!(Cli::try_parse_from(["census-agent", "cycle", "--collect", "--drain"]).is_err());
    }

    #[test]
    fn enroll_takes_a_token_or_a_token_file_but_not_both() {
        let parsed = Cli::try_parse_from([
            "census-agent",
            "enroll",
            "--collector",
            "https://c:8443",
            "--ca",
            "ca.pem",
            "--token-file",
            "/run/token",
            "--state-dir",
            "/tmp/s",
        ])
        .unwrap();
        let Command::Enroll(args) = parsed.command else {
            panic!("expected enroll");
        };
        assert_eq!(args.token_file, Some(PathBuf::from("/run/token")));
        assert_eq!(args.common.state_dir, Some(PathBuf::from("/tmp/s")));
        let both = Cli::try_parse_from([
            "census-agent",
            "enroll",
            "--token",
            "t",
            "--token-file",
            "f",
        ]);
        assert!(both.is_err());
    }
}
