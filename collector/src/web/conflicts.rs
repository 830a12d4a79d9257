//! `/conflicts`: reconciliation cases the CMDB would not decide alone (an agent whose evidence points
//! at several CIs, or contradicts the CI it reported to). Asset managers settle each one here: attach
//! the agent to one of the candidate CIs, or give it a CI of its own, through the same
//! `Cmdb::resolve_conflict` as `POST /api/v1/conflicts/{id}/resolve` (see docs/reconciliation.md).

use super::page;
use super::{PageError, PageResult, WebUser};
use crate::api::ApiState;
use crate::api::assets::{EDITORS, READERS};
use crate::api::error::ApiError;
use crate::cmdb::Resolution;
use crate::itsm::cmdb_directory::CmdbDirectory;
use crate::itsm::directory::ci_names;
use axum::Form;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect};
use maud::html;
use serde::Deserialize;
use std::sync::Arc;

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct ResolveForm {
    pub csrf: String,
    /// A candidate CI id to attach the agent to, or `split` for a CI of its own.
    pub into: String,
}

pub async fn list(State(state): State<ApiState>, user: WebUser) -> PageResult {
    user.caller()
        .require_any(READERS)
        .map_err(PageError::from)?;
    let cmdb = state.cmdb.clone();
    let (conflicts, names) = super::blocking(move || {
        let conflicts = cmdb.list_conflicts(false).map_err(ApiError::from)?;
        let directory = CmdbDirectory::new(Arc::clone(&cmdb));
        let names = ci_names(&directory, conflicts.iter().flat_map(|c| &c.candidates))
            .map_err(ApiError::from)?;
        Ok((conflicts, names))
    })
    .await?;
    let can_resolve = user.caller().require_any(EDITORS).is_ok();
    let content = html! {
        h1 { "Reconciliation conflicts" }
        p.muted { "An agent's identity evidence pointed at more than one configuration item, or contradicted the one it reported to; its reports wait until someone decides." }
        @if conflicts.is_empty() {
            p.empty { "No open conflict." }
        }
        @for conflict in &conflicts {
            section.card aria-labelledby={ "h-" (conflict.id) } {
                h2 id={ "h-" (conflict.id) } { (conflict.id) " · agent " code { (conflict.agent_id) } }
                p { (conflict.reason) }
                p.muted.small { "Opened " (page::when(&conflict.opened_at)) }
                p { "Candidates: " (page::ci_links(&conflict.candidates, &names)) }
                @if can_resolve {
                    div.actions {
                        @for ci in &conflict.candidates {
                            form method="post" action={ "/conflicts/" (conflict.id) "/resolve" } {
                                (page::csrf(&user))
                                input type="hidden" name="into" value=(ci);
                                button.primary type="submit" {
                                    "Attach to " (names.get(ci).map_or(ci.as_str(), String::as_str))
                                }
                            }
                        }
                        form method="post" action={ "/conflicts/" (conflict.id) "/resolve" } {
                            (page::csrf(&user))
                            input type="hidden" name="into" value="split";
                            button type="submit" { "Give it a CI of its own" }
                        }
                    }
                }
            }
        }
    };
    Ok(page::shell(&user, "Conflicts", content).into_response())
}

pub async fn resolve(
    State(state): State<ApiState>,
    user: WebUser,
    Path(id): Path<String>,
    headers: HeaderMap,
    Form(form): Form<ResolveForm>,
) -> PageResult {
    user.check_post(&form.csrf, &headers)?;
    user.caller()
        .require_any(EDITORS)
        .map_err(PageError::from)?;
    let resolution = match form.into.trim() {
        "split" => Resolution::Split,
        "" => {
            return Err(PageError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "choose a candidate CI or a CI of its own",
            ));
        }
        ci => Resolution::Merge {
            into: ci.to_string(),
        },
    };
    let target = id.trim().to_string();
    let asset = super::cmdb_write(&state, &user, move |cmdb, actor, now| {
        cmdb.resolve_conflict(&target, resolution, actor, now)
    })
    .await?;
    tracing::info!(ci = %asset.header.id, user = %user.caller().user, "conflict resolved in the web console");
    Ok(Redirect::to(&format!("/assets/{}", page::encode(&asset.header.id))).into_response())
}
