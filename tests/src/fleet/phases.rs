//! The timed phases of a simulated fleet: report rounds (prepared, then delivered), the outage burst,
//! and sustained check-ins.

use super::*;

/// One report round across the fleet: each agent runs the agent's own delivery (check-in, then delta or
/// full as the collector asks). `change` alters an agent's inventory before the round.
pub async fn report_round(
    phase: &str,
    agents: Vec<SimAgent>,
    concurrency: usize,
    change: impl Fn(&mut SimAgent),
) -> (Vec<SimAgent>, PhaseStats) {
    deliver_round(phase, prepare_round(agents, change), concurrency).await
}

/// The fleet with its next report prepared (see [`prepare_round`]).
pub struct ReadyRound(Vec<(SimAgent, Prepared)>);

/// The work before a round's clock starts: each machine makes its `change`, then hashes and encodes
/// its report, as every real agent does on its own machine.
pub fn prepare_round(agents: Vec<SimAgent>, change: impl Fn(&mut SimAgent)) -> ReadyRound {
    let mut ready = Vec::with_capacity(agents.len());
    for mut agent in agents {
        change(&mut agent);
        agent.seq += 1;
        let prepared = agent.prepare(agent.seq, agent.acked.as_ref());
        ready.push((agent, prepared));
    }
    ReadyRound(ready)
}

/// Delivers a prepared round, at most `concurrency` agents at a time; the phase's clock.
pub async fn deliver_round(
    phase: &str,
    ready: ReadyRound,
    concurrency: usize,
) -> (Vec<SimAgent>, PhaseStats) {
    let semaphore = Arc::new(Semaphore::new(concurrency.max(1)));
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for (mut agent, mut prepared) in ready.0 {
        let semaphore = Arc::clone(&semaphore);
        tasks.spawn(async move {
            let _permit = semaphore.acquire_owned().await.ok();
            let began = Instant::now();
            let (outcome, throttled) = agent.deliver_with_retries(&mut prepared, false).await;
            let latency = began.elapsed().as_secs_f64() * 1000.0;
            // Freed once the clock stopped (see `SimAgent::drop_spent`).
            (agent, prepared, latency, outcome, throttled)
        });
    }
    let mut done = Vec::new();
    let mut spent = Vec::new();
    let mut latencies = Vec::new();
    let mut outcomes = Vec::new();
    let mut throttles = Vec::new();
    while let Some(joined) = tasks.join_next().await {
        if let Ok((agent, prepared, latency, outcome, throttled)) = joined {
            done.push(agent);
            spent.push(prepared);
            latencies.push(latency);
            outcomes.push(outcome);
            throttles.push(throttled);
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    drop(spent);
    done.sort_by_key(|agent| agent.index);
    done.iter_mut().for_each(SimAgent::drop_spent);
    let stats = PhaseStats::from(phase, seconds, latencies, &outcomes, &throttles);
    (done, stats)
}

/// The "collector was down" burst: while it was unreachable each agent queued `queued_per_agent`
/// reports (a few package upgrades each, as hourly runs would make), and now every agent delivers its
/// queue at once, oldest first, retrying on backpressure: the thundering herd a restart after an outage
/// meets. `concurrency` bounds the agents delivering at once (pass the fleet size for a true herd).
/// Latencies are per report, from the start of its first attempt to its outcome.
pub async fn outage_burst(
    agents: Vec<SimAgent>,
    queued_per_agent: usize,
    upgrades: usize,
    concurrency: usize,
) -> (Vec<SimAgent>, PhaseStats) {
    deliver_burst(
        prepare_burst(agents, queued_per_agent, upgrades),
        concurrency,
    )
    .await
}

/// The fleet with the reports it queued during an outage (see [`prepare_burst`]).
pub struct ReadyBurst(Vec<(SimAgent, Vec<Prepared>)>);

/// The work before the burst's clock starts: each agent queues `queued_per_agent` reports of
/// `upgrades` package upgrades each, hashed and encoded.
pub fn prepare_burst(
    agents: Vec<SimAgent>,
    queued_per_agent: usize,
    upgrades: usize,
) -> ReadyBurst {
    let mut ready = Vec::with_capacity(agents.len());
    for mut agent in agents {
        // Spooled during the outage: each report a complete snapshot with its own coordinates, encoded
        // as a delta against the one before it (what the collector holds once that one is delivered).
        let mut queue: Vec<Prepared> = Vec::with_capacity(queued_per_agent);
        for _ in 0..queued_per_agent {
            agent.upgrade_packages(upgrades);
            agent.seq += 1;
            let base = match queue.last() {
                Some(previous) => Some(Acked {
                    hash: previous.report.header.hash.clone(),
                    inventory: previous.report.inventory.clone(),
                }),
                None => agent.acked.clone(),
            };
            queue.push(agent.prepare(agent.seq, base.as_ref()));
        }
        ready.push((agent, queue));
    }
    ReadyBurst(ready)
}

/// Delivers every agent's queue, `concurrency` agents at once; the burst's clock.
pub async fn deliver_burst(ready: ReadyBurst, concurrency: usize) -> (Vec<SimAgent>, PhaseStats) {
    let semaphore = Arc::new(Semaphore::new(concurrency.max(1)));
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for (mut agent, queue) in ready.0 {
        let semaphore = Arc::clone(&semaphore);
        tasks.spawn(async move {
            let _permit = semaphore.acquire_owned().await.ok();
            let mut results = Vec::with_capacity(queue.len());
            let mut spent = Vec::with_capacity(queue.len());
            for mut report in queue {
                let began = Instant::now();
                // Agents keep the report and try again after any transient failure: the backlog
                // must drain whatever the collector's connection limit did to the herd.
                let (outcome, throttles) = agent.deliver_with_retries(&mut report, true).await;
                spent.push(report);
                let failed = matches!(outcome, Outcome::Failed(_) | Outcome::Unreachable(_));
                results.push((began.elapsed().as_secs_f64() * 1000.0, outcome, throttles));
                if failed {
                    // A real agent stops draining at the first failure and keeps the rest spooled.
                    break;
                }
            }
            (agent, results, spent)
        });
    }
    let mut done = Vec::new();
    let mut spent = Vec::new();
    let mut latencies = Vec::new();
    let mut outcomes = Vec::new();
    let mut throttles = Vec::new();
    while let Some(joined) = tasks.join_next().await {
        if let Ok((agent, results, agent_spent)) = joined {
            done.push(agent);
            spent.push(agent_spent);
            for (latency, outcome, throttled) in results {
                latencies.push(latency);
                outcomes.push(outcome);
                throttles.push(throttled);
            }
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    drop(spent);
    done.sort_by_key(|agent| agent.index);
    done.iter_mut().for_each(SimAgent::drop_spent);
    let stats = PhaseStats::from("outage burst", seconds, latencies, &outcomes, &throttles);
    (done, stats)
}

/// Sustained unchanged check-ins: every agent sends check-ins back to back over its own kept-alive
/// connection for `duration`, with its hash computed once (a real agent hashes once per collection,
/// not per request). This measures the collector's check-in capacity rather than the simulator's
/// inventory work; agents must have an acknowledged report first.
pub async fn checkin_load(
    agents: Vec<SimAgent>,
    duration: Duration,
) -> (Vec<SimAgent>, PhaseStats) {
    let started = Instant::now();
    let deadline = started + duration;
    let mut tasks = tokio::task::JoinSet::new();
    for mut agent in agents {
        tasks.spawn(async move {
            let hash = content_hash(&agent.inventory);
            let mut latencies = Vec::new();
            let mut outcomes = Vec::new();
            let mut throttles = Throttles::default();
            while Instant::now() < deadline {
                agent.seq += 1;
                let check_in = CheckIn {
                    protocol: PROTOCOL_VERSION,
                    header: ReportHeader {
                        epoch: 1,
                        seq: agent.seq,
                        report_id: format!("sim-{}-{}", agent.index, agent.seq),
                        hash: hash.clone(),
                        collected_at: agent.inventory.collected_at.clone(),
                    },
                    agent_version: agent.inventory.agent.version.clone(),
                };
                let began = Instant::now();
                let answer = agent.client.check_in(&check_in).await;
                latencies.push(began.elapsed().as_secs_f64() * 1000.0);
                outcomes.push(match answer {
                    Ok(CheckInResponse::Unchanged | CheckInResponse::Duplicate) => {
                        Outcome::Unchanged
                    }
                    Ok(other) => Outcome::Failed(format!("expected unchanged, got {other:?}")),
                    Err(error) if matches!(error.status(), Some(429 | 503)) => {
                        throttles.retried += 1;
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                    Err(error) => Outcome::Failed(error.to_string()),
                });
            }
            (agent, latencies, outcomes, throttles)
        });
    }
    let (mut done, mut latencies, mut outcomes, mut throttles) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    while let Some(joined) = tasks.join_next().await {
        if let Ok((agent, agent_latencies, agent_outcomes, agent_throttles)) = joined {
            done.push(agent);
            latencies.extend(agent_latencies);
            outcomes.extend(agent_outcomes);
            throttles.push(agent_throttles);
        }
    }
    done.sort_by_key(|agent| agent.index);
    let stats = PhaseStats::from(
        "sustained check-ins",
        started.elapsed().as_secs_f64(),
        latencies,
        &outcomes,
        &throttles,
    );
    (done, stats)
}
