//! Agent endpoints: enrollment (token-authenticated) and renew, check-in, report (client-certificate
//! authenticated).
//!
//! The agent id comes only from the verified client certificate's CN, never from a body. Every mTLS
//! request reads the agent's record (no cache: a sled read is microseconds), so a revocation or an
//! approval takes effect on the agent's next request. A report is acknowledged only after a group
//! commit that started after it was written: an `applied` answer means it is on disk.

use super::body::{Encoding, Limits, check_headers, check_list, decode_json, read_limited};
use super::error::{ApiError, CERTIFICATE_EXPIRED, CERTIFICATE_SUPERSEDED, UNSUPPORTED_PROTOCOL};
use super::{ApiState, blocking};
use crate::enrollment::agents::{self, AgentRecord, EnrollOptions};
use crate::ingest::IngestError;
use crate::metrics::LabelledCounters;
use crate::pki::certificate_identity;
use crate::secret::{now_rfc3339, rfc3339};
use crate::tls::ClientCertificate;
use axum::Json;
use axum::body::Body;
use axum::extract::{FromRequestParts, State};
use axum::http::HeaderMap;
use axum::http::request::Parts;
use census_shared::Inventory;
use census_shared::protocol::{
    AgentStatus, CheckIn, CheckInResponse, EnrollRequest, EnrollResponse, PROTOCOL_VERSION,
    RenewRequest, RenewResponse, Report, ReportBody, ReportOutcome, ReportResponse, error_code,
};
use std::time::Instant;
use time::OffsetDateTime;

/// An enrolled agent that may report (status `active`).
#[derive(Debug, Clone)]
pub struct ActiveAgent(pub AgentRecord);

/// An enrolled agent, active or pending (pending agents may renew their certificate), and the serial
/// of the certificate it presented.
#[derive(Debug, Clone)]
pub struct EnrolledAgent {
    pub record: AgentRecord,
    pub presented_serial: String,
}

impl FromRequestParts<ApiState> for ActiveAgent {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, state: &ApiState) -> Result<Self, ApiError> {
        let (record, _) = identify(parts, state)?;
        if record.status == AgentStatus::Pending {
            return Err(ApiError::new(
                error_code::AGENT_PENDING,
                format!(
                    "agent {} waits for an administrator's approval; keep the data and retry later",
                    record.agent_id
                ),
            ));
        }
        Ok(Self(record))
    }
}

impl FromRequestParts<ApiState> for EnrolledAgent {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, state: &ApiState) -> Result<Self, ApiError> {
        let (record, presented_serial) = identify(parts, state)?;
        Ok(Self {
            record,
            presented_serial,
        })
    }
}

/// The agent record named by the request's client certificate, and that certificate's serial, if the
/// certificate is currently valid, not superseded by a renewal, and the agent is not revoked.
fn identify(parts: &Parts, state: &ApiState) -> Result<(AgentRecord, String), ApiError> {
    let certificate = parts.extensions.get::<ClientCertificate>().ok_or_else(|| {
        ApiError::unauthenticated(
            "this endpoint needs the agent's client certificate; enroll the agent first",
        )
    })?;
    let identity = certificate_identity(&certificate.0).map_err(|error| {
        ApiError::unauthenticated(format!("the client certificate is unreadable: {error}"))
    })?;
    let now = OffsetDateTime::now_utc();
    if now > identity.not_after {
        return Err(ApiError::new(
            CERTIFICATE_EXPIRED,
            format!(
                "the client certificate expired on {}; enroll again",
                rfc3339(identity.not_after)
            ),
        ));
    }
    if now < identity.not_before {
        return Err(ApiError::new(
            CERTIFICATE_EXPIRED,
            format!(
                "the client certificate is not valid before {}; check this machine's clock",
                rfc3339(identity.not_before)
            ),
        ));
    }
    let agent_id = identity.common_name.ok_or_else(|| {
        ApiError::unauthenticated("the client certificate names no agent; enroll again")
    })?;
    tracing::Span::current().record("agent_id", agent_id.as_str());
    let record = agents::get(state.store.as_ref(), &agent_id)?.ok_or_else(|| {
        ApiError::unauthenticated(format!(
            "agent {agent_id} is unknown to this collector; enroll again"
        ))
    })?;
    if record.status == AgentStatus::Revoked {
        return Err(ApiError::new(
            error_code::AGENT_REVOKED,
            format!("agent {agent_id} was revoked by an administrator; enroll again"),
        ));
    }
    let serial = identity.serial_hex;
    if !agents::accepts_certificate(&record, &serial) {
        return Err(ApiError::new(
            CERTIFICATE_SUPERSEDED,
            format!(
                "this certificate of agent {agent_id} (serial {serial}) was replaced by a renewal; \
                 use the agent's current certificate, or enroll again"
            ),
        ));
    }
    if serial == record.cert_serial && record.previous_cert_serial.is_some() {
        // First use of the renewed certificate: the one it replaced is refused from now on.
        agents::confirm_current_certificate(state.store.as_ref(), &agent_id, &serial)?;
    }
    Ok((record, serial))
}

fn check_protocol(version: u32) -> Result<(), ApiError> {
    if version != PROTOCOL_VERSION {
        return Err(ApiError::new(
            UNSUPPORTED_PROTOCOL,
            format!(
                "protocol version {version} is not supported (this collector speaks {PROTOCOL_VERSION}); upgrade the older side"
            ),
        ));
    }
    Ok(())
}

pub async fn enroll(
    State(state): State<ApiState>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<EnrollResponse>, ApiError> {
    let result = enroll_agent(&state, headers, body).await;
    let status = match &result {
        Ok(Json(answer)) => status_name(answer.status),
        Err(_) => "refused",
    };
    count(&state.metrics.enrollments, status, &result);
    result
}

async fn enroll_agent(
    state: &ApiState,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<EnrollResponse>, ApiError> {
    let encoding = check_headers(&headers)?;
    let bytes = read_limited(&headers, body, state.limits.max_small_body_bytes).await?;
    let request: EnrollRequest = decode_json(&bytes, encoding, &state.limits)?;
    let options = EnrollOptions {
        require_approval: state.require_approval,
        cert_validity: state.agent_cert_validity,
    };
    let (store, ca) = (state.store.clone(), state.ca.clone());
    let (record, certificate) = blocking(move || {
        agents::enroll(store.as_ref(), &ca, &request, options).map_err(ApiError::from)
    })
    .await?;
    state.group_commit.durable().await?;
    tracing::info!(agent_id = %record.agent_id, status = ?record.status, token_id = %record.token_id, "agent enrolled");
    Ok(Json(EnrollResponse {
        agent_id: record.agent_id,
        status: record.status,
        certificate_pem: certificate.pem,
        ca_pem: state.ca.cert_pem().to_string(),
        not_after: rfc3339(certificate.not_after),
    }))
}

pub async fn renew(
    State(state): State<ApiState>,
    agent: EnrolledAgent,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<RenewResponse>, ApiError> {
    let encoding = check_headers(&headers)?;
    let bytes = read_limited(&headers, body, state.limits.max_small_body_bytes).await?;
    let request: RenewRequest = decode_json(&bytes, encoding, &state.limits)?;
    let (store, ca, validity) = (
        state.store.clone(),
        state.ca.clone(),
        state.agent_cert_validity,
    );
    let (_, certificate) = blocking(move || {
        agents::renew(
            store.as_ref(),
            &ca,
            &agent.record.agent_id,
            &request.csr_pem,
            validity,
            &agent.presented_serial,
        )
        .map_err(ApiError::from)
    })
    .await?;
    state.group_commit.durable().await?;
    Ok(Json(RenewResponse {
        certificate_pem: certificate.pem,
        not_after: rfc3339(certificate.not_after),
    }))
}

pub async fn check_in(
    State(state): State<ApiState>,
    agent: Result<ActiveAgent, ApiError>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<CheckInResponse>, ApiError> {
    let result = match agent {
        Ok(ActiveAgent(agent)) => check_in_agent(&state, agent, headers, body).await,
        Err(error) => Err(error),
    };
    let outcome = match &result {
        Ok(Json(CheckInResponse::Unchanged)) => "unchanged",
        Ok(Json(CheckInResponse::Duplicate)) => "duplicate",
        Ok(Json(CheckInResponse::SendReport { .. })) => "send_report",
        Err(_) => "refused",
    };
    count(&state.metrics.checkins, outcome, &result);
    result
}

async fn check_in_agent(
    state: &ApiState,
    agent: AgentRecord,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<CheckInResponse>, ApiError> {
    let encoding = check_headers(&headers)?;
    let bytes = read_limited(&headers, body, state.limits.max_small_body_bytes).await?;
    let check_in: CheckIn = decode_json(&bytes, encoding, &state.limits)?;
    check_protocol(check_in.protocol)?;
    // Inline, not on the blocking pool: an unchanged check-in is two small sled reads and one small
    // write to sled's in-memory tree (tens of microseconds, no fsync: durability comes from the flusher),
    // cheaper than the hand-off to another thread, and it is most of a fleet's traffic.
    let answer = state
        .ingest
        .check_in(&agent.agent_id, &check_in.header, &now_rfc3339())
        .map_err(ApiError::from)?;
    Ok(Json(answer))
}

pub async fn report(
    State(state): State<ApiState>,
    agent: Result<ActiveAgent, ApiError>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<ReportResponse>, ApiError> {
    let started = Instant::now();
    let result = match agent {
        Ok(ActiveAgent(agent)) => report_agent(&state, agent, headers, body).await,
        Err(error) => Err(error),
    };
    state.metrics.ingest_seconds.observe(started.elapsed());
    let outcome = match &result {
        Ok(Json(answer)) => match answer.outcome {
            ReportOutcome::Applied => "applied",
            ReportOutcome::Duplicate => "duplicate",
            ReportOutcome::NeedPackages => "need_packages",
        },
        Err(_) => "refused",
    };
    count(&state.metrics.reports, outcome, &result);
    result
}

/// Counts `outcome`, with the error code as `reason` for refusals.
fn count<T>(counters: &LabelledCounters, outcome: &str, result: &Result<T, ApiError>) {
    match result {
        Ok(_) => counters.inc(&[("outcome", outcome)]),
        Err(error) => counters.inc(&[("outcome", outcome), ("reason", error.code)]),
    }
}

fn status_name(status: AgentStatus) -> &'static str {
    match status {
        AgentStatus::Active => "active",
        AgentStatus::Pending => "pending",
        AgentStatus::Revoked => "revoked",
    }
}

async fn report_agent(
    state: &ApiState,
    agent: AgentRecord,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<ReportResponse>, ApiError> {
    // Taken before reading the body: the permit bounds the memory and CPU reports hold at once. It is
    // released before the durability wait, so that many reports share one flush (group commit). A
    // report waits a moment for a slot (its body still unread, in the kernel's buffers) before it is
    // turned away.
    let busy = || {
        ApiError::new(
            error_code::RATE_LIMITED,
            "the collector is busy with other reports; retry after the delay in Retry-After",
        )
    };
    let slot = state.report_slots.clone().acquire_owned();
    let permit = tokio::time::timeout(state.limits.report_queue_wait, slot)
        .await
        .map_err(|_| busy())?
        .map_err(|_| busy())?;
    let encoding = check_headers(&headers)?;
    let bytes = read_limited(&headers, body, state.limits.max_body_bytes).await?;
    let (ingest, limits) = (state.ingest.clone(), state.limits);
    let agent_id = agent.agent_id.clone();
    let outcome = blocking(move || {
        let report = decode_report(&bytes, encoding, &limits)?;
        match ingest.report(&agent_id, &report.header, report.body, &now_rfc3339()) {
            Ok(outcome) => Ok(Ok(outcome)),
            Err(IngestError::UnknownPackages { missing, held }) => Ok(Err((missing, held))),
            Err(error) => Err(ApiError::from(error)),
        }
    })
    .await?;
    drop(permit);
    let outcome = match outcome {
        Ok(outcome) => outcome,
        // Nothing was written: the agent sends the report again with these records whole.
        Err((missing, held)) => {
            tracing::debug!(agent_id = %agent.agent_id, missing = missing.len(), "report names unknown package records");
            return Ok(Json(ReportResponse {
                outcome: ReportOutcome::NeedPackages,
                hash: held,
                missing_packages: Some(missing),
            }));
        }
    };
    // Also for duplicates: the first application may still be waiting for its flush.
    state.group_commit.durable().await?;
    tracing::debug!(agent_id = %agent.agent_id, outcome = ?outcome.outcome, changed = outcome.changed, "report");
    Ok(Json(ReportResponse {
        outcome: outcome.outcome,
        hash: outcome.hash,
        missing_packages: None,
    }))
}

/// A report body as the `report` handler decodes it, before ingestion: gzip (per `encoding`), the JSON
/// shape limits, deserialisation, the protocol version and the list lengths. Pure, so the fuzz target
/// `report_decode` and its corpus test (`collector/tests/fuzz_corpus.rs`) call exactly this.
pub fn decode_report(
    bytes: &[u8],
    encoding: Encoding,
    limits: &Limits,
) -> Result<Report, ApiError> {
    let report: Report = decode_json(bytes, encoding, limits)?;
    check_protocol(report.protocol)?;
    check_report_lists(&report.body, limits)?;
    Ok(report)
}

/// List lengths of a report, beyond the generic JSON array cap.
fn check_report_lists(body: &ReportBody, limits: &Limits) -> Result<(), ApiError> {
    match body {
        ReportBody::Full { inventory } => check_inventory_lists(inventory, limits),
        ReportBody::Delta { delta, .. } => {
            check_list("delta.ops", delta.ops.len(), limits.max_list_items)
        }
        ReportBody::Known {
            inventory,
            known_packages,
            known_installed_at,
        } => {
            check_inventory_lists(inventory, limits)?;
            check_list(
                "known_installed_at",
                known_installed_at.len(),
                limits.max_packages,
            )?;
            // Named and whole packages together make the document's list.
            check_list(
                "software.packages",
                inventory.software.packages.len() + known_packages.len(),
                limits.max_packages,
            )
        }
    }
}

fn check_inventory_lists(inventory: &Inventory, limits: &Limits) -> Result<(), ApiError> {
    check_list(
        "software.packages",
        inventory.software.packages.len(),
        limits.max_packages,
    )?;
    let hardware = &inventory.hardware;
    let network = &inventory.network;
    let lists = [
        ("filesystems", inventory.filesystems.len()),
        ("users", inventory.users.len()),
        ("groups", inventory.groups.len()),
        ("services", inventory.services.len()),
        ("listening_ports", inventory.listening_ports.len()),
        ("collection_errors", inventory.collection_errors.len()),
        ("os.id_like", inventory.os.id_like.len()),
        ("hardware.disks", hardware.disks.len()),
        ("hardware.pci_devices", hardware.pci_devices.len()),
        ("hardware.usb_devices", hardware.usb_devices.len()),
        ("hardware.batteries", hardware.batteries.len()),
        ("hardware.memory.modules", hardware.memory.modules.len()),
        ("network.interfaces", network.interfaces.len()),
        ("network.default_gateways", network.default_gateways.len()),
        ("network.dns_servers", network.dns_servers.len()),
        ("network.search_domains", network.search_domains.len()),
        (
            "network.interfaces[].addresses",
            network.interfaces.iter().map(|i| i.addresses.len()).sum(),
        ),
    ];
    for (name, len) in lists {
        check_list(name, len, limits.max_list_items)?;
    }
    Ok(())
}

#[cfg(test)]
#[path = "agent_tests.rs"]
mod tests;
