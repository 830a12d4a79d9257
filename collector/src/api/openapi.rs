//! `GET /api/v1/openapi.json`: the OpenAPI 3.1 description of every route, served without a token.
//!
//! The document is a maintained file (`openapi.json` beside this one) embedded at build time, so what
//! is served is exactly what was reviewed. Unauthenticated on purpose: it describes shapes, never data,
//! and API tooling (generators, gateways, a browser) fetches it before it has a token; the routes it
//! describes keep their own checks.
//!
//! The tests below keep the document honest: they read every route call of the API source files at
//! build time and fail when a path or method exists in the code but not in the document (or the other
//! way round), and when a required OpenAPI field is missing.

use super::ApiState;
use axum::Router;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;

pub const PATH_OPENAPI: &str = "/api/v1/openapi.json";
pub const DOCUMENT: &str = include_str!("openapi.json");

/// The document route, merged into [`super::router`].
pub fn routes() -> Router<ApiState> {
    Router::new().route(PATH_OPENAPI, get(document))
}

async fn document() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/json")], DOCUMENT)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;
    use std::collections::BTreeSet;

    /// Every file that declares routes. A new route file must be added here (the test below also
    /// fails if a file here stops declaring routes, so the list cannot silently rot).
    const SOURCES: &[(&str, &str)] = &[
        ("api/mod.rs", include_str!("mod.rs")),
        ("api/assets.rs", include_str!("assets.rs")),
        ("api/ops.rs", include_str!("ops.rs")),
        ("api/users.rs", include_str!("users.rs")),
        ("api/openapi.rs", include_str!("openapi.rs")),
        ("api/itsm/mod.rs", include_str!("itsm/mod.rs")),
    ];

    /// Route paths written as constants rather than literals.
    fn constant(name: &str) -> Option<&'static str> {
        use census_shared::protocol;
        Some(match name {
            "protocol::PATH_HEALTH" => protocol::PATH_HEALTH,
            "protocol::PATH_ENROLL" => protocol::PATH_ENROLL,
            "protocol::PATH_RENEW" => protocol::PATH_RENEW,
            "protocol::PATH_CHECKIN" => protocol::PATH_CHECKIN,
            "protocol::PATH_REPORT" => protocol::PATH_REPORT,
            "PATH_READY" => super::super::ops::PATH_READY,
            "PATH_METRICS" => super::super::ops::PATH_METRICS,
            "PATH_BACKUP" => super::super::ops::PATH_BACKUP,
            "PATH_OPENAPI" => PATH_OPENAPI,
            _ => return None,
        })
    }

    /// `(path, method)` of every route call (`PATH, METHOD(…).METHOD(…)`) in `source`, tests left out.
    fn routes_in(file: &str, source: &str) -> Vec<(String, String)> {
        let source = source.split("#[cfg(test)]").next().unwrap_or_default();
        let mut found = Vec::new();
        let marker = ".route(";
        let mut rest = source;
        while let Some(start) = rest.find(marker) {
            rest = &rest[start + marker.len()..];
            // The call's arguments: up to the parenthesis that closes the call.
            let mut depth = 1;
            let end = rest
                .char_indices()
                .find(|(_, c)| {
                    match c {
                        '(' => depth += 1,
                        ')' => depth -= 1,
                        _ => {}
                    }
                    depth == 0
                })
                .map(|(index, _)| index)
                .unwrap_or_else(|| panic!("{file}: unclosed .route("));
            let call = &rest[..end];
            let (first, handlers) = call
                .split_once(',')
                .unwrap_or_else(|| panic!("{file}: .route({call}) has no handler"));
            let first = first.trim();
            let path = match first.strip_prefix('"') {
                Some(literal) => literal.trim_end_matches('"').to_string(),
                None => constant(first)
                    .unwrap_or_else(|| {
                        panic!("{file}: add the route constant {first} to this test")
                    })
                    .to_string(),
            };
            for method in ["get", "post", "put", "patch", "delete"] {
                let called = handlers
                    .match_indices(&format!("{method}("))
                    .any(|(index, _)| {
                        index == 0
                            || !handlers.as_bytes()[index - 1].is_ascii_alphanumeric()
                                && handlers.as_bytes()[index - 1] != b'_'
                                && handlers.as_bytes()[index - 1] != b':'
                    });
                if called {
                    found.push((path.clone(), method.to_string()));
                }
            }
        }
        found
    }

    fn document() -> Value {
        serde_json::from_str(DOCUMENT).expect("openapi.json is valid JSON")
    }

    #[test]
    fn every_route_in_the_code_is_in_the_document_and_nothing_else_is() {
        let mut in_code = BTreeSet::new();
        for (file, source) in SOURCES {
            let routes = routes_in(file, source);
            assert!(
                !routes.is_empty(),
                "{file} declares no route: drop it from SOURCES"
            );
            in_code.extend(routes);
        }
        let document = document();
        let mut in_document = BTreeSet::new();
        for (path, item) in document["paths"].as_object().unwrap() {
            for method in item.as_object().unwrap().keys() {
                in_document.insert((path.clone(), method.clone()));
            }
        }
        let undocumented: Vec<_> = in_code.difference(&in_document).collect();
        assert!(
            undocumented.is_empty(),
            "routes missing from collector/src/api/openapi.json: {undocumented:?}"
        );
        let stale: Vec<_> = in_document.difference(&in_code).collect();
        assert!(
            stale.is_empty(),
            "documented routes that do not exist: {stale:?}"
        );
        assert!(in_code.len() >= 50, "only {} routes found", in_code.len());
    }

    #[test]
    fn the_route_reader_sees_methods_constants_and_multi_line_calls() {
        let source = r#"
            .route(PATH_READY, get(ready))
            .route(
                "/api/v1/things/{id}",
                get(things::get_one).patch(things::update),
            )
            .route("/x", post(links::create).get(links::list).delete(links::forget))
        "#;
        let mut routes = routes_in("sample", source);
        routes.sort();
        assert_eq!(
            routes,
            [
                ("/api/v1/things/{id}", "get"),
                ("/api/v1/things/{id}", "patch"),
                ("/readyz", "get"),
                ("/x", "delete"),
                ("/x", "get"),
                ("/x", "post"),
            ]
            .map(|(path, method)| (path.to_string(), method.to_string()))
        );
    }

    #[test]
    fn the_document_has_the_required_openapi_fields_and_resolvable_references() {
        let document = document();
        assert!(document["openapi"].as_str().unwrap().starts_with("3.1."));
        assert!(document["info"]["title"].is_string() && document["info"]["version"].is_string());
        assert_eq!(
            document["components"]["securitySchemes"]["bearer"]["scheme"],
            "bearer"
        );
        let schemas = document["components"]["schemas"].as_object().unwrap();
        for required in [
            "AssetListItem",
            "Asset",
            "AssetHistoryEntry",
            "Event",
            "Conflict",
            "Incident",
            "Change",
            "Problem",
            "Relationship",
            "Error",
            "HealthReport",
            "User",
            "ApiToken",
        ] {
            assert!(
                schemas.contains_key(required),
                "schema {required} is missing"
            );
        }
        for (path, item) in document["paths"].as_object().unwrap() {
            for (method, operation) in item.as_object().unwrap() {
                assert!(
                    operation["responses"]
                        .as_object()
                        .is_some_and(|r| !r.is_empty()),
                    "{method} {path} has no responses"
                );
                for name in path
                    .split('/')
                    .filter_map(|segment| segment.strip_prefix('{')?.strip_suffix('}'))
                {
                    let declared = operation["parameters"].as_array().is_some_and(|params| {
                        params
                            .iter()
                            .any(|p| p["in"] == "path" && p["name"] == name)
                    });
                    assert!(
                        declared,
                        "{method} {path} does not declare path parameter {name}"
                    );
                }
            }
        }
        // Every $ref points at a schema that exists.
        let text = DOCUMENT;
        for reference in text.split("\"$ref\": \"#/components/schemas/").skip(1) {
            let name = reference.split('"').next().unwrap();
            assert!(schemas.contains_key(name), "dangling reference to {name}");
        }
    }
}
