//! Asset search: a parsed query evaluated over CIs, with candidates fetched from secondary indexes.
//!
//! The query planner (`query::index_hints`) names lookups that every match must satisfy at least one of;
//! the cheapest set is turned into CMDB index lookups, and only those candidates are decoded and
//! evaluated. Without usable hints every CI is scanned in id order. Results are in CI id order; the
//! cursor is the last id returned.

use super::index::Lookup as IndexLookup;
use super::model::{Asset, CiNum, ci_id, parse_ci_id};
use super::{AssetPage, Cmdb, CmdbResult, ListFilter};
use crate::query::{self, AssetView, Expr, Lookup as QueryLookup};
use std::collections::BTreeSet;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// Page size when scanning all CIs without an index.
const SCAN_PAGE: usize = 512;

/// One page of search results.
#[derive(Debug, Clone, PartialEq)]
pub struct SearchPage {
    pub assets: Vec<Asset>,
    /// The id to continue after; `None` when there is nothing more.
    pub next_cursor: Option<String>,
}

fn parse_time(text: &str) -> Option<OffsetDateTime> {
    OffsetDateTime::parse(text, &Rfc3339).ok()
}

/// Whether `asset` satisfies `expr` at `now`.
pub fn asset_matches(expr: &Expr, asset: &Asset, now: OffsetDateTime) -> bool {
    let header = &asset.header;
    let managed = &header.managed;
    fn text(field: &Option<super::model::Attributed<String>>) -> Option<&str> {
        field.as_ref().map(|a| a.value.as_str())
    }
    let view = AssetView {
        inventory: Some(&asset.inventory),
        id: Some(&header.id),
        status: Some(header.status.value.as_str()),
        asset_tag: text(&managed.asset_tag),
        owner: text(&managed.owner),
        location: text(&managed.location),
        cost_center: text(&managed.cost_center),
        first_seen: parse_time(&header.first_seen),
        last_seen: parse_time(&header.last_seen),
    };
    query::matches(expr, &view, now)
}

impl Cmdb {
    /// CIs matching `expr` (all CIs when `None`), after `cursor`, at most `limit`.
    pub fn search(
        &self,
        expr: Option<&Expr>,
        cursor: Option<&str>,
        limit: usize,
        now: OffsetDateTime,
    ) -> CmdbResult<SearchPage> {
        let after = match cursor {
            Some(id) => {
                Some(parse_ci_id(id).ok_or_else(|| super::CmdbError::UnknownCi(id.to_string()))?)
            }
            None => None,
        };
        let limit = limit.max(1);
        let candidates = match expr {
            Some(expr) => self.search_candidates(expr)?,
            None => None,
        };
        let mut assets = Vec::new();
        let mut last_seen_num = None;
        match candidates {
            Some(numbers) => {
                for number in numbers.into_iter().filter(|n| after.is_none_or(|a| *n > a)) {
                    if assets.len() == limit {
                        return Ok(SearchPage {
                            next_cursor: last_seen_num.map(ci_id),
                            assets,
                        });
                    }
                    last_seen_num = Some(number);
                    if let Some(asset) = self.asset_by_num(number)?
                        && expr.is_none_or(|e| asset_matches(e, &asset, now))
                    {
                        assets.push(asset);
                    }
                }
            }
            None => {
                let mut filter = ListFilter {
                    status: None,
                    after: after.map(ci_id),
                };
                loop {
                    let AssetPage {
                        assets: headers,
                        next,
                    } = self.list_assets(&filter, SCAN_PAGE)?;
                    for header in headers {
                        if assets.len() == limit {
                            return Ok(SearchPage {
                                next_cursor: last_seen_num.map(ci_id),
                                assets,
                            });
                        }
                        let Some(number) = parse_ci_id(&header.id) else {
                            continue;
                        };
                        last_seen_num = Some(number);
                        if let Some(asset) = self.asset_by_num(number)?
                            && expr.is_none_or(|e| asset_matches(e, &asset, now))
                        {
                            assets.push(asset);
                        }
                    }
                    match next {
                        Some(next) => filter.after = Some(next),
                        None => break,
                    }
                }
            }
        }
        Ok(SearchPage {
            assets,
            next_cursor: None,
        })
    }

    /// The CIs that may match `expr`, from the cheapest set of index lookups; `None` means scan all.
    fn search_candidates(&self, expr: &Expr) -> CmdbResult<Option<BTreeSet<CiNum>>> {
        let hints = query::index_hints(expr);
        let Some(lookups) = hints.best() else {
            return Ok(None);
        };
        let mut numbers = BTreeSet::new();
        for lookup in lookups {
            let ids = match lookup {
                QueryLookup::Package(name) => {
                    numbers.extend(
                        self.packages_named(name)
                            .into_iter()
                            .map(|posting| posting.ci),
                    );
                    continue;
                }
                QueryLookup::Id(id) => vec![id.clone()],
                QueryLookup::Hostname(name) => self.lookup(&IndexLookup::Hostname(name.clone()))?,
                QueryLookup::HostnamePrefix(prefix) => {
                    self.lookup(&IndexLookup::HostnamePrefix(prefix.clone()))?
                }
                QueryLookup::Serial(serial) => self.lookup(&IndexLookup::Serial(serial.clone()))?,
                QueryLookup::Ip(address) => self.lookup(&IndexLookup::Ip(*address))?,
                QueryLookup::Network(network) => {
                    self.lookup(&IndexLookup::Cidr(network.addr(), network.prefix()))?
                }
                QueryLookup::Mac(mac) => self.lookup(&IndexLookup::Mac(mac.clone()))?,
                QueryLookup::Status(status) => match super::model::Status::parse(status) {
                    Some(status) => self.lookup(&IndexLookup::Status(status))?,
                    None => Vec::new(),
                },
            };
            numbers.extend(ids.iter().filter_map(|id| parse_ci_id(id)));
        }
        Ok(Some(numbers))
    }
}
