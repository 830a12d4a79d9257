//! Every subcommand and flag of `census` (clap derive). The names are a contract: users' scripts call
//! them, so add, never rename.
//!
//! Value checks that need no collector happen here (times, levels, state names), so a typo is a usage
//! error (exit 2) before anything is sent.

use crate::exit::EXIT_CODES_HELP;
use crate::output::Format;
use clap::{Args, Parser, Subcommand};

const ABOUT: &str =
    "Command-line client of the Census CMDB: assets, incidents, changes, impact, exports";

const LONG_ABOUT: &str = "\
Command-line client of the Census CMDB for asset managers and service-desk agents.

It talks to the collector's HTTPS API with your API token. Log in once with
`census login --collector URL --ca FILE` (the token is read from a prompt, or from stdin when piped);
CENSUS_COLLECTOR, CENSUS_CA (a PEM file or the PEM itself) and CENSUS_TOKEN override the stored login.

Listings and show commands print aligned tables (colour on a terminal unless NO_COLOR is set);
`--format json` prints the collector's JSON unchanged and `--format csv` prints CSV.";

#[derive(Debug, Parser)]
#[command(
    name = "census",
    version,
    about = ABOUT,
    long_about = LONG_ABOUT,
    after_long_help = EXIT_CODES_HELP,
    disable_help_subcommand = true
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check an API token against a collector and store it (0600) for the next commands.
    Login(LoginArgs),
    /// Forget the stored login.
    Logout,
    /// Search assets, show one, read its history.
    #[command(subcommand)]
    Assets(AssetsCommand),
    /// Create, list, show and move incidents.
    #[command(subcommand)]
    Incidents(IncidentsCommand),
    /// Create, list, show, move and approve changes.
    #[command(subcommand)]
    Changes(ChangesCommand),
    /// What depends on an asset, transitively, with the path to each dependent.
    Impact(ImpactArgs),
    /// Stream every asset matching a query as CSV, JSON or NDJSON to stdout (or --output FILE).
    Export(ExportArgs),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell).
    Completions {
        /// The shell, e.g. `census completions bash > /etc/bash_completion.d/census`.
        shell: clap_complete::Shell,
    },
}

#[derive(Debug, Args)]
pub struct LoginArgs {
    /// The collector's URL, e.g. https://collector.example:8443.
    #[arg(long, value_name = "URL")]
    pub collector: String,
    /// The collector's CA certificate (PEM), the only authority trusted for its TLS certificate; its
    /// content is copied into the login.
    #[arg(long, value_name = "FILE")]
    pub ca: std::path::PathBuf,
}

#[derive(Debug, Clone, Copy, Args)]
pub struct OutputArgs {
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
}

#[derive(Debug, Clone, Args)]
pub struct PageArgs {
    /// At most this many items.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=1000))]
    pub limit: Option<u16>,
    /// Continue after a previous page (the cursor it printed).
    #[arg(long, value_name = "CURSOR")]
    pub cursor: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum AssetsCommand {
    /// Assets matching a query (docs/query-language.md), in CI id order; all without a query.
    List {
        /// e.g. 'package:openssl version<3.0.7 and os.id=debian'.
        query: Option<String>,
        /// Judge assets as they were at this time (RFC 3339, or a duration before now: 30d).
        #[arg(long, value_name = "TIME", value_parser = time_arg)]
        as_of: Option<String>,
        #[command(flatten)]
        page: PageArgs,
        #[command(flatten)]
        output: OutputArgs,
    },
    /// One asset: hardware, OS, network, managed fields (by CI id or hostname).
    Show {
        /// A CI id (ci-000123) or a hostname.
        asset: String,
        /// The asset as it was at this time (RFC 3339, or a duration before now: 30d).
        #[arg(long, value_name = "TIME", value_parser = time_arg)]
        as_of: Option<String>,
        #[command(flatten)]
        output: OutputArgs,
    },
    /// An asset's history, newest first.
    History {
        /// A CI id (ci-000123) or a hostname.
        asset: String,
        /// Only entries since this time (RFC 3339, or a duration before now: 7d, 12h).
        #[arg(long, value_name = "TIME", value_parser = time_arg)]
        since: Option<String>,
        /// Only entries until this time (RFC 3339, or a duration before now).
        #[arg(long, value_name = "TIME", value_parser = time_arg)]
        until: Option<String>,
        /// Only these entry or change kinds (created, package_upgraded, ip_added ...); repeat or
        /// separate with commas.
        #[arg(long, value_name = "KIND", value_delimiter = ',')]
        kind: Vec<String>,
        #[command(flatten)]
        page: PageArgs,
        #[command(flatten)]
        output: OutputArgs,
    },
}

pub const INCIDENT_STATES: [&str; 6] = [
    "new",
    "in_progress",
    "on_hold",
    "resolved",
    "closed",
    "cancelled",
];
pub const RESOLUTION_CODES: [&str; 7] = [
    "solved_permanently",
    "solved_workaround",
    "solved_remotely",
    "not_reproducible",
    "too_costly",
    "resolved_by_caller",
    "duplicate",
];
pub const CHANGE_STATES: [&str; 9] = [
    "draft",
    "assessment",
    "approved",
    "rejected",
    "scheduled",
    "implementing",
    "review",
    "closed",
    "cancelled",
];

#[derive(Debug, Subcommand)]
pub enum IncidentsCommand {
    /// Open an incident; prints its number (INC-000123).
    Create {
        /// The title, e.g. "Disk failing".
        title: String,
        /// An affected asset (CI id or hostname); repeat for several.
        #[arg(long = "ci", value_name = "ASSET")]
        cis: Vec<String>,
        /// 1 (high) to 3 (low).
        #[arg(long, value_parser = clap::value_parser!(u8).range(1..=3))]
        impact: u8,
        /// 1 (high) to 3 (low).
        #[arg(long, value_parser = clap::value_parser!(u8).range(1..=3))]
        urgency: u8,
        #[arg(long)]
        description: Option<String>,
        /// Who reported it.
        #[arg(long)]
        caller: Option<String>,
        #[arg(long)]
        assignee: Option<String>,
        #[arg(long = "group", value_name = "GROUP")]
        assignment_group: Option<String>,
        #[command(flatten)]
        output: OutputArgs,
    },
    /// Incidents, newest first.
    List {
        #[arg(long, value_parser = INCIDENT_STATES)]
        state: Option<String>,
        #[arg(long, value_parser = ["P1", "P2", "P3", "P4", "P5"])]
        priority: Option<String>,
        #[arg(long)]
        assignee: Option<String>,
        /// Only incidents on this asset (CI id or hostname).
        #[arg(long, value_name = "ASSET")]
        ci: Option<String>,
        /// Words in the title (ignoring case).
        #[arg(long)]
        text: Option<String>,
        #[command(flatten)]
        page: PageArgs,
        #[command(flatten)]
        output: OutputArgs,
    },
    /// An incident with its affected hardware, recent changes, open incidents and impact.
    Show {
        /// INC-000123.
        id: String,
        /// How far back to look for changes, in days (1 to 366).
        #[arg(long, default_value_t = 7, value_parser = clap::value_parser!(u16).range(1..=366))]
        days: u16,
        #[command(flatten)]
        output: OutputArgs,
    },
    /// Move an incident to another state (resolving needs --resolution-code and --resolution-notes).
    Transition {
        /// INC-000123.
        id: String,
        #[arg(value_parser = INCIDENT_STATES)]
        state: String,
        #[arg(long, value_parser = RESOLUTION_CODES)]
        resolution_code: Option<String>,
        #[arg(long)]
        resolution_notes: Option<String>,
        /// A note kept in the incident's history.
        #[arg(long)]
        note: Option<String>,
        #[command(flatten)]
        output: OutputArgs,
    },
}

#[derive(Debug, Subcommand)]
pub enum ChangesCommand {
    /// Record a change; prints its number (CHG-000045) and any window overlap on stderr.
    Create {
        /// The title, e.g. "Upgrade openssl".
        title: String,
        #[arg(long = "type", value_name = "TYPE", default_value = "normal",
              value_parser = ["standard", "normal", "emergency"])]
        change_type: String,
        #[arg(long, value_parser = ["low", "moderate", "high"])]
        risk: String,
        /// An affected asset (CI id or hostname); repeat for several.
        #[arg(long = "ci", value_name = "ASSET")]
        cis: Vec<String>,
        /// Start of the planned window (RFC 3339); needs --end.
        #[arg(long, value_name = "TIME", requires = "end", value_parser = rfc3339_arg)]
        start: Option<String>,
        /// End of the planned window (RFC 3339); needs --start.
        #[arg(long, value_name = "TIME", requires = "start", value_parser = rfc3339_arg)]
        end: Option<String>,
        #[arg(long)]
        description: Option<String>,
        /// How the change is carried out.
        #[arg(long = "plan", value_name = "TEXT")]
        implementation_plan: Option<String>,
        /// How it is undone.
        #[arg(long = "backout", value_name = "TEXT")]
        backout_plan: Option<String>,
        #[command(flatten)]
        output: OutputArgs,
    },
    /// Changes, newest first.
    List {
        #[arg(long, value_parser = CHANGE_STATES)]
        state: Option<String>,
        #[arg(long = "type", value_name = "TYPE", value_parser = ["standard", "normal", "emergency"])]
        change_type: Option<String>,
        #[arg(long, value_parser = ["low", "moderate", "high"])]
        risk: Option<String>,
        /// Only changes on this asset (CI id or hostname).
        #[arg(long, value_name = "ASSET")]
        ci: Option<String>,
        /// Words in the title (ignoring case).
        #[arg(long)]
        text: Option<String>,
        #[command(flatten)]
        page: PageArgs,
        #[command(flatten)]
        output: OutputArgs,
    },
    /// One change.
    Show {
        /// CHG-000045.
        id: String,
        #[command(flatten)]
        output: OutputArgs,
    },
    /// Move a change to another state (approving and rejecting need the approver or admin role).
    Transition {
        /// CHG-000045.
        id: String,
        #[arg(value_parser = CHANGE_STATES)]
        state: String,
        /// A note kept with the move (the decision note when approving or rejecting).
        #[arg(long)]
        note: Option<String>,
        #[command(flatten)]
        output: OutputArgs,
    },
    /// Approve a change in assessment (approver or admin role).
    Approve {
        /// CHG-000045.
        id: String,
        #[arg(long)]
        note: Option<String>,
        #[command(flatten)]
        output: OutputArgs,
    },
    /// Reject a change in assessment (approver or admin role).
    Reject {
        /// CHG-000045.
        id: String,
        #[arg(long)]
        note: Option<String>,
        #[command(flatten)]
        output: OutputArgs,
    },
}

#[derive(Debug, Args)]
pub struct ImpactArgs {
    /// One or more assets (CI ids or hostnames).
    #[arg(required = true, value_name = "ASSET")]
    pub assets: Vec<String>,
    /// Follow at most this many hops (the collector's default is 8).
    #[arg(long, value_name = "N")]
    pub max_depth: Option<u16>,
    /// Report at most this many dependents (the collector's default is 500).
    #[arg(long, value_name = "N")]
    pub max_cis: Option<u32>,
    #[command(flatten)]
    pub output: OutputArgs,
}

/// What `census export` writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ExportFormat {
    Csv,
    Json,
    Ndjson,
}

impl ExportFormat {
    pub fn name(self) -> &'static str {
        match self {
            ExportFormat::Csv => "csv",
            ExportFormat::Json => "json",
            ExportFormat::Ndjson => "ndjson",
        }
    }
}

#[derive(Debug, Args)]
pub struct ExportArgs {
    /// A query (docs/query-language.md); every asset without one.
    pub query: Option<String>,
    #[arg(long, value_enum, default_value_t = ExportFormat::Csv)]
    pub format: ExportFormat,
    /// Assets as they were at this time (RFC 3339, or a duration before now: 30d).
    #[arg(long, value_name = "TIME", value_parser = time_arg)]
    pub as_of: Option<String>,
    /// Write to this file instead of stdout (written as it arrives; removed if the export fails).
    #[arg(long, short, value_name = "FILE")]
    pub output: Option<std::path::PathBuf>,
}

/// A time argument as the assets API takes it: RFC 3339, or a duration meaning that long before now.
/// Returned unchanged (the collector turns durations into times with its own clock).
pub fn time_arg(text: &str) -> Result<String, String> {
    let text = text.trim();
    if rfc3339_arg(text).is_ok() {
        return Ok(text.to_string());
    }
    census_shared::duration::parse(text)
        .map(|_| text.to_string())
        .map_err(|error| format!("{error}; or give an RFC 3339 time like 2026-11-26T12:00:00Z"))
}

/// An RFC 3339 time (the ITSM API takes no durations).
pub fn rfc3339_arg(text: &str) -> Result<String, String> {
    let text = text.trim();
    time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
        .map(|_| text.to_string())
        .map_err(|_| format!("'{text}' is not an RFC 3339 time (write e.g. 2026-11-27T22:00:00Z)"))
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
    fn times_are_rfc3339_or_durations_and_bad_ones_say_how_to_write_them() {
        assert_eq!(time_arg("7d").unwrap(), "7d");
        assert_eq!(time_arg("1h30m").unwrap(), "1h30m");
        assert_eq!(
            time_arg("2026-11-26T12:00:00Z").unwrap(),
            "2026-11-26T12:00:00Z"
        );
        let error = time_arg("yesterday").unwrap_err();
        assert!(
            error.contains("'yesterday' is not a duration") && error.contains("RFC 3339"),
            "{error}"
        );
        let error = time_arg("7").unwrap_err();
        assert!(error.contains("unit is missing"), "{error}");
        assert!(
            rfc3339_arg("7d")
                .unwrap_err()
                .contains("2026-11-27T22:00:00Z")
        );
    }

    #[test]
    fn the_documented_invocations_parse() {
        for line in [
            "census assets list package:openssl",
            "census assets history web-01 --since 7d --kind package_upgraded,ip_added",
            "census incidents create --ci web-01 --impact 2 --urgency 1 Disk",
            "census incidents transition INC-000123 in_progress",
            "census changes create Up --risk low --start 2026-11-27T22:00:00Z --end 2026-11-27T23:00:00Z",
            "census export os.id=debian --format csv",
            "census impact web-01 --format json",
        ] {
            let args: Vec<&str> = line.split(' ').collect();
            if let Err(error) = Cli::try_parse_from(&args) {
                panic!("{line}: {error}");
            }
        }
        for bad in [
            "census incidents create --impact 4 --urgency 1 T",
            "census incidents transition INC-1 done",
            "census changes create T --risk low --start 2026-11-27T22:00:00Z",
            "census assets history web-01 --since 7",
        ] {
            let args: Vec<&str> = bad.split(' ').collect();
            let error = Cli::try_parse_from(&args).unwrap_err();
            assert_eq!(error.exit_code(), 2, "{bad}");
        }
    }
}
