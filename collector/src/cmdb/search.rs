//! Query execution: the assets matching a parsed query, a page at a time, in CI id order.
//!
//! [`Cmdb::search`] plans with [`query::index_hints`]: when a set of lookups covers every match, their
//! CI numbers (from `cmdb_index` and the in-memory package postings) are the only candidates;
//! otherwise every CI is scanned in key order. Either way the full expression is then evaluated with
//! [`query::matches`] on each candidate's header and inventory, so the indexes only have to return a
//! superset of the matches. Pages are cut by CI number: the cursor is the last id of the previous page,
//! so a page never repeats or skips a CI that existed when the first page was read.
//!
//! Mapping the query's lookups onto the CMDB's indexes (the two `Lookup` enums differ): hostnames,
//! MACs and statuses are stored lowercased and map directly; serials are stored as reported, so a serial
//! lookup scans the serial keys comparing without case; package names are compared without case over
//! the interned package names (rpm names such as `NetworkManager` carry capitals); an IPv4 network also
//! covers its IPv4-mapped IPv6 addresses, as the evaluator does.
//!
//! # Limitations
//! With `as_of`, the inventory and managed fields are those at that time (time travel), but status and
//! first/last seen are today's, and no index helps (they describe today): every CI is rebuilt. A page
//! whose matches are sparse may scan far; the cost is bounded by the number of candidates.

use super::index::{self, Tag};
use super::model::{CiHeader, CiNum, ManagedFields, Status, ci_id, parse_ci_id};
use super::{
    Cmdb, CmdbError, CmdbResult, SPACE_BODY, SPACE_CI, SPACE_INDEX, ci_num_of_key, codec, journal,
};
use crate::query::{self, AssetView, Expr, IpNet};
use census_shared::Inventory;
use census_shared::inventory::Package;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::net::IpAddr;
use std::ops::Bound;
use std::time::{Duration, Instant};
use time::OffsetDateTime;

/// One asset in a search answer: the columns asset managers look at (and export).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AssetSummary {
    pub id: String,
    pub hostname: Option<String>,
    pub serial: Option<String>,
    /// os-release `PRETTY_NAME`, else `NAME VERSION_ID`.
    pub os: Option<String>,
    pub os_id: Option<String>,
    pub os_version: Option<String>,
    pub status: Status,
    pub first_seen: String,
    pub last_seen: String,
    pub asset_tag: Option<String>,
    pub owner: Option<String>,
    pub location: Option<String>,
    pub vendor: Option<String>,
    pub product: Option<String>,
}

impl AssetSummary {
    /// Column names, in the order of [`AssetSummary::columns`] (the CSV header).
    pub const COLUMNS: [&'static str; 14] = [
        "id",
        "hostname",
        "serial",
        "os",
        "os_id",
        "os_version",
        "status",
        "first_seen",
        "last_seen",
        "asset_tag",
        "owner",
        "location",
        "vendor",
        "product",
    ];

    pub fn new(header: &CiHeader, inventory: &Inventory, managed: &ManagedFields) -> Self {
        let os = &inventory.os;
        let os_name = os
            .pretty_name
            .clone()
            .or_else(|| match (&os.name, &os.version) {
                (Some(name), Some(version)) => Some(format!("{name} {version}")),
                (name, _) => name.clone(),
            });
        let value = |field: &Option<super::model::Attributed<String>>| {
            field.as_ref().map(|a| a.value.clone())
        };
        Self {
            id: header.id.clone(),
            hostname: inventory.host.hostname.clone(),
            serial: inventory.hardware.system.serial.clone(),
            os: os_name,
            os_id: os.id.clone(),
            os_version: os.version.clone(),
            status: header.status.value,
            first_seen: header.first_seen.clone(),
            last_seen: header.last_seen.clone(),
            asset_tag: value(&managed.asset_tag),
            owner: value(&managed.owner),
            location: value(&managed.location),
            vendor: inventory.hardware.system.vendor.clone(),
            product: inventory.hardware.system.product.clone(),
        }
    }

    /// The values in [`AssetSummary::COLUMNS`] order; `None` is an unknown value.
    pub fn columns(&self) -> [Option<&str>; 14] {
        [
            Some(self.id.as_str()),
            self.hostname.as_deref(),
            self.serial.as_deref(),
            self.os.as_deref(),
            self.os_id.as_deref(),
            self.os_version.as_deref(),
            Some(self.status.as_str()),
            Some(self.first_seen.as_str()),
            Some(self.last_seen.as_str()),
            self.asset_tag.as_deref(),
            self.owner.as_deref(),
            self.location.as_deref(),
            self.vendor.as_deref(),
            self.product.as_deref(),
        ]
    }
}

/// A CI judged with its packages borrowed from the interner's shared records.
struct RecordSubject<'a> {
    view: AssetView<'a>,
    packages: Vec<&'a Package>,
}

impl query::Subject for RecordSubject<'_> {
    fn inventory(&self) -> Option<&Inventory> {
        self.view.inventory
    }

    fn meta_text(&self, field: query::MetaField) -> Option<&str> {
        self.view.meta_text(field)
    }

    fn meta_time(&self, field: query::MetaField) -> Option<OffsetDateTime> {
        self.view.meta_time(field)
    }

    fn has_package(&self, term: &query::PackageTerm) -> bool {
        self.packages
            .iter()
            .any(|package| query::package_matches(term, package))
    }
}

/// One page of a search.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Page {
    pub items: Vec<AssetSummary>,
    /// Pass as the cursor for the next page; `None` when there is no further match.
    pub next_cursor: Option<String>,
}

/// How long one search page may judge CIs (see [`Cmdb::search`]); well inside the request timeout.
pub const SEARCH_BUDGET: Duration = Duration::from_secs(10);

impl Cmdb {
    /// Assets matching `expr` (every asset when `None`) after CI `cursor`, at most `limit`, by id. With
    /// `as_of` (RFC 3339) assets are judged as they were then and ones created later are left out;
    /// relative times in the query count back from `as_of` instead of now.
    ///
    /// A search stops after [`SEARCH_BUDGET`] of judging CIs and answers what it found with the
    /// cursor of the last CI it judged, so that a search matching few of very many CIs (or judging
    /// them as of a past moment) comes back in pieces instead of running into the request timeout:
    /// a page may hold fewer than `limit` items, even none, and still have a `next_cursor`.
    pub fn search(
        &self,
        expr: Option<&Expr>,
        cursor: Option<&str>,
        limit: usize,
        as_of: Option<&str>,
    ) -> CmdbResult<Page> {
        self.search_within(expr, cursor, limit, as_of, SEARCH_BUDGET)
    }

    pub(crate) fn search_within(
        &self,
        expr: Option<&Expr>,
        cursor: Option<&str>,
        limit: usize,
        as_of: Option<&str>,
        budget: Duration,
    ) -> CmdbResult<Page> {
        let started = Instant::now();
        let after = match cursor {
            Some(id) => Some(parse_ci_id(id).ok_or_else(|| CmdbError::UnknownCi(id.into()))?),
            None => None,
        };
        let as_of = as_of
            .map(|at| journal::parse_time(at).map(|t| (at, t)))
            .transpose()?;
        let now = as_of.map_or_else(OffsetDateTime::now_utc, |(_, t)| t);
        let planned = match (expr, as_of) {
            (Some(expr), None) => self.plan(expr)?,
            _ => None,
        };
        let first = after.map_or(0, |a| a.saturating_add(1));
        let numbers: Box<dyn Iterator<Item = CmdbResult<CiNum>> + '_> = match planned {
            Some(candidates) => {
                Box::new(candidates.into_iter().filter(move |n| *n >= first).map(Ok))
            }
            None => Box::new(
                self.store
                    .range(
                        SPACE_CI,
                        Bound::Included(first.to_be_bytes().to_vec()),
                        Bound::Unbounded,
                        false,
                    )
                    .map(|entry| ci_num_of_key(&entry?.0)),
            ),
        };
        let mut items: Vec<AssetSummary> = Vec::new();
        for number in numbers {
            let number = number?;
            if let Some(item) = self.candidate(number, expr, as_of, now)? {
                if items.len() == limit {
                    // One more match exists: the page is full and a next one is worth asking for.
                    let next_cursor = items.last().map(|last| last.id.clone());
                    return Ok(Page { items, next_cursor });
                }
                items.push(item);
            }
            if started.elapsed() >= budget {
                // Out of time: the next page starts after the last CI judged.
                return Ok(Page {
                    items,
                    next_cursor: Some(ci_id(number)),
                });
            }
        }
        Ok(Page {
            items,
            next_cursor: None,
        })
    }

    /// The summary of CI `ci` when it matches (and existed at `as_of`).
    fn candidate(
        &self,
        ci: CiNum,
        expr: Option<&Expr>,
        as_of: Option<(&str, OffsetDateTime)>,
        now: OffsetDateTime,
    ) -> CmdbResult<Option<AssetSummary>> {
        let Some(header) = self.header(ci)? else {
            return Ok(None);
        };
        // Without `as_of`, packages are judged from the shared records the body names (borrowed from
        // the interner), so no package list is cloned for a query.
        let mut entries = None;
        let (inventory, managed) = match as_of {
            Some((at, moment)) => {
                if journal::parse_time(&header.first_seen)? > moment {
                    return Ok(None);
                }
                let state = if expr.is_some_and(query::Expr::mentions_packages) {
                    self.asset_as_of(&header.id, at)?
                } else {
                    self.asset_as_of_without_packages(&header.id, at)?
                };
                match state {
                    Some(state) => (state.inventory, state.managed),
                    None => return Ok(None),
                }
            }
            None if expr.is_some_and(query::Expr::mentions_packages) => {
                match self.store.get(SPACE_BODY, &ci.to_be_bytes())? {
                    Some(body) => {
                        let (shell, ids) = codec::decode_parts(&body, &header.id)?;
                        entries = Some(ids);
                        (shell, header.managed.clone())
                    }
                    None => (Inventory::default(), header.managed.clone()),
                }
            }
            None => (
                self.inventory_without_packages(ci)?.unwrap_or_default(),
                header.managed.clone(),
            ),
        };
        if let Some(expr) = expr {
            let view = AssetView {
                inventory: Some(&inventory),
                id: Some(&header.id),
                status: Some(header.status.value.as_str()),
                asset_tag: text(&managed.asset_tag),
                owner: text(&managed.owner),
                location: text(&managed.location),
                cost_center: text(&managed.cost_center),
                first_seen: journal::parse_time(&header.first_seen).ok(),
                last_seen: journal::parse_time(&header.last_seen).ok(),
            };
            let matched = match &entries {
                Some(entries) => {
                    let interner = self.interner();
                    let subject = RecordSubject {
                        view,
                        packages: entries
                            .iter()
                            .filter_map(|(id, _)| interner.get(*id))
                            .collect(),
                    };
                    query::matches(expr, &subject, now)
                }
                None => query::matches(expr, &view, now),
            };
            if !matched {
                return Ok(None);
            }
        }
        Ok(Some(AssetSummary::new(&header, &inventory, &managed)))
    }

    /// The sorted candidate CIs of the cheapest index plan, or `None` for a full scan.
    fn plan(&self, expr: &Expr) -> CmdbResult<Option<Vec<CiNum>>> {
        let hints = query::index_hints(expr);
        let Some(set) = hints.best() else {
            return Ok(None);
        };
        let mut candidates = BTreeSet::new();
        for lookup in set {
            candidates.extend(self.lookup_candidates(lookup)?);
        }
        Ok(Some(candidates.into_iter().collect()))
    }

    /// The CIs one query lookup may match: a superset of the true matches.
    fn lookup_candidates(&self, lookup: &query::Lookup) -> CmdbResult<Vec<CiNum>> {
        use index::Lookup as Index;
        let by_index = |lookups: Vec<Index>| -> CmdbResult<Vec<CiNum>> {
            let mut cis = Vec::new();
            for lookup in &lookups {
                cis.extend(self.lookup(lookup)?.iter().filter_map(|id| parse_ci_id(id)));
            }
            Ok(cis)
        };
        match lookup {
            query::Lookup::Package(term) => Ok(self.cis_with_package(term)),
            query::Lookup::Hostname(name) => by_index(vec![Index::Hostname(name.clone())]),
            query::Lookup::HostnamePrefix(prefix) => {
                by_index(vec![Index::HostnamePrefix(prefix.clone())])
            }
            query::Lookup::Serial(serial) => self.serials_ignore_case(serial),
            query::Lookup::Ip(ip) => by_index(vec![Index::Ip(*ip)]),
            query::Lookup::Network(net) => by_index(network_lookups(*net)),
            query::Lookup::Mac(mac) => by_index(vec![Index::Mac(mac.clone())]),
            query::Lookup::Status(name) => match Status::parse(name) {
                Some(status) => by_index(vec![Index::Status(status)]),
                // No CI has a status the CMDB does not know.
                None => Ok(Vec::new()),
            },
            query::Lookup::Id(id) => match parse_ci_id(&id.to_ascii_lowercase()) {
                Some(ci) => Ok(self.header(ci)?.map(|_| ci).into_iter().collect()),
                None => Ok(Vec::new()),
            },
        }
    }

    /// CIs holding a package whose name equals `name` ignoring ASCII case.
    /// CIs holding a package that satisfies `term` (name ignoring ASCII case, and its qualifiers),
    /// sorted. Each distinct package record is judged once, then its CI posting list is taken whole:
    /// no inventory is decoded, so `package:openssl version<3.0.7` costs the same at 100k CIs as the
    /// number of openssl records plus the matching CIs.
    pub(crate) fn cis_with_package(&self, term: &query::PackageTerm) -> Vec<CiNum> {
        // The interner before the package index, as everywhere both are held.
        let interner = self.interner();
        let packages = self.packages();
        let matching: Vec<u32> = {
            let judge = |id: &u32| {
                interner
                    .get(*id)
                    .is_some_and(|package| query::package_matches(term, package))
            };
            if term.name.contains(['*', '?']) {
                // A pattern: every record's name must be tried.
                (0..interner.len() as u32).filter(judge).collect()
            } else {
                // A name: only its records (their number grows with every version the fleet
                // ever reported, which a walk over all records paid for on every query).
                packages
                    .records_named_ignoring_case(&term.name)
                    .iter()
                    .copied()
                    .filter(judge)
                    .collect()
            }
        };
        drop(interner);
        let mut cis: Vec<CiNum> = matching
            .iter()
            .flat_map(|id| packages.cis_of_record(*id))
            .map(CiNum::from)
            .collect();
        cis.sort_unstable();
        cis.dedup();
        cis
    }

    /// CIs with any serial equal to `serial` ignoring ASCII case and surrounding blanks (serial keys
    /// keep the reported case, so this reads every serial key: far cheaper than decoding every CI).
    fn serials_ignore_case(&self, serial: &str) -> CmdbResult<Vec<CiNum>> {
        let wanted = serial.trim();
        let mut cis = Vec::new();
        for entry in self.store.scan_prefix(SPACE_INDEX, &[Tag::Serial as u8]) {
            let (key, _) = entry?;
            // Key: tag, value, 0x00, ci (8 bytes).
            let value = key.get(1..key.len().saturating_sub(9)).unwrap_or_default();
            if value.eq_ignore_ascii_case(wanted.as_bytes()) {
                cis.extend(index::ci_of_key(&key));
            }
        }
        Ok(cis)
    }
}

fn text(field: &Option<super::model::Attributed<String>>) -> Option<&str> {
    field.as_ref().map(|a| a.value.as_str())
}

/// The index lookups covering `net`: an IPv4 network also covers its IPv4-mapped IPv6 addresses.
fn network_lookups(net: IpNet) -> Vec<index::Lookup> {
    let mut lookups = vec![index::Lookup::Cidr(net.addr(), net.prefix())];
    if let IpAddr::V4(v4) = net.addr() {
        lookups.push(index::Lookup::Cidr(
            IpAddr::V6(v4.to_ipv6_mapped()),
            net.prefix() + 96,
        ));
    }
    lookups
}

#[cfg(test)]
mod tests {
    use super::super::tests::{Harness, nic, packages, server, t};
    use super::*;

    fn ids(page: &Page) -> Vec<&str> {
        page.items.iter().map(|item| item.id.as_str()).collect()
    }

    fn search(harness: &Harness, q: &str) -> Vec<String> {
        let expr = query::parse(q).unwrap();
        let page = harness.cmdb.search(Some(&expr), None, 1000, None).unwrap();
        assert_eq!(page.next_cursor, None, "{q}");
        ids(&page).into_iter().map(str::to_string).collect()
    }

    /// What a full scan finds: the reference the index plans must agree with.
    fn scanned(harness: &Harness, q: &str) -> Vec<String> {
        let expr = query::parse(q).unwrap();
        let mut found = Vec::new();
        for ci in 1..=10 {
            let item = harness
                .cmdb
                .candidate(ci, Some(&expr), None, OffsetDateTime::now_utc())
                .unwrap();
            found.extend(item.map(|item| item.id));
        }
        found
    }

    fn fleet(harness: &mut Harness) -> [String; 3] {
        let mut web1 = server("web-01", Some("SRV-A1"), None, "m-1", "52:54:00:00:00:01");
        web1.network.interfaces = vec![nic("eno1", "52:54:00:00:00:01", "10.1.2.3")];
        let mut web2 = server("web-02", Some("SRV-B2"), None, "m-2", "52:54:00:00:00:02");
        web2.network.interfaces = vec![nic("eno1", "52:54:00:00:00:02", "::ffff:10.1.9.9")];
        web2.software.packages = packages(&[("openssl", "3.0.11")]);
        let mut db1 = server("db-01", Some("SRV-C3"), None, "m-3", "52:54:00:00:00:03");
        db1.network.interfaces = vec![nic("eno1", "52:54:00:00:00:03", "192.168.1.5")];
        db1.software.packages[0].manager = "rpm".into();
        db1.software
            .packages
            .push(census_shared::inventory::Package {
                manager: "rpm".into(),
                name: "NetworkManager".into(),
                version: "1.46".into(),
                ..Default::default()
            });
        [
            harness.ci("agt-web1", &web1, &t(0)),
            harness.ci("agt-web2", &web2, &t(1)),
            harness.ci("agt-db1", &db1, &t(2)),
        ]
    }

    #[test]
    fn index_plans_find_exactly_what_a_full_scan_finds() {
        let dir = tempfile::tempdir().unwrap();
        let mut harness = Harness::new(&dir);
        let [web1, web2, db1] = fleet(&mut harness);
        let cases: &[(&str, Vec<&String>)] = &[
            ("package:openssl version<3.0.7", vec![&web1, &db1]),
            ("package:OpenSSL version<3.0.7 manager=dpkg", vec![&web1]),
            ("package:networkmanager", vec![&db1]),
            ("package:openss? version<3.0.7", vec![&web1, &db1]),
            ("ip in 10.1.0.0/16", vec![&web1, &web2]),
            ("ip = 192.168.1.5", vec![&db1]),
            ("hostname ~ \"WEB-*\"", vec![&web1, &web2]),
            ("hostname = db-01 or serial = srv-a1", vec![&web1, &db1]),
            ("serial = srv-b2", vec![&web2]),
            ("mac = 52-54-00-00-00-03", vec![&db1]),
            (
                "status = in_use and not hostname = web-01",
                vec![&web2, &db1],
            ),
            ("status = active", vec![]),
            (&format!("id = {}", web2.to_uppercase()), vec![&web2]),
            ("id = ci-999999", vec![]),
            ("memory.total_bytes >= 32GiB", vec![&web1, &web2, &db1]),
        ];
        for (q, expected) in cases {
            let expected: Vec<String> = expected.iter().map(|id| id.to_string()).collect();
            assert_eq!(search(&harness, q), expected, "{q}");
            assert_eq!(scanned(&harness, q), expected, "{q} (scan)");
        }
    }

    #[test]
    fn pages_follow_the_cursor_without_repeats_or_gaps_and_the_last_has_no_cursor() {
        let dir = tempfile::tempdir().unwrap();
        let mut harness = Harness::new(&dir);
        let all = fleet(&mut harness);
        for expr in [None, Some(query::parse("has hostname").unwrap())] {
            let mut seen = Vec::new();
            let mut cursor = None;
            loop {
                let page = harness
                    .cmdb
                    .search(expr.as_ref(), cursor.as_deref(), 2, None)
                    .unwrap();
                seen.extend(ids(&page).into_iter().map(str::to_string));
                match page.next_cursor {
                    Some(next) => cursor = Some(next),
                    None => break,
                }
            }
            assert_eq!(seen, all);
        }
        // Out of time after every CI (a zero budget): pages of at most one item, some empty, each
        // with the cursor of the CI it stopped at; walked to the end they hold every match once.
        let web = query::parse("hostname ~ \"web-*\"").unwrap();
        let (mut seen, mut cursor, mut pages) = (Vec::new(), None, 0);
        loop {
            let page = harness
                .cmdb
                .search_within(Some(&web), cursor.as_deref(), 10, None, Duration::ZERO)
                .unwrap();
            pages += 1;
            assert!(page.items.len() <= 1);
            seen.extend(ids(&page).into_iter().map(str::to_string));
            match page.next_cursor {
                Some(next) => cursor = Some(next),
                None => break,
            }
        }
        assert_eq!(seen, search(&harness, "hostname ~ \"web-*\""));
        assert!(pages > seen.len(), "a budget of zero stops after each CI");
        let error = harness
            .cmdb
            .search(None, Some("page-2"), 2, None)
            .unwrap_err();
        assert!(
            matches!(error, CmdbError::UnknownCi(ref id) if id == "page-2"),
            "{error}"
        );
    }

    #[test]
    fn as_of_judges_assets_as_they_were_and_leaves_out_later_ones() {
        let dir = tempfile::tempdir().unwrap();
        let mut harness = Harness::new(&dir);
        let [web1, _, _] = fleet(&mut harness);
        let mut upgraded = server("web-01", Some("SRV-A1"), None, "m-1", "52:54:00:00:00:01");
        upgraded.network.interfaces = vec![nic("eno1", "52:54:00:00:00:01", "10.1.2.3")];
        upgraded.software.packages = packages(&[("openssl", "3.0.13")]);
        harness.ci("agt-web1", &upgraded, &t(30));
        let old = query::parse("package:openssl version<3.0.7 hostname=web-01").unwrap();
        let now = harness.cmdb.search(Some(&old), None, 10, None).unwrap();
        assert!(now.items.is_empty());
        let then = harness
            .cmdb
            .search(Some(&old), None, 10, Some(&t(10)))
            .unwrap();
        assert_eq!(ids(&then), [web1.as_str()]);
        let first = harness.cmdb.search(None, None, 10, Some(&t(0))).unwrap();
        assert_eq!(ids(&first), [web1.as_str()], "the others appeared later");
        let error = harness
            .cmdb
            .search(None, None, 10, Some("yesterday"))
            .unwrap_err();
        assert!(matches!(error, CmdbError::Timestamp(_)), "{error}");
    }

    #[test]
    fn ipv4_networks_also_cover_mapped_ipv6_addresses() {
        let net = IpNet::new("10.1.0.0".parse().unwrap(), 16).unwrap();
        assert_eq!(
            network_lookups(net),
            [
                index::Lookup::Cidr("10.1.0.0".parse().unwrap(), 16),
                index::Lookup::Cidr("::ffff:10.1.0.0".parse().unwrap(), 112),
            ]
        );
        let net = IpNet::new("fd00::".parse().unwrap(), 8).unwrap();
        assert_eq!(network_lookups(net).len(), 1);
    }
}
