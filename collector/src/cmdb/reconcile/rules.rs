//! The identification rules and the decision they lead to.
//!
//! Rules in priority order: (1) system vendor + serial, (2) SMBIOS UUID, (3) baseboard/chassis serial,
//! (4) machine-id, (5) MAC set + hostname; disk serials only support a decision. Rules 1–3 name hardware
//! and are *strong*; 4–5 name an installation or a network identity and are *weak*.
//!
//! A weak match is refused (and the machine gets its own CI) when the candidate CI's strong identifiers,
//! or its MACs, contradict the report's: that is a clone of a VM image, which shares machine-id and
//! hostname but not SMBIOS UUID nor MACs. A strong match contradicted by another strong identifier, two
//! CIs matched by one rule, or two rules pointing at different CIs, is a conflict for a person: the
//! CMDB never merges on disputed evidence.

use super::Identifiers;
use crate::cmdb::model::{CiNum, ci_id};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Rule {
    VendorSerial,
    SmbiosUuid,
    BoardSerial,
    MachineId,
    MacHostname,
}

impl Rule {
    pub const ORDER: [Rule; 5] = [
        Rule::VendorSerial,
        Rule::SmbiosUuid,
        Rule::BoardSerial,
        Rule::MachineId,
        Rule::MacHostname,
    ];

    pub fn is_strong(self) -> bool {
        matches!(
            self,
            Rule::VendorSerial | Rule::SmbiosUuid | Rule::BoardSerial
        )
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Rule::VendorSerial => "vendor_serial",
            Rule::SmbiosUuid => "smbios_uuid",
            Rule::BoardSerial => "board_serial",
            Rule::MachineId => "machine_id",
            Rule::MacHostname => "mac_hostname",
        }
    }
}

/// The CIs an index lookup found, with their identifiers: every CI sharing at least one value with the
/// report on some rule, or a disk serial.
pub type Candidates = BTreeMap<CiNum, Identifiers>;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    Attach {
        ci: CiNum,
        rule: Rule,
        values: Vec<(String, String)>,
        notes: Vec<String>,
    },
    Create {
        notes: Vec<String>,
    },
    Conflict {
        candidates: Vec<CiNum>,
        reason: String,
    },
}

/// The values `rule` matches on between `report` and `ci`, or `None` when it does not match.
fn rule_match(rule: Rule, report: &Identifiers, ci: &Identifiers) -> Option<Vec<(String, String)>> {
    let pair = |field: &str, value: &str| (field.to_string(), value.to_string());
    match rule {
        Rule::VendorSerial => {
            let serial = report.system_serial.as_ref()?;
            (Some(serial) == ci.system_serial.as_ref() && report.system_vendor == ci.system_vendor)
                .then(|| {
                    vec![
                        pair(
                            "system.vendor",
                            report.system_vendor.as_deref().unwrap_or("unknown"),
                        ),
                        pair("system.serial", serial),
                    ]
                })
        }
        Rule::SmbiosUuid => {
            let uuid = report.system_uuid.as_ref()?;
            (Some(uuid) == ci.system_uuid.as_ref()).then(|| vec![pair("system.uuid", uuid)])
        }
        Rule::BoardSerial => {
            let shared: Vec<_> = report
                .board_serials
                .iter()
                .filter(|s| ci.board_serials.contains(s))
                .map(|s| pair("baseboard_or_chassis.serial", s))
                .collect();
            (!shared.is_empty()).then_some(shared)
        }
        Rule::MachineId => {
            let id = report.machine_id.as_ref()?;
            (Some(id) == ci.machine_id.as_ref()).then(|| vec![pair("host.machine_id", id)])
        }
        Rule::MacHostname => {
            let hostname = report.hostname.as_ref()?;
            if Some(hostname) != ci.hostname.as_ref() {
                return None;
            }
            let mut shared: Vec<_> = report
                .macs
                .iter()
                .filter(|m| ci.macs.contains(m))
                .map(|m| pair("mac", m))
                .collect();
            if shared.is_empty() {
                return None;
            }
            shared.push(pair("host.hostname", hostname));
            Some(shared)
        }
    }
}

/// The strong identifiers on which `report` and `ci` both have a value and differ.
fn strong_contradictions(report: &Identifiers, ci: &Identifiers) -> Vec<String> {
    let mut differ = Vec::new();
    if let (Some(a), Some(b)) = (&report.system_serial, &ci.system_serial)
        && (a != b || report.system_vendor != ci.system_vendor)
    {
        differ.push(format!("system serial {a} vs {b}"));
    }
    if let (Some(a), Some(b)) = (&report.system_uuid, &ci.system_uuid)
        && a != b
    {
        differ.push(format!("SMBIOS UUID {a} vs {b}"));
    }
    if !report.board_serials.is_empty()
        && !ci.board_serials.is_empty()
        && !report
            .board_serials
            .iter()
            .any(|s| ci.board_serials.contains(s))
    {
        differ.push("baseboard/chassis serials".to_string());
    }
    differ
}

/// What contradicts a weak match: any strong difference, or NICs with nothing in common.
fn weak_contradictions(report: &Identifiers, ci: &Identifiers) -> Vec<String> {
    let mut differ = strong_contradictions(report, ci);
    if !report.macs.is_empty()
        && !ci.macs.is_empty()
        && !report.macs.iter().any(|m| ci.macs.contains(m))
    {
        differ.push("MAC addresses".to_string());
    }
    differ
}

fn list(cis: &[CiNum]) -> String {
    cis.iter()
        .map(|ci| ci_id(*ci))
        .collect::<Vec<_>>()
        .join(", ")
}

/// A CI a rule matched, with the values it matched on.
type Hit = (CiNum, Vec<(String, String)>);

/// Decides which CI the report with identifiers `report` belongs to, given every candidate CI.
pub fn decide(report: &Identifiers, candidates: &Candidates) -> Decision {
    let mut notes = Vec::new();
    // Per rule, the candidates it matches and that nothing contradicts.
    let mut matched: Vec<(Rule, Vec<Hit>)> = Vec::new();
    for rule in Rule::ORDER {
        let mut hits = Vec::new();
        for (ci, identifiers) in candidates {
            let Some(values) = rule_match(rule, report, identifiers) else {
                continue;
            };
            if rule.is_strong() {
                let differ = strong_contradictions(report, identifiers);
                if !differ.is_empty() {
                    return Decision::Conflict {
                        candidates: vec![*ci],
                        reason: format!(
                            "rule {} matches {} but these differ: {}",
                            rule.as_str(),
                            ci_id(*ci),
                            differ.join(", ")
                        ),
                    };
                }
            } else {
                let differ = weak_contradictions(report, identifiers);
                if !differ.is_empty() {
                    notes.push(format!(
                        "rule {} matched {} but {} differ: treated as a different machine (a clone)",
                        rule.as_str(),
                        ci_id(*ci),
                        differ.join(", ")
                    ));
                    continue;
                }
            }
            hits.push((*ci, values));
        }
        if !hits.is_empty() {
            matched.push((rule, hits));
        }
    }
    let mut all: Vec<CiNum> = matched
        .iter()
        .flat_map(|(_, hits)| hits.iter().map(|(ci, _)| *ci))
        .collect();
    all.sort_unstable();
    all.dedup();
    let Some((rule, hits)) = matched.first() else {
        for (ci, identifiers) in candidates {
            if report
                .disk_serials
                .iter()
                .any(|s| identifiers.disk_serials.contains(s))
            {
                notes.push(format!(
                    "disk serials shared with {} but nothing else: a moved disk, not the same machine",
                    ci_id(*ci)
                ));
            }
        }
        return Decision::Create { notes };
    };
    if all.len() > 1 {
        let reason = if hits.len() > 1 {
            format!("rule {} matches several CIs: {}", rule.as_str(), list(&all))
        } else {
            let others: Vec<String> = matched
                .iter()
                .filter(|(_, h)| h.iter().any(|(ci, _)| *ci != hits[0].0))
                .map(|(r, _)| r.as_str().to_string())
                .collect();
            format!(
                "rule {} points at {} but rule {} points elsewhere ({})",
                rule.as_str(),
                ci_id(hits[0].0),
                others.join(", "),
                list(&all)
            )
        };
        return Decision::Conflict {
            candidates: all,
            reason,
        };
    }
    let (ci, values) = hits[0].clone();
    let shared_disks: Vec<&String> = report
        .disk_serials
        .iter()
        .filter(|s| {
            candidates
                .get(&ci)
                .is_some_and(|c| c.disk_serials.contains(s))
        })
        .collect();
    if !shared_disks.is_empty() {
        notes.push(format!(
            "supporting: disk serials {}",
            shared_disks
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    Decision::Attach {
        ci,
        rule: *rule,
        values,
        notes,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids() -> Identifiers {
        Identifiers::default()
    }

    fn server(serial: &str, uuid: &str, mac: &str, machine_id: &str) -> Identifiers {
        Identifiers {
            system_vendor: Some("dell inc.".into()),
            system_serial: Some(serial.into()),
            system_uuid: Some(uuid.into()),
            macs: vec![mac.into()],
            machine_id: Some(machine_id.into()),
            hostname: Some("web-01".into()),
            ..ids()
        }
    }

    fn candidates(list: &[(CiNum, Identifiers)]) -> Candidates {
        list.iter().cloned().collect()
    }

    #[test]
    fn nothing_matching_creates_a_ci() {
        let report = server("S1", "u1", "aa:00:00:00:00:01", "m1");
        assert_eq!(
            decide(&report, &Candidates::new()),
            Decision::Create { notes: vec![] }
        );
    }

    #[test]
    fn a_reinstall_matches_on_vendor_and_serial_with_the_values_explained() {
        let old = server("S1", "u1", "aa:00:00:00:00:01", "m1");
        let report = server("S1", "u1", "aa:00:00:00:00:01", "m2");
        let Decision::Attach {
            ci, rule, values, ..
        } = decide(&report, &candidates(&[(7, old)]))
        else {
            panic!("expected attach")
        };
        assert_eq!((ci, rule), (7, Rule::VendorSerial));
        assert!(values.contains(&("system.serial".to_string(), "S1".to_string())));
    }

    #[test]
    fn a_clone_sharing_machine_id_and_hostname_gets_its_own_ci() {
        let mut original = ids();
        original.system_uuid = Some("u1".into());
        original.machine_id = Some("m1".into());
        original.hostname = Some("tmpl".into());
        original.macs = vec!["52:54:00:00:00:01".into()];
        let mut clone = original.clone();
        clone.system_uuid = Some("u2".into());
        clone.macs = vec!["52:54:00:00:00:02".into()];
        let Decision::Create { notes } = decide(&clone, &candidates(&[(1, original)])) else {
            panic!("expected create")
        };
        assert!(notes[0].contains("clone"), "{notes:?}");
    }

    #[test]
    fn a_serial_match_with_another_uuid_is_a_conflict() {
        let old = server("S1", "u1", "aa:00:00:00:00:01", "m1");
        let report = server("S1", "u2", "aa:00:00:00:00:01", "m1");
        let decision = decide(&report, &candidates(&[(3, old)]));
        assert!(
            matches!(decision, Decision::Conflict { ref candidates, .. } if candidates == &[3]),
            "{decision:?}"
        );
    }

    #[test]
    fn rules_pointing_at_two_cis_are_a_conflict_naming_both() {
        let mut by_serial = ids();
        by_serial.system_serial = Some("S1".into());
        let mut by_machine_id = ids();
        by_machine_id.machine_id = Some("m1".into());
        let mut report = ids();
        report.system_serial = Some("S1".into());
        report.machine_id = Some("m1".into());
        let Decision::Conflict {
            candidates: cis,
            reason,
        } = decide(&report, &candidates(&[(1, by_serial), (2, by_machine_id)]))
        else {
            panic!("expected conflict")
        };
        assert_eq!(cis, [1, 2]);
        assert!(
            reason.contains("ci-000001") && reason.contains("machine_id"),
            "{reason}"
        );
    }

    #[test]
    fn a_weak_rule_matching_one_uncontradicted_ci_attaches() {
        let mut old = ids();
        old.machine_id = Some("m1".into());
        old.macs = vec!["aa:00:00:00:00:01".into()];
        old.disk_serials = vec!["D1".into()];
        let mut report = old.clone();
        report.hostname = Some("renamed".into());
        let Decision::Attach {
            ci, rule, notes, ..
        } = decide(&report, &candidates(&[(4, old)]))
        else {
            panic!("expected attach")
        };
        assert_eq!((ci, rule), (4, Rule::MachineId));
        assert!(notes[0].contains("D1"));
    }

    #[test]
    fn a_shared_disk_alone_does_not_attach() {
        let mut old = ids();
        old.disk_serials = vec!["D1".into()];
        old.system_serial = Some("S1".into());
        let mut report = ids();
        report.disk_serials = vec!["D1".into()];
        report.system_serial = Some("S2".into());
        let Decision::Create { notes } = decide(&report, &candidates(&[(4, old)])) else {
            panic!("expected create")
        };
        assert!(notes[0].contains("moved disk"));
    }
}
