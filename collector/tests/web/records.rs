//! Changes, unauthorized changes, relationships, conflicts and problems through the console.

use super::*;

#[tokio::test]
async fn approvers_decide_changes_and_the_desk_acknowledges_unauthorized_ones() {
    let console = Console::start().await;
    let (mut agent, ci) = console.machine_agent(&Machine::debian("web-01")).await;
    let desk_token = console.token("dan", Role::ServiceDesk);
    let api = |path: &str| console.url(path);
    let created: serde_json::Value = console
        .http
        .post(api("/api/v1/changes"))
        .bearer_auth(&desk_token)
        .json(&serde_json::json!({
            "title": "upgrade openssl", "change_type": "normal", "risk": "moderate",
            "implementation_plan": "apt-get install openssl", "backout_plan": "reinstall the old version",
            "affected_cis": [ci],
        }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = created["record"]["id"].as_str().unwrap().to_string();
    let desk = console.sign_in(&desk_token).await;
    let approver = console
        .sign_in(&console.token("erin", Role::Approver))
        .await;
    let transition = format!("/changes/{id}/transition");
    let response = console
        .post(
            &desk,
            &transition,
            &[("csrf", &desk.csrf), ("to", "assessment")],
        )
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);

    let (_, page) = console.get(&desk.cookie, &format!("/changes/{id}")).await;
    assert!(
        page.contains("Assessment") && !page.contains(">Approve<") && !page.contains(">Reject<"),
        "{page}"
    );
    let (_, page) = console
        .get(&approver.cookie, &format!("/changes/{id}"))
        .await;
    assert!(
        page.contains(">Approve<") && page.contains(">Reject<"),
        "{page}"
    );
    assert!(
        page.contains(&format!("web-01 <span class=\"muted small\">({ci})</span>")),
        "the affected CI shows by its hostname: {page}"
    );
    assert!(
        !page.contains("Move to Draft"),
        "approvers only decide: {page}"
    );

    let response = console
        .post(
            &desk,
            &transition,
            &[("csrf", &desk.csrf), ("to", "approved")],
        )
        .await;
    assert_eq!(
        response.status(),
        StatusCode::FORBIDDEN,
        "only approvers and admins decide changes"
    );
    let response = console
        .post(
            &approver,
            &transition,
            &[
                ("csrf", &approver.csrf),
                ("to", "approved"),
                ("note", "go ahead"),
            ],
        )
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let (_, page) = console
        .get(&approver.cookie, &format!("/changes/{id}"))
        .await;
    assert!(page.contains("Approved") && page.contains("erin"), "{page}");

    // An upgrade outside any approved window is flagged; the desk acknowledges it, an auditor cannot.
    let mut upgraded = Machine::debian("web-01");
    upgraded.openssl = "3.0.15-1~deb12u1";
    console.report(&mut agent, &upgraded).await;
    let (_, page) = console.get(&desk.cookie, "/reports/unauthorized").await;
    let marker = "action=\"/reports/unauthorized/";
    let start = page
        .find(marker)
        .expect("an open flag with an acknowledge form")
        + marker.len();
    let flag = page[start..].split('/').next().unwrap().to_string();
    let acknowledge = format!("/reports/unauthorized/{flag}/acknowledge");
    let auditor = console
        .sign_in(&console.token("carol", Role::Auditor))
        .await;
    let response = console
        .post(
            &auditor,
            &acknowledge,
            &[("csrf", &auditor.csrf), ("note", "fine")],
        )
        .await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    let response = console
        .post(
            &desk,
            &acknowledge,
            &[
                ("csrf", &desk.csrf),
                ("note", "emergency fix, CHG to follow"),
            ],
        )
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let (_, page) = console
        .get(&desk.cookie, "/reports/unauthorized?status=acknowledged")
        .await;
    assert!(
        page.contains(&flag) && page.contains("emergency fix, CHG to follow"),
        "{page}"
    );
}

#[tokio::test]
async fn the_desk_plans_a_change_from_an_asset_page_and_sees_an_overlapping_window() {
    let console = Console::start().await;
    let ci = console.machine(&Machine::debian("web-01")).await;
    let desk = console
        .sign_in(&console.token("dan", Role::ServiceDesk))
        .await;
    let (_, asset) = console.get(&desk.cookie, &format!("/assets/{ci}")).await;
    assert!(
        asset.contains(&format!("/changes/new?ci={ci}")),
        "the asset page offers to plan a change: {asset}"
    );
    let (status, form) = console
        .get(&desk.cookie, &format!("/changes/new?ci={ci}"))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(form.contains(&format!("value=\"{ci}\"")), "{form}");

    let fields = |start: &'static str, end: &'static str| {
        vec![
            ("csrf", desk.csrf.clone()),
            ("title", "upgrade openssl".to_string()),
            ("change_type", "normal".to_string()),
            ("risk", "moderate".to_string()),
            ("window_start", start.to_string()),
            ("window_end", end.to_string()),
            ("implementation_plan", "apt-get install openssl".to_string()),
            ("backout_plan", "reinstall 3.0.2".to_string()),
            ("affected_cis", ci.clone()),
        ]
    };
    let half = fields("2026-12-01T22:00", "");
    let response = console.post(&desk, "/changes", &as_refs(&half)).await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let page = response.text().await.unwrap();
    assert!(page.contains("both ends of the window"), "{page}");
    assert!(
        page.contains("upgrade openssl"),
        "the form keeps what was typed"
    );

    let first = fields("2026-12-01T22:00", "2026-12-01T23:00");
    let response = console.post(&desk, "/changes", &as_refs(&first)).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let created = location(&response);
    assert!(created.starts_with("/changes/CHG-"), "{created}");
    let (_, page) = console.get(&desk.cookie, &created).await;
    assert!(
        page.contains("upgrade openssl") && page.contains("web-01"),
        "{page}"
    );

    let response = console
        .post(
            &desk,
            &format!("{created}/transition"),
            &[("csrf", &desk.csrf), ("to", "assessment")],
        )
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);

    // A second change on the same CI in an overlapping window (the first is now active): created,
    // and its page says so.
    let second = fields("2026-12-01T22:30", "2026-12-01T23:30");
    let response = console.post(&desk, "/changes", &as_refs(&second)).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let page = response.text().await.unwrap();
    assert!(page.contains("Created, with a warning"), "{page}");

    let auditor = console
        .sign_in(&console.token("carol", Role::Auditor))
        .await;
    let mut theirs = fields("2026-12-02T22:00", "2026-12-02T23:00");
    theirs[0].1 = auditor.csrf.clone();
    let response = console.post(&auditor, "/changes", &as_refs(&theirs)).await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    let (_, list) = console.get(&auditor.cookie, "/changes").await;
    assert!(
        !list.contains("New change"),
        "auditors are not offered the form"
    );
}

#[tokio::test]
async fn an_asset_manager_records_a_relationship_from_the_asset_page() {
    let console = Console::start().await;
    let web = console.machine(&Machine::debian("web-01")).await;
    let db = console.machine(&Machine::debian("db-01")).await;
    let manager = console
        .sign_in(&console.token("bob", Role::AssetManager))
        .await;
    let path = format!("/assets/{web}/relationships");
    let (_, page) = console
        .get(&manager.cookie, &format!("/assets/{web}"))
        .await;
    assert!(
        page.contains(&path) && page.contains("Add relationship"),
        "{page}"
    );

    let response = console
        .post(
            &manager,
            &path,
            &[("csrf", &manager.csrf), ("kind", "depends_on"), ("to", &db)],
        )
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&response), format!("/assets/{web}#related"));
    let (_, page) = console
        .get(&manager.cookie, &format!("/assets/{web}"))
        .await;
    assert!(
        page.contains(&format!("depends on <a href=\"/assets/{db}\">db-01")),
        "{page}"
    );
    let (_, page) = console.get(&manager.cookie, &format!("/assets/{db}")).await;
    assert!(
        page.contains("used by"),
        "the other end reads it back: {page}"
    );

    let response = console
        .post(
            &manager,
            &path,
            &[
                ("csrf", &manager.csrf),
                ("kind", "depends_on"),
                ("to", "ci-999999"),
            ],
        )
        .await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let page = response.text().await.unwrap();
    assert!(
        page.contains("ci-999999"),
        "the refusal names the CI: {page}"
    );

    let desk = console
        .sign_in(&console.token("dan", Role::ServiceDesk))
        .await;
    let (_, page) = console.get(&desk.cookie, &format!("/assets/{web}")).await;
    assert!(!page.contains("Add relationship"), "{page}");
    let response = console
        .post(
            &desk,
            &path,
            &[("csrf", &desk.csrf), ("kind", "runs_on"), ("to", &db)],
        )
        .await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn an_asset_manager_settles_a_reconciliation_conflict() {
    let console = Console::start().await;
    let alpha = console.machine(&Machine::debian("alpha")).await;
    // beta reports no serial (a VM, say): its machine-id is its strongest identifier.
    let mut beta_inventory = console::inventory(&Machine::debian("beta"));
    beta_inventory.hardware.system.serial = None;
    let mut beta_agent = console.agent().await;
    console
        .report_inventory(&mut beta_agent, beta_inventory.clone())
        .await;
    let beta = console.ci_of(&beta_agent.id);
    // A new agent whose serial names alpha and whose machine-id names beta.
    let mut confused = beta_inventory;
    confused.hardware.system.serial = Some("SN-alpha".into());
    let mut agent = console.agent().await;
    console.report_inventory(&mut agent, confused).await;

    let desk = console
        .sign_in(&console.token("dan", Role::ServiceDesk))
        .await;
    let (status, page) = console.get(&desk.cookie, "/conflicts").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        page.contains("cf-000001")
            && page.contains(&format!(
                "alpha <span class=\"muted small\">({alpha})</span>"
            )),
        "{page}"
    );
    assert!(
        !page.contains("Attach to"),
        "the desk reads, it does not decide"
    );

    let manager = console
        .sign_in(&console.token("bob", Role::AssetManager))
        .await;
    let (_, page) = console.get(&manager.cookie, "/conflicts").await;
    assert!(
        page.contains("Attach to alpha") && page.contains("Attach to beta"),
        "{page}"
    );
    let resolve = "/conflicts/cf-000001/resolve";
    let response = console
        .post(&desk, resolve, &[("csrf", &desk.csrf), ("into", &beta)])
        .await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    let response = console
        .post(
            &manager,
            resolve,
            &[("csrf", &manager.csrf), ("into", &beta)],
        )
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&response), format!("/assets/{beta}"));
    let (_, page) = console.get(&manager.cookie, "/conflicts").await;
    assert!(page.contains("No open conflict."), "{page}");
    let response = console
        .post(
            &manager,
            resolve,
            &[("csrf", &manager.csrf), ("into", "split")],
        )
        .await;
    assert_eq!(response.status(), StatusCode::CONFLICT, "already settled");
}

#[tokio::test]
async fn the_desk_opens_a_problem_and_records_its_known_error_and_resolution() {
    let console = Console::start().await;
    let ci = console.machine(&Machine::debian("db-01")).await;
    let desk = console
        .sign_in(&console.token("dan", Role::ServiceDesk))
        .await;
    let (_, asset) = console.get(&desk.cookie, &format!("/assets/{ci}")).await;
    assert!(
        asset.contains(&format!("/problems/new?ci={ci}")),
        "the asset page offers to open a problem: {asset}"
    );
    let (status, form) = console
        .get(&desk.cookie, &format!("/problems/new?ci={ci}"))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(form.contains(&format!("value=\"{ci}\"")), "{form}");

    let fields = |title: &str| {
        vec![
            ("csrf", desk.csrf.clone()),
            ("title", title.to_string()),
            ("description", "nightly backups time out".to_string()),
            ("assignee", "dan".to_string()),
            ("affected_cis", ci.clone()),
        ]
    };
    let response = console
        .post(&desk, "/problems", &as_refs(&fields(" ")))
        .await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let page = response.text().await.unwrap();
    assert!(page.contains("title"), "says what to fix: {page}");
    assert!(
        page.contains("nightly backups time out"),
        "keeps what was typed"
    );

    let response = console
        .post(&desk, "/problems", &as_refs(&fields("backups time out")))
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let created = location(&response);
    assert!(created.starts_with("/problems/PRB-"), "{created}");
    let (_, page) = console.get(&desk.cookie, &created).await;
    assert!(
        page.contains("backups time out") && page.contains("db-01"),
        "{page}"
    );
    let (_, list) = console.get(&desk.cookie, "/problems").await;
    assert!(
        list.contains(&created) && list.contains("New problem"),
        "{list}"
    );

    let transition = format!("{created}/transition");
    let move_to = |to: &'static str, cause: &'static str, workaround: &'static str| {
        vec![
            ("csrf", desk.csrf.clone()),
            ("to", to.to_string()),
            ("root_cause", cause.to_string()),
            ("workaround", workaround.to_string()),
        ]
    };
    let response = console
        .post(
            &desk,
            &transition,
            &as_refs(&move_to("investigating", "", "")),
        )
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    // A known error without its workaround: refused on the page, with what is missing.
    let response = console
        .post(
            &desk,
            &transition,
            &as_refs(&move_to("known_error", "disk full", "")),
        )
        .await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let page = response.text().await.unwrap();
    assert!(page.contains("needs a workaround"), "{page}");
    let response = console
        .post(
            &desk,
            &transition,
            &as_refs(&move_to("known_error", "disk full", "prune old backups")),
        )
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let (_, page) = console.get(&desk.cookie, &created).await;
    assert!(
        page.contains("Known error") && page.contains("prune old backups"),
        "{page}"
    );
    let response = console
        .post(
            &desk,
            &transition,
            &as_refs(&move_to("resolved", "disk full", "")),
        )
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let (_, page) = console.get(&desk.cookie, &created).await;
    assert!(page.contains("Resolved"), "{page}");

    // Auditors read problems but are offered no form and cannot post one.
    let auditor = console
        .sign_in(&console.token("carol", Role::Auditor))
        .await;
    let (status, list) = console.get(&auditor.cookie, "/problems").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        list.contains(&created) && !list.contains("New problem"),
        "{list}"
    );
    let mut theirs = fields("another");
    theirs[0].1 = auditor.csrf.clone();
    let response = console.post(&auditor, "/problems", &as_refs(&theirs)).await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
}
