//! Reports made ready before a phase's clock starts, and the transport that sends them.

use super::*;

/// A report made ready before its phase's clock starts: its coordinates and content hash, its bodies
/// (the `known` form and, when the collector is expected to hold a base, the delta) and their
/// encodings as the agent encodes them, and the full form's. The agent's own `deliver` still decides
/// which to send; bodies and encodings are only looked up.
pub struct Prepared {
    pub(super) report: PendingReport,
    /// The bodies `deliver_precomputed` would otherwise compute inside the clock.
    pub(super) bodies: Precomputed,
    pub(super) full: Option<Vec<u8>>,
    /// The `known` form (every shareable record by digest): how many digests, and the encoded body.
    pub(super) known: Option<(usize, Vec<u8>)>,
    /// The base's hash and the encoded delta against it.
    pub(super) delta: Option<(String, Vec<u8>)>,
}

/// The agent's HTTPS transport, sending a [`Prepared`] body when the report `deliver` built is the one
/// prepared (same report, same kind, same base), and encoding on the spot otherwise (a full report
/// after a refused delta, a base the collector did not hold).
pub(super) struct PreparedTransport<'a> {
    pub(super) client: &'a HttpsClient,
    pub(super) prepared: &'a Prepared,
}

impl Transport for PreparedTransport<'_> {
    async fn check_in(&self, check_in: &CheckIn) -> Result<CheckInResponse, TransportError> {
        self.client.check_in(check_in).await
    }

    async fn report(&self, report: &Report) -> Result<ReportResponse, TransportError> {
        let prepared = self.prepared;
        let encoded = if report.header.report_id != prepared.report.header.report_id {
            None
        } else {
            match &report.body {
                ReportBody::Full { .. } => prepared.full.as_ref(),
                ReportBody::Known { known_packages, .. } => prepared
                    .known
                    .as_ref()
                    .filter(|(n_known, _)| *n_known == known_packages.len())
                    .map(|(_, encoded)| encoded),
                ReportBody::Delta { base_hash, .. } => prepared
                    .delta
                    .as_ref()
                    .filter(|(base, _)| base == base_hash)
                    .map(|(_, encoded)| encoded),
            }
        };
        match encoded {
            Some(encoded) => self.client.report_encoded(encoded.clone()).await,
            None => self.client.report(report).await,
        }
    }
}
