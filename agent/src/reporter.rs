//! Delivering reports: check-in, then a delta or a full report, with the spool behind it.
//!
//! # Layout
//! - Pure decisions: [`plan_before_check_in`] (a changed inventory goes straight out as a delta),
//!   [`plan_after_check_in`] (nothing more, a delta, or the full document) and
//!   [`classify`] (what a failure means: retry later, resend in full, wait for a person, or give up).
//! - [`deliver`]: one report through the (check-in)/delta/full exchange over any [`Transport`].
//! - [`Reporter`]: the I/O around it: report coordinates, the acknowledged inventory (delta base) and the
//!   spool. A new report goes straight out when the spool is empty; otherwise it joins the spool and the
//!   spool is delivered oldest first, so the collector always sees reports in sequence order.
//!
//! Every report is a complete snapshot; a delta is only a cheaper encoding of it, so any doubt about
//! the base (a 409 from the collector, a damaged local copy) is settled by sending the full document.

use crate::spool::{PendingReport, Spool, SpoolError};
use crate::state::{Acked, LastReport, StateDir, StateError};
use crate::transport::{Transport, TransportError};
use census_shared::delta;
use census_shared::hash::content_hash;
use census_shared::inventory::Inventory;
use census_shared::package_digest::{KnownForm, PackageDigests, known_form};
use census_shared::protocol::{
    CheckIn, CheckInResponse, PROTOCOL_VERSION, Report, ReportBody, ReportHeader, ReportOutcome,
    error_code,
};
use std::time::{Duration, SystemTime};

pub const AGENT_VERSION: &str = env!("CARGO_PKG_VERSION");

#[derive(Debug, thiserror::Error)]
pub enum ReporterError {
    #[error(transparent)]
    State(#[from] StateError),
    #[error(transparent)]
    Spool(#[from] SpoolError),
}

/// What to do after the check-in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Plan {
    /// The collector needs nothing more.
    Done(Done),
    /// Send a delta against `base_hash` (the agent holds that inventory).
    SendDelta {
        base_hash: String,
    },
    SendFull,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Done {
    /// The collector holds this exact inventory.
    Unchanged,
    /// This report was applied before (a retry after a lost answer).
    Duplicate,
}

/// The plan when no check-in is needed: an inventory that differs from the one the collector
/// acknowledged goes straight out as a delta against it. The delta names its base, so a collector
/// that holds another answers 409 and the full document follows; a check-in would only have said
/// what the report itself proves, at the cost of a round trip. `None`: ask the collector first
/// (nothing acknowledged yet, or an unchanged inventory, whose check-in is the whole exchange).
pub fn plan_before_check_in(report_hash: &str, acked: Option<&Acked>) -> Option<Plan> {
    acked
        .filter(|acked| acked.hash != report_hash)
        .map(|acked| Plan::SendDelta {
            base_hash: acked.hash.clone(),
        })
}

pub fn plan_after_check_in(answer: &CheckInResponse, acked: Option<&Acked>) -> Plan {
    match answer {
        CheckInResponse::Unchanged => Plan::Done(Done::Unchanged),
        CheckInResponse::Duplicate => Plan::Done(Done::Duplicate),
        CheckInResponse::SendReport {
            base_hash: Some(base_hash),
        } if acked.is_some_and(|acked| &acked.hash == base_hash) => Plan::SendDelta {
            base_hash: base_hash.clone(),
        },
        CheckInResponse::SendReport { .. } => Plan::SendFull,
    }
}

/// What a failed request means for the report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// Keep the report and try again later (after `after` when the collector said so).
    Retry { after: Option<Duration> },
    /// The compact form (a delta, or the `known` form) could not be taken: send the full document now.
    ResendFull,
    /// Keep the report, but nothing changes until a person acts (CA, certificate, revocation).
    Blocked,
    /// The collector will never accept this report: set it aside.
    Rejected,
}

/// The form a report's body was sent in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Form {
    Full,
    Delta,
    /// The full document with shared package records named by digest.
    Known,
}

/// Classifies `error`, the answer to a body sent in `form`.
pub fn classify(error: &TransportError, form: Form) -> Failure {
    match error {
        TransportError::Unreachable { .. } | TransportError::BadAnswer { .. } => {
            Failure::Retry { after: None }
        }
        TransportError::UntrustedCollector { .. }
        | TransportError::CertificateRefused { .. }
        | TransportError::Setup(_) => Failure::Blocked,
        TransportError::Api {
            status,
            code,
            retry_after,
            ..
        } => {
            let code = code.as_deref();
            match (*status, code) {
                (429, _) | (500..=599, _) | (408, _) => Failure::Retry {
                    after: *retry_after,
                },
                (403, Some(error_code::AGENT_PENDING)) => Failure::Retry {
                    after: *retry_after,
                },
                (409, Some(error_code::BASE_MISMATCH | error_code::HASH_MISMATCH))
                    if form != Form::Full =>
                {
                    Failure::ResendFull
                }
                // A collector that predates the `known` form refuses it as an invalid body.
                (400 | 422, _) if form == Form::Known => Failure::ResendFull,
                (401 | 403, _) => Failure::Blocked,
                _ => Failure::Rejected,
            }
        }
    }
}

/// How one report's delivery ended.
#[derive(Debug)]
pub enum Delivery {
    Done(Done),
    /// The collector stored it and now holds `hash`; `form` tells how it was sent.
    Applied {
        hash: String,
        form: Form,
    },
    Retry {
        after: Option<Duration>,
        error: TransportError,
    },
    Blocked {
        error: TransportError,
    },
    Rejected {
        error: TransportError,
    },
}

impl Delivery {
    pub fn is_delivered(&self) -> bool {
        matches!(self, Delivery::Done(_) | Delivery::Applied { .. })
    }

    fn failed(error: TransportError, failure: Failure) -> Delivery {
        match failure {
            Failure::Retry { after } => Delivery::Retry { after, error },
            Failure::Blocked => Delivery::Blocked { error },
            // A ResendFull that reaches here answered a full report: it cannot get better.
            Failure::Rejected | Failure::ResendFull => Delivery::Rejected { error },
        }
    }
}

/// Report bodies computed before delivery: the fleet simulator prepares them before its clock
/// starts, as each real agent computes them on its own machine. [`deliver_precomputed`] uses what
/// matches and computes the rest.
#[derive(Debug, Clone, Default)]
pub struct Precomputed {
    /// A delta, with the hash of the base it applies to.
    pub delta: Option<(String, delta::Delta)>,
    /// The `known` form with every package by digest.
    pub known: Option<KnownForm>,
}

/// Delivers one report: a delta against `acked` when the inventory changed since, otherwise a
/// check-in, then (if asked) a delta or the whole inventory.
pub async fn deliver<T: Transport>(
    transport: &T,
    report: &PendingReport,
    acked: Option<&Acked>,
) -> Delivery {
    deliver_precomputed(transport, report, acked, &Precomputed::default()).await
}

/// [`deliver`], with bodies computed beforehand.
pub async fn deliver_precomputed<T: Transport>(
    transport: &T,
    report: &PendingReport,
    acked: Option<&Acked>,
    precomputed: &Precomputed,
) -> Delivery {
    let plan = match plan_before_check_in(&report.header.hash, acked) {
        Some(plan) => plan,
        None => {
            let check_in = CheckIn {
                protocol: PROTOCOL_VERSION,
                header: report.header.clone(),
                agent_version: AGENT_VERSION.to_string(),
            };
            match transport.check_in(&check_in).await {
                Ok(answer) => plan_after_check_in(&answer, acked),
                Err(error) => {
                    let failure = classify(&error, Form::Full);
                    return Delivery::failed(error, failure);
                }
            }
        }
    };
    let delta = match (&plan, acked) {
        (Plan::Done(done), _) => return Delivery::Done(*done),
        (Plan::SendDelta { base_hash }, Some(acked)) => ReportBody::Delta {
            base_hash: base_hash.clone(),
            delta: match &precomputed.delta {
                Some((base, delta)) if base == base_hash => delta.clone(),
                _ => delta::diff(&acked.inventory, &report.inventory),
            },
        },
        _ => return send_whole(transport, report, precomputed.known.as_ref()).await,
    };
    match send(transport, report, delta).await {
        Ok(Answer::Delivered(delivery)) => delivery,
        Ok(Answer::NeedPackages(_)) => unexpected_need_packages(),
        Err(error) => match classify(&error, Form::Delta) {
            Failure::ResendFull => {
                tracing::info!(%error, "the collector holds another base; sending the whole inventory");
                send_whole(transport, report, precomputed.known.as_ref()).await
            }
            failure => Delivery::failed(error, failure),
        },
    }
}

/// Sends the whole inventory: first in the `known` form (packages whose records the collector may
/// hold named by digest, then whole those it says it lacks), and in the `full` form when the
/// collector cannot take that (an older collector, or a digest that named another record).
async fn send_whole<T: Transport>(
    transport: &T,
    report: &PendingReport,
    precomputed: Option<&KnownForm>,
) -> Delivery {
    let mut in_full = Vec::new();
    // At most two `known` attempts: all by digest, then with the missing records whole. A collector
    // that still lacks some (records it lost meanwhile) gets the full form.
    for _ in 0..2 {
        let form = match precomputed {
            Some(form) if in_full.is_empty() => form.clone(),
            _ => known_form(&report.inventory, &in_full),
        };
        if form.known_packages.is_empty() {
            break;
        }
        match send(transport, report, form.into_body()).await {
            Ok(Answer::Delivered(delivery)) => return delivery,
            Ok(Answer::NeedPackages(missing)) => in_full.extend(missing.0),
            Err(error) => match classify(&error, Form::Known) {
                Failure::ResendFull => {
                    tracing::info!(%error, "the collector did not take package digests; sending the full inventory");
                    break;
                }
                failure => return Delivery::failed(error, failure),
            },
        }
    }
    let full = ReportBody::Full {
        inventory: Box::new(report.inventory.clone()),
    };
    match send(transport, report, full).await {
        Ok(Answer::Delivered(delivery)) => delivery,
        Ok(Answer::NeedPackages(_)) => unexpected_need_packages(),
        Err(error) => {
            let failure = classify(&error, Form::Full);
            Delivery::failed(error, failure)
        }
    }
}

/// A collector asking for packages a body did not name by digest: keep the report and retry later.
fn unexpected_need_packages() -> Delivery {
    Delivery::Retry {
        after: None,
        error: TransportError::BadAnswer {
            path: census_shared::protocol::PATH_REPORT.into(),
            message: "the collector asked for package records the report did not name".into(),
        },
    }
}

/// A collector's answer to one report request.
enum Answer {
    Delivered(Delivery),
    /// A `known` report was not applied: these records must be sent whole.
    NeedPackages(PackageDigests),
}

async fn send<T: Transport>(
    transport: &T,
    report: &PendingReport,
    body: ReportBody,
) -> Result<Answer, TransportError> {
    let form = match body {
        ReportBody::Full { .. } => Form::Full,
        ReportBody::Delta { .. } => Form::Delta,
        ReportBody::Known { .. } => Form::Known,
    };
    let request = Report {
        protocol: PROTOCOL_VERSION,
        header: report.header.clone(),
        body,
    };
    let response = transport.report(&request).await?;
    Ok(match response.outcome {
        ReportOutcome::Applied => Answer::Delivered(Delivery::Applied {
            hash: response.hash,
            form,
        }),
        ReportOutcome::Duplicate => Answer::Delivered(Delivery::Done(Done::Duplicate)),
        ReportOutcome::NeedPackages => {
            Answer::NeedPackages(response.missing_packages.unwrap_or_default())
        }
    })
}

/// How a report cycle ended, for logs, `once` and `status`.
#[derive(Debug)]
pub struct CycleResult {
    /// The new report's delivery (`None` when it stayed in the spool behind an older one).
    pub delivery: Option<Delivery>,
    /// The failure that stopped the spool, if any.
    pub stopped: Option<Delivery>,
    /// Reports delivered from the spool in this cycle (the new one included when it went through it).
    pub n_delivered_from_spool: usize,
    /// Reports still waiting.
    pub n_spooled: usize,
}

impl CycleResult {
    /// True when the new report reached the collector.
    pub fn delivered(&self) -> bool {
        self.delivery.as_ref().is_some_and(Delivery::is_delivered)
    }

    /// When to retry the spool, if the collector said.
    pub fn retry_after(&self) -> Option<Duration> {
        match &self.stopped {
            Some(Delivery::Retry { after, .. }) => *after,
            _ => None,
        }
    }

    /// The failure a person must fix, if any.
    pub fn blocked(&self) -> Option<&TransportError> {
        match &self.stopped {
            Some(Delivery::Blocked { error }) => Some(error),
            _ => None,
        }
    }
}

/// The I/O side of reporting: coordinates, delta base, spool.
pub struct Reporter<'a, T> {
    pub transport: &'a T,
    pub state: &'a StateDir,
    pub spool: &'a Spool,
}

impl<T: Transport> Reporter<'_, T> {
    /// Gives `inventory` its coordinates and delivers it, after any older spooled reports.
    pub async fn report(&self, inventory: Inventory) -> Result<CycleResult, ReporterError> {
        let now_unix = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map(|since| since.as_secs())
            .unwrap_or_default();
        let sequence = self.state.next_sequence(now_unix)?;
        let report = PendingReport {
            header: ReportHeader {
                epoch: sequence.epoch,
                seq: sequence.seq,
                report_id: uuid::Uuid::new_v4().to_string(),
                hash: content_hash(&inventory),
                collected_at: inventory.collected_at.clone(),
            },
            inventory,
        };
        if !self.spool.entries()?.is_empty() {
            // Older reports wait: this one queues behind them so the collector sees them in order.
            self.spool.push(&report)?;
            let (mut result, last) = self.drain_inner().await?;
            if let Some((coordinates, delivery)) = last
                && coordinates == (sequence.epoch, sequence.seq)
            {
                result.delivery = Some(delivery);
            }
            self.record(&result)?;
            return Ok(result);
        }
        let delivery = deliver(self.transport, &report, self.state.acked().as_ref()).await;
        match &delivery {
            Delivery::Retry { error, .. } | Delivery::Blocked { error } => {
                tracing::warn!(%error, seq = sequence.seq, "report not delivered; keeping it in the spool");
                self.spool.push(&report)?;
            }
            Delivery::Rejected { error } => {
                let path = self.spool.put_quarantine(&report)?;
                tracing::error!(%error, path = %path.display(), "the collector rejected the report; kept in quarantine");
            }
            delivered => self.acknowledge(&report, delivered)?,
        }
        let n_spooled = self.spool.entries()?.len();
        let stopped_early = !delivery.is_delivered();
        let mut result = CycleResult {
            delivery: None,
            stopped: None,
            n_delivered_from_spool: 0,
            n_spooled,
        };
        if stopped_early && !matches!(delivery, Delivery::Rejected { .. }) {
            result.stopped = Some(delivery);
        } else {
            result.delivery = Some(delivery);
        }
        self.record(&result)?;
        Ok(result)
    }

    /// Delivers spooled reports oldest first; stops at the first one that cannot be delivered now.
    pub async fn drain(&self) -> Result<CycleResult, ReporterError> {
        let (mut result, last) = self.drain_inner().await?;
        result.delivery = last.map(|(_, delivery)| delivery);
        if result.delivery.is_some() {
            // `status` then shows the retry that got the spool through, not the failure before it.
            self.record(&result)?;
        }
        Ok(result)
    }

    /// [`Reporter::drain`], also returning the last report it settled (delivered or rejected) with its
    /// `(epoch, seq)`.
    async fn drain_inner(
        &self,
    ) -> Result<(CycleResult, Option<((u64, u64), Delivery)>), ReporterError> {
        let mut last = None;
        let mut n_delivered = 0;
        let mut stopped = None;
        for entry in self.spool.entries()? {
            let Some(report) = self.spool.load(&entry)? else {
                continue; // quarantined
            };
            let delivery = deliver(self.transport, &report, self.state.acked().as_ref()).await;
            match delivery {
                Delivery::Retry { .. } | Delivery::Blocked { .. } => {
                    stopped = Some(delivery);
                    break;
                }
                Delivery::Rejected { ref error } => {
                    let path = self.spool.quarantine(&entry)?;
                    tracing::error!(%error, path = %path.display(), "the collector rejected a spooled report; moved to quarantine");
                    last = Some(((entry.epoch, entry.seq), delivery));
                }
                delivered => {
                    self.acknowledge(&report, &delivered)?;
                    self.spool.remove(&entry)?;
                    n_delivered += 1;
                    tracing::info!(seq = report.header.seq, "spooled report delivered");
                    last = Some(((entry.epoch, entry.seq), delivered));
                }
            }
        }
        let n_spooled = self.spool.entries()?.len();
        let result = CycleResult {
            delivery: None,
            stopped,
            n_delivered_from_spool: n_delivered,
            n_spooled,
        };
        Ok((result, last))
    }

    /// Remembers what the collector now holds, so the next report can be a delta against it.
    fn acknowledge(
        &self,
        report: &PendingReport,
        delivery: &Delivery,
    ) -> Result<(), ReporterError> {
        let holds_this = match delivery {
            Delivery::Done(Done::Unchanged) => true,
            Delivery::Applied { hash, .. } => {
                if hash != &report.header.hash {
                    tracing::warn!(ours = %report.header.hash, theirs = %hash, "the collector holds a different inventory hash; the next report is full");
                    self.state.clear_acked()?;
                    return Ok(());
                }
                true
            }
            _ => false,
        };
        let already = self
            .state
            .acked()
            .is_some_and(|acked| acked.hash == report.header.hash);
        if holds_this && !already {
            self.state.save_acked(&Acked {
                hash: report.header.hash.clone(),
                inventory: report.inventory.clone(),
            })?;
        }
        Ok(())
    }

    fn record(&self, result: &CycleResult) -> Result<(), ReporterError> {
        let (outcome, detail) = match (&result.delivery, &result.stopped) {
            (Some(Delivery::Done(Done::Unchanged)), _) => ("unchanged", None),
            (Some(Delivery::Done(Done::Duplicate)), _) => ("delivered", Some("duplicate".into())),
            (Some(Delivery::Applied { form, .. }), _) => (
                "delivered",
                Some(
                    match form {
                        Form::Delta => "delta",
                        Form::Known => "full, known packages by digest",
                        Form::Full => "full",
                    }
                    .to_string(),
                ),
            ),
            (Some(Delivery::Rejected { error }), _) => ("rejected", Some(error.to_string())),
            (_, Some(Delivery::Retry { error, .. } | Delivery::Blocked { error })) => {
                ("spooled", Some(error.to_string()))
            }
            _ => ("spooled", None),
        };
        self.state.save_last_report(&LastReport {
            at: crate::now_rfc3339(),
            outcome: outcome.to_string(),
            detail,
        })?;
        Ok(())
    }
}

#[cfg(test)]
#[path = "reporter_tests.rs"]
mod tests;
