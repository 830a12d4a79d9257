//! `census login` and `census logout`.
//!
//! The token is read from a prompt with echo off when stdin is a terminal, else from stdin's first line
//! (`census login ... < token-file`, or piped from a secret store), so it never appears in the shell
//! history or the process list. It is checked with an authenticated GET before anything is stored:
//! a refused token (exit 3) or an unreachable collector (exit 5) leaves the old login in place.

use crate::cli::LoginArgs;
use crate::client::Client;
use crate::config::{self, Login, Session};
use anyhow::{Context, bail};
use std::io::{BufRead, IsTerminal, Write};

pub async fn login(args: LoginArgs) -> anyhow::Result<()> {
    let collector = config::collector_url(&args.collector)?;
    let ca_pem = std::fs::read_to_string(&args.ca).with_context(|| {
        format!(
            "reading the collector CA {} (give the ca.pem of the collector's data directory)",
            args.ca.display()
        )
    })?;
    config::check_ca_pem(&ca_pem, &args.ca.display().to_string())?;
    // Known before the token is asked for, so a bad environment fails without a wasted prompt.
    let dir = config::config_dir_from_env()?;
    let token = read_token(&collector)?;
    if token.is_empty() {
        bail!(
            "no token was given: type it at the prompt, or pipe it in (`census login --collector URL --ca FILE < token-file`)"
        );
    }
    let session = Session {
        collector: collector.clone(),
        ca_pem: ca_pem.clone(),
        token: token.clone(),
    };
    Client::new(&session)?
        .get(&["api", "v1", "assets"], &[("limit", "1".to_string())])
        .await
        .context("checking the token with the collector (nothing was saved)")?;
    let path = config::save(
        &dir,
        &Login {
            collector: collector.clone(),
            ca_pem,
            token,
        },
    )?;
    eprintln!(
        "logged in to {collector}; the token is stored in {}",
        path.display()
    );
    Ok(())
}

pub fn logout() -> anyhow::Result<()> {
    let dir = config::config_dir_from_env()?;
    if config::remove(&dir)? {
        eprintln!(
            "logged out: removed {}",
            dir.join(config::LOGIN_FILE).display()
        );
    } else {
        eprintln!(
            "not logged in: there was no stored login in {}",
            dir.display()
        );
    }
    Ok(())
}

/// The token from a hidden prompt (terminal) or stdin's first line (pipe or file).
fn read_token(collector: &str) -> anyhow::Result<String> {
    let stdin = std::io::stdin();
    if !stdin.is_terminal() {
        let mut line = String::new();
        stdin
            .lock()
            .read_line(&mut line)
            .context("reading the token from standard input")?;
        return Ok(line.trim().to_string());
    }
    eprint!("API token for {collector}: ");
    std::io::stderr().flush().ok();
    let echo = EchoOff::new(&stdin);
    let mut line = String::new();
    let read = stdin.lock().read_line(&mut line);
    drop(echo);
    // The user's Enter was not echoed either.
    eprintln!();
    read.context("reading the token from the terminal")?;
    Ok(line.trim().to_string())
}

/// Terminal echo switched off for as long as this lives (restored on drop, also on error paths).
struct EchoOff<'a> {
    stdin: &'a std::io::Stdin,
    saved: Option<rustix::termios::Termios>,
}

impl<'a> EchoOff<'a> {
    fn new(stdin: &'a std::io::Stdin) -> Self {
        use rustix::termios::{LocalModes, OptionalActions, tcgetattr, tcsetattr};
        let saved = tcgetattr(stdin).ok();
        if let Some(saved) = &saved {
            let mut quiet = saved.clone();
            quiet.local_modes.remove(LocalModes::ECHO);
            // Without echo control the prompt still works; the token is then visible, as with `read`.
            let _ = tcsetattr(stdin, OptionalActions::Now, &quiet);
        }
        Self { stdin, saved }
    }
}

impl Drop for EchoOff<'_> {
    fn drop(&mut self) {
        if let Some(saved) = &self.saved {
            let _ = rustix::termios::tcsetattr(
                self.stdin,
                rustix::termios::OptionalActions::Now,
                saved,
            );
        }
    }
}
