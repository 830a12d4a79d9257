//! `POST /assets/{id}/relationships`: an asset manager records that this CI depends on, runs on, is
//! connected to or hosts another, from the asset page. The same `create_relationship` as
//! `POST /api/v1/relationships`, with its role check, CSRF and Origin checks; a refusal (an unknown
//! CI, a relationship already recorded, a CI related to itself) is shown with its reason.

use super::page;
use super::{PageError, PageResult, WebUser};
use crate::api::ApiState;
use crate::api::itsm::{Permission, now, write};
use crate::itsm::relationship::{NewRelationship, RelationKind, create_relationship};
use axum::Form;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect};
use serde::Deserialize;

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct RelateForm {
    pub csrf: String,
    /// A [`RelationKind`] key, read from this CI: `depends_on` means this CI depends on `to`.
    pub kind: String,
    pub to: String,
}

pub async fn create(
    State(state): State<ApiState>,
    user: WebUser,
    Path(id): Path<String>,
    headers: HeaderMap,
    Form(form): Form<RelateForm>,
) -> PageResult {
    user.check_post(&form.csrf, &headers)?;
    user.require(Permission::WriteRelationships)?;
    let kind = RelationKind::ALL
        .into_iter()
        .find(|kind| kind.key() == form.kind)
        .ok_or_else(|| {
            PageError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                format!("'{}' is not a kind of relationship", form.kind),
            )
        })?;
    let request = NewRelationship {
        from: id.trim().to_string(),
        kind,
        to: form.to.trim().to_lowercase(),
    };
    let actor = user.who.actor();
    write(&state, move |store, dir| {
        create_relationship(store, dir, &actor, request, now())
    })
    .await?;
    Ok(Redirect::to(&format!("/assets/{}#related", page::encode(id.trim()))).into_response())
}
