//! The `census-collector` command: parses arguments and dispatches; the work lives in the library.

use anyhow::Context;
use census_collector::cli::{AgentCommand, Cli, Command, EnrollTokenCommand};
use census_collector::commands::admin::{self, Target};
use census_collector::commands::{self, init, load_config, quickstart, serve};
use census_collector::config::Config;
use census_collector::datadir::DataDir;
use census_collector::logging;
use clap::Parser;

fn main() {
    let cli = Cli::parse();
    if let Err(error) = run(cli) {
        eprintln!("census-collector: {error:#}");
        std::process::exit(1);
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    let global = cli.global;
    if let Command::CheckConfig = cli.command {
        return check_config(global.config.as_deref());
    }
    let config = load_config(global.config.as_deref(), global.data_dir.as_ref())?;
    logging::init(global.log_format.unwrap_or(config.log_format));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    match cli.command {
        Command::CheckConfig => Ok(()),
        Command::Init(args) => {
            let data_dir = DataDir::new(&config.data_dir);
            let initialised = init::run(&data_dir, &args.hostnames, args.engine)?;
            let dir = data_dir.root().display();
            println!("Initialised a collector in {dir}.");
            println!("  CA for agents:  {}", data_dir.ca_cert().display());
            println!(
                "  admin token:    {} (also in {})",
                initialised.admin_token,
                data_dir.admin_token().display()
            );
            println!("Next:");
            println!("  census-collector serve --data-dir {dir}");
            println!("  census-collector enroll-token create --data-dir {dir}");
            Ok(())
        }
        Command::Serve(args) => {
            let mut config = config;
            if let Some(listen) = args.listen {
                config.listen = listen;
            }
            runtime.block_on(serve::run(config))
        }
        Command::Quickstart(args) => {
            let mut config = config;
            if global.data_dir.is_none() && global.config.is_none() {
                config.data_dir = quickstart::DEFAULT_QUICKSTART_DIR.into();
            }
            if let Some(listen) = args.listen {
                config.listen = listen;
            }
            runtime.block_on(quickstart::run(config))
        }
        Command::EnrollToken(command) => runtime.block_on(enroll_token(&config, command)),
        Command::Agent(command) => runtime.block_on(agent(&config, command)),
        Command::User(command) => runtime.block_on(commands::users::user(&config, command)),
        Command::Token(command) => runtime.block_on(commands::users::token(&config, command)),
        Command::Backup(args) => {
            let data_dir = commands::initialised_data_dir(&config)?;
            let summary = runtime.block_on(commands::backup::backup(&data_dir, &args.out))?;
            let how = if summary.online {
                "from the running collector"
            } else {
                "directly (the collector is stopped)"
            };
            println!(
                "Backup written to {} {how}: schema {}, {}. It holds the CA key: keep it secret.",
                args.out.display(),
                summary.header.schema_version,
                summary.header.created_at
            );
            Ok(())
        }
        Command::Restore(args) => {
            let data_dir = DataDir::new(&config.data_dir);
            let header = commands::backup::restore(&args.from, &data_dir, args.engine)?;
            println!(
                "Restored the backup of {} into {}.",
                header.created_at,
                data_dir.root().display()
            );
            println!(
                "Next: census-collector serve --data-dir {}",
                data_dir.root().display()
            );
            Ok(())
        }
    }
}

fn check_config(path: Option<&std::path::Path>) -> anyhow::Result<()> {
    let path = path.unwrap_or(std::path::Path::new(
        census_collector::config::DEFAULT_CONFIG_PATH,
    ));
    Config::load(path)?;
    println!("{}: OK", path.display());
    Ok(())
}

async fn enroll_token(config: &Config, command: EnrollTokenCommand) -> anyhow::Result<()> {
    let data_dir = commands::initialised_data_dir(config)?;
    let target = Target::connect(&data_dir)?;
    match command {
        EnrollTokenCommand::Create(args) => {
            let ttl = census_shared::duration::parse(&args.ttl).context("--ttl")?;
            let (token, secret) = target
                .create_token(ttl, args.max_uses, args.note.as_deref())
                .await?;
            tracing::debug!("{}", target.describe());
            let collector = data_dir
                .read(&data_dir.endpoint())
                .map(|url| url.trim().to_string());
            println!(
                "Enrollment token {} created: {} use(s), valid until {}.",
                token.id, token.max_uses, token.expires_at
            );
            println!(
                "Enroll an agent with: census-agent enroll --collector {} --ca {} --token <the token below>",
                collector.unwrap_or_else(|_| "https://COLLECTOR:8443".to_string()),
                data_dir.ca_cert().display()
            );
            println!("{secret}");
        }
        EnrollTokenCommand::List(output) => {
            let tokens = target.list_tokens().await?;
            admin::print(&output, &tokens, || {
                admin::table(
                    &["ID", "STATE", "USES", "EXPIRES", "NOTE"],
                    &admin::token_rows(&tokens),
                )
            })?;
        }
        EnrollTokenCommand::Revoke { id } => {
            let token = target.revoke_token(&id).await?;
            println!("Enrollment token {} revoked.", token.id);
        }
    }
    Ok(())
}

async fn agent(config: &Config, command: AgentCommand) -> anyhow::Result<()> {
    let data_dir = commands::initialised_data_dir(config)?;
    let target = Target::connect(&data_dir)?;
    match command {
        AgentCommand::List(output) => {
            let agents = target.list_agents().await?;
            admin::print(&output, &agents, || {
                admin::table(
                    &["AGENT", "STATUS", "HOSTNAME", "ENROLLED", "CERT EXPIRES"],
                    &admin::agent_rows(&agents),
                )
            })?;
        }
        AgentCommand::Approve { id } => {
            let agent = target.set_agent(&id, true).await?;
            println!(
                "Agent {} approved: its reports are accepted from now on.",
                agent.agent_id
            );
        }
        AgentCommand::Revoke { id } => {
            let agent = target.set_agent(&id, false).await?;
            println!(
                "Agent {} revoked: its certificate is refused from its next request on.",
                agent.agent_id
            );
        }
    }
    Ok(())
}
