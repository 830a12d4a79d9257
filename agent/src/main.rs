//! The `census-agent` command: parses arguments, loads the configuration, and dispatches; the work
//! lives in the library.

use anyhow::Context;
use census_agent::cli::{
    Cli, Command, CommonArgs, CycleArgs, EnrollArgs, InventoryArgs, LogFormatArg, OnceArgs,
    StatusArgs, StatusFormat,
};
use census_agent::collect::{self, Root, Section};
use census_agent::config::{self, Config, LogFormat};
use census_agent::cycle::{ChildCycles, CycleKind, cycle_deadline};
use census_agent::daemon;
use census_agent::enroll::{self, EnrollParams};
use census_agent::reporter::Delivery;
use census_agent::state::StateDir;
use census_shared::protocol::AgentStatus;
use clap::Parser;
use std::io::Write;
use std::path::{Path, PathBuf};

/// Exit status for configuration problems a person must fix (`once` with an untrusted collector ...).
const EXIT_CONFIG: i32 = 2;

fn main() {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Inventory(args) => inventory(args),
        Command::Enroll(args) => enroll_command(args),
        Command::Run(args) => run_command(&args.common),
        Command::Once(args) => once_command(args),
        Command::Cycle(args) => cycle_command(args),
        Command::Status(args) => status_command(args),
        Command::CheckConfig(common) => check_config(&common),
    };
    match result {
        Ok(0) => {}
        Ok(code) => std::process::exit(code),
        Err(error) => {
            // A closed pipe (`census-agent inventory | head`) is the reader's choice, not an error.
            if error.chain().any(|cause| {
                cause
                    .downcast_ref::<std::io::Error>()
                    .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
            }) {
                std::process::exit(0);
            }
            eprintln!("census-agent: {error:#}");
            std::process::exit(1);
        }
    }
}

fn inventory(args: InventoryArgs) -> anyhow::Result<i32> {
    let root = root_of(args.root)?;
    let collected_at = census_agent::now_rfc3339();
    let inventory = collect::inventory(
        &root,
        &Section::ALL,
        env!("CARGO_PKG_VERSION"),
        collected_at,
    );
    let mut stdout = std::io::stdout().lock();
    if args.pretty {
        serde_json::to_writer_pretty(&mut stdout, &inventory)
    } else {
        serde_json::to_writer(&mut stdout, &inventory)
    }
    .context("writing the inventory to stdout")?;
    writeln!(stdout).context("writing the inventory to stdout")?;
    Ok(0)
}

fn root_of(dir: Option<PathBuf>) -> anyhow::Result<Root> {
    Ok(match dir {
        Some(dir) => {
            anyhow::ensure!(dir.is_dir(), "--root {}: not a directory", dir.display());
            Root::new(dir)
        }
        None => Root::live(),
    })
}

/// The configuration file with the flags applied on top, and logging set up.
fn load_config(common: &CommonArgs) -> anyhow::Result<Config> {
    let (path, explicit) = match &common.config {
        Some(path) => (path.clone(), true),
        None => (PathBuf::from(config::DEFAULT_CONFIG_FILE), false),
    };
    let mut config = Config::load(&path, explicit)?;
    if let Some(dir) = &common.state_dir {
        config.state_dir = dir.clone();
    }
    if let Some(format) = common.log_format {
        config.log_format = match format {
            LogFormatArg::Text => LogFormat::Text,
            LogFormatArg::Json => LogFormat::Json,
        };
    }
    census_agent::logging::init(config.log_format);
    Ok(config)
}

/// One thread: the agent does one thing at a time (collection runs on the blocking pool), and worker
/// threads would stay resident, with their stacks and malloc arenas, for the whole life of `run`.
fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")
}

fn read_token(args: &EnrollArgs) -> anyhow::Result<String> {
    let token = match (&args.token, &args.token_file) {
        (Some(token), _) => token.clone(),
        (None, Some(path)) => std::fs::read_to_string(path)
            .with_context(|| format!("reading the enrollment token from {}", path.display()))?,
        (None, None) => anyhow::bail!(
            "no enrollment token: pass --token TOKEN, --token-file FILE, or set CENSUS_ENROLL_TOKEN"
        ),
    };
    let token = token.trim().to_string();
    anyhow::ensure!(!token.is_empty(), "the enrollment token is empty");
    Ok(token)
}

fn enroll_command(args: EnrollArgs) -> anyhow::Result<i32> {
    let config = load_config(&args.common)?;
    let collector_url = args
        .collector
        .clone()
        .or_else(|| config.collector_url.clone())
        .context("no collector: pass --collector https://HOST:PORT (or set collector_url)")?;
    config::check_collector_url(&collector_url)
        .map_err(|message| anyhow::anyhow!("--collector {collector_url}: {message}"))?;
    let ca_path: PathBuf = args
        .ca
        .clone()
        .or_else(|| config.ca_file.clone())
        .context("no CA: pass --ca FILE, the collector CA's certificate (or set ca_file)")?;
    let ca_pem = std::fs::read_to_string(&ca_path).with_context(|| {
        format!(
            "reading the CA certificate {}: check --ca",
            ca_path.display()
        )
    })?;
    let params = EnrollParams {
        collector_url,
        ca_pem,
        ca_source: ca_path.display().to_string(),
        token: read_token(&args)?,
        hostname: hostname(),
        connect_timeout: config.connect_timeout,
        request_timeout: config.request_timeout,
        force: args.force,
    };
    let state = StateDir::new(&config.state_dir);
    let (enrollment, status) = runtime()?.block_on(enroll::enroll(&state, &params))?;
    eprintln!(
        "enrolled as {} with {} (state in {})",
        enrollment.agent_id,
        enrollment.collector_url,
        state.dir().display()
    );
    if status == AgentStatus::Pending {
        eprintln!(
            "the agent waits for an administrator's approval; reports are kept in the spool until then"
        );
    }
    Ok(0)
}

fn hostname() -> Option<String> {
    let name = rustix::system::uname();
    census_shared::inventory::clean(&name.nodename().to_string_lossy())
}

fn run_command(common: &CommonArgs) -> anyhow::Result<i32> {
    let config = load_config(common)?;
    // Each cycle in a child process keeps the idle daemon small (census_agent::cycle); where the
    // executable cannot be named, cycles run in process as before.
    let deadline = cycle_deadline(config.interval);
    let children = match ChildCycles::this_executable(common.to_args(), deadline) {
        Ok(children) => Some(children),
        Err(error) => {
            tracing::warn!(%error, "report cycles run in this process: its executable cannot be named");
            None
        }
    };
    runtime()?.block_on(daemon::run_with(config, children))?;
    Ok(0)
}

/// `census-agent cycle`: one cycle for `run`; its summary is the one line on stdout.
fn cycle_command(args: CycleArgs) -> anyhow::Result<i32> {
    if let Some(parent) = args.parent_pid {
        census_agent::parent::stop_with(parent).map_err(anyhow::Error::msg)?;
    }
    let config = load_config(&args.common)?;
    let kind = if args.collect {
        CycleKind::Collect
    } else {
        CycleKind::Drain
    };
    let summary = runtime()?.block_on(daemon::cycle(&config, kind));
    let mut stdout = std::io::stdout().lock();
    serde_json::to_writer(&mut stdout, &summary).context("writing the cycle summary")?;
    writeln!(stdout).context("writing the cycle summary")?;
    Ok(if summary.failed.is_some() { 1 } else { 0 })
}

fn once_command(args: OnceArgs) -> anyhow::Result<i32> {
    let config = load_config(&args.common)?;
    let root = root_of(args.root)?;
    let result = runtime()?.block_on(daemon::report_once(&config, root))?;
    if let Some(error) = result.blocked() {
        eprintln!("census-agent: report spooled, not delivered: {error}");
        return Ok(EXIT_CONFIG);
    }
    match &result.delivery {
        Some(Delivery::Rejected { error }) => {
            eprintln!(
                "census-agent: the collector rejected the report (kept in the spool's quarantine): {error}"
            );
            Ok(1)
        }
        Some(delivery) if delivery.is_delivered() => {
            eprintln!("report delivered ({} still spooled)", result.n_spooled);
            Ok(0)
        }
        _ => {
            let reason = match &result.stopped {
                Some(Delivery::Retry { error, .. }) => format!(": {error}"),
                _ => String::new(),
            };
            eprintln!(
                "report spooled ({} waiting); it is delivered by the next report or `census-agent run`{reason}",
                result.n_spooled
            );
            Ok(0)
        }
    }
}

fn status_command(args: StatusArgs) -> anyhow::Result<i32> {
    let config = load_config(&args.common)?;
    let status = census_agent::status::gather(&config)?;
    let mut stdout = std::io::stdout().lock();
    match args.format {
        StatusFormat::Json => {
            serde_json::to_writer_pretty(&mut stdout, &status)?;
            writeln!(stdout)?;
        }
        StatusFormat::Text => write!(stdout, "{}", census_agent::status::render_text(&status))?,
    }
    Ok(0)
}

fn check_config(common: &CommonArgs) -> anyhow::Result<i32> {
    let config = load_config(common)?;
    let source = common
        .config
        .as_deref()
        .unwrap_or(Path::new(config::DEFAULT_CONFIG_FILE));
    eprintln!(
        "{}: ok (state dir {}, interval {}, collector {})",
        source.display(),
        config.state_dir.display(),
        config::format_duration(config.interval),
        config
            .collector_url
            .as_deref()
            .unwrap_or("the one recorded at enrollment")
    );
    Ok(0)
}
