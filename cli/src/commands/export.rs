//! `census export [QUERY] --format csv|json|ndjson [-o FILE]`: the collector's streaming export, written
//! as the bytes arrive (constant memory whatever the fleet size).
//!
//! When stderr is a terminal a one-line progress counter (lines and bytes so far) is redrawn there at
//! most [`PROGRESS_EVERY`]; stdout carries only the export, so `> file.csv` gets exactly the
//! collector's bytes. A stream cut short (the collector logs why) is an error, and `-o FILE` is then
//! removed rather than left looking complete.

use crate::cli::ExportArgs;
use crate::client::Client;
use crate::output::human_bytes;
use anyhow::Context;
use std::io::{IsTerminal, Write};
use std::path::Path;
use std::time::{Duration, Instant};

/// How often the progress line may be redrawn.
const PROGRESS_EVERY: Duration = Duration::from_millis(200);

pub async fn run(client: &Client, args: ExportArgs) -> anyhow::Result<()> {
    let mut params = vec![("format", args.format.name().to_string())];
    if let Some(query) = &args.query {
        params.push(("q", query.clone()));
    }
    if let Some(as_of) = &args.as_of {
        params.push(("as_of", as_of.clone()));
    }
    let response = client
        .stream(&["api", "v1", "assets", "export"], &params)
        .await?;
    let progress = std::io::stderr().is_terminal();
    match &args.output {
        None => copy(response, &mut std::io::stdout().lock(), progress).await,
        Some(path) => {
            let result = async {
                let mut file = std::fs::File::create(path)
                    .with_context(|| format!("creating {}", path.display()))?;
                copy(response, &mut file, progress).await?;
                file.sync_all()
                    .with_context(|| format!("writing {}", path.display()))
            }
            .await;
            if result.is_err() {
                remove_partial(path);
            }
            result
        }
    }
}

fn remove_partial(path: &Path) {
    if std::fs::remove_file(path).is_ok() {
        eprintln!("census: removed the incomplete {}", path.display());
    }
}

/// Copies the body to `out` chunk by chunk, flushing each so a reader downstream sees rows as they come.
async fn copy(
    mut response: reqwest::Response,
    out: &mut impl Write,
    progress: bool,
) -> anyhow::Result<()> {
    let mut counter = Counter::default();
    let mut last_drawn = Instant::now();
    loop {
        let chunk = response.chunk().await.context(
            "the export was cut short (the collector logged why); the output is incomplete, run it again",
        )?;
        let Some(chunk) = chunk else { break };
        out.write_all(&chunk).context("writing the export")?;
        out.flush().context("writing the export")?;
        counter.add(&chunk);
        if progress && last_drawn.elapsed() >= PROGRESS_EVERY {
            eprint!("\r{}", counter.line());
            last_drawn = Instant::now();
        }
    }
    if progress {
        eprintln!("\r{}, done", counter.line());
    }
    Ok(())
}

/// Lines and bytes received so far.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Counter {
    pub lines: u64,
    pub bytes: u64,
}

impl Counter {
    pub fn add(&mut self, chunk: &[u8]) {
        self.bytes += chunk.len() as u64;
        self.lines += chunk.iter().filter(|&&b| b == b'\n').count() as u64;
    }

    /// `exported 1200 lines, 1.5 MiB`.
    pub fn line(&self) -> String {
        format!("exported {} lines, {}", self.lines, human_bytes(self.bytes))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn progress_counts_lines_across_chunk_boundaries() {
        let mut counter = Counter::default();
        counter.add(b"id,hostname\r\nci-1,web");
        counter.add(b"-01\r\n");
        assert_eq!(
            counter,
            Counter {
                lines: 2,
                bytes: 26
            }
        );
        assert_eq!(counter.line(), "exported 2 lines, 26 B");
    }
}
