//! The web console over the real path: TLS on 127.0.0.1:0, sled in a temp dir, CIs created by enrolled
//! agents sending real reports, and a client that behaves like a browser (cookies by hand, no redirect
//! following) so each sign-in, redirect, CSRF refusal and role check is visible.

#[path = "../console/mod.rs"]
mod console;

use census_collector::auth::Role;
use census_collector::itsm::incident::{IncidentFilter, list_incidents};
use console::{Console, Machine, Session};
use reqwest::StatusCode;

fn as_refs<'a>(fields: &'a [(&'static str, String)]) -> Vec<(&'static str, &'a str)> {
    fields
        .iter()
        .map(|(name, value)| (*name, value.as_str()))
        .collect()
}

fn location(response: &reqwest::Response) -> String {
    response.headers()["location"].to_str().unwrap().to_string()
}

fn n_incidents(console: &Console) -> usize {
    list_incidents(
        console.store.as_ref(),
        &IncidentFilter::default(),
        None,
        500,
    )
    .unwrap()
    .items
    .len()
}

mod records;
mod security;
