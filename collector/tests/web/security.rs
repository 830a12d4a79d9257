//! Sign-in, CSRF and origin checks, roles, escaping, and search.

use super::*;

#[tokio::test]
async fn signing_in_sets_a_protected_cookie_bad_tokens_are_refused_and_sign_out_ends_it() {
    let console = Console::start().await;
    let token = console.token("alice", Role::ServiceDesk);

    let response = console
        .http
        .get(console.url("/assets?q=os.id=debian"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        location(&response),
        "/login?next=%2Fassets%3Fq%3Dos.id%3Ddebian"
    );

    for bad in [
        "hunter2",
        "census_00000000000000000000000000000000000000000000000000000",
    ] {
        let response = console
            .http
            .post(console.url("/login"))
            .header("content-type", console::FORM)
            .body(console::form(&[("token", bad), ("next", "/")]))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{bad}");
        assert!(response.headers().get("set-cookie").is_none());
        let page = response.text().await.unwrap();
        assert!(page.contains("role=\"alert\""), "{page}");
    }

    let response = console
        .http
        .post(console.url("/login"))
        .header("content-type", console::FORM)
        .body(console::form(&[
            ("token", token.as_str()),
            ("next", "//evil.example/steal"),
        ]))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        location(&response),
        "/",
        "a next that leaves the console is ignored"
    );
    let cookie = response.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .to_string();
    for flag in [
        "census_session=",
        "HttpOnly",
        "Secure",
        "SameSite=Strict",
        "Path=/",
    ] {
        assert!(cookie.contains(flag), "{flag} missing: {cookie}");
    }
    let cookie = cookie.split(';').next().unwrap().to_string();

    let response = console
        .http
        .get(console.url("/"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let headers = response.headers();
    assert_eq!(
        headers["content-security-policy"]
            .to_str()
            .unwrap()
            .split(';')
            .next(),
        Some("default-src 'self'")
    );
    assert_eq!(headers["x-frame-options"], "DENY");
    assert_eq!(headers["referrer-policy"], "same-origin");
    assert_eq!(headers["x-content-type-options"], "nosniff");
    let page = response.text().await.unwrap();
    assert!(
        page.contains("alice") && page.contains("aria-current=\"page\""),
        "{page}"
    );
    assert!(!page.contains("<script"), "no inline script: {page}");

    let css = console
        .http
        .get(console.url("/static/census.css"))
        .send()
        .await
        .unwrap();
    assert_eq!(css.status(), StatusCode::OK);
    assert!(
        css.headers()["cache-control"]
            .to_str()
            .unwrap()
            .contains("max-age")
    );

    let session = Session {
        csrf: console::csrf_of(&page),
        cookie: cookie.clone(),
    };
    let response = console
        .post(&session, "/logout", &[("csrf", session.csrf.as_str())])
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert!(
        response.headers()["set-cookie"]
            .to_str()
            .unwrap()
            .contains("Max-Age=0")
    );
    let (status, _) = console.get(&cookie, "/").await;
    assert_eq!(
        status,
        StatusCode::SEE_OTHER,
        "the session is gone on the server, not only in the browser"
    );
}

#[tokio::test]
async fn posts_without_the_session_csrf_token_or_from_another_origin_write_nothing() {
    let console = Console::start().await;
    let ci = console.machine(&Machine::debian("web-01")).await;
    let session = console
        .sign_in(&console.token("desk", Role::ServiceDesk))
        .await;
    let fields = |csrf: &'static str| {
        vec![
            ("csrf", csrf),
            ("title", "disk failing"),
            ("impact", "2"),
            ("urgency", "1"),
        ]
    };

    let mut missing = fields("");
    missing.retain(|(name, _)| *name != "csrf");
    missing.push(("affected_cis", &ci));
    let response = console.post(&session, "/incidents", &missing).await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert!(
        response
            .text()
            .await
            .unwrap()
            .contains("CSRF token is missing or wrong")
    );

    let mut wrong = fields("0000000000000000000000000000000000000000000000000000");
    wrong.push(("affected_cis", &ci));
    let response = console.post(&session, "/incidents", &wrong).await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);

    let mut right = fields("");
    right.retain(|(name, _)| *name != "csrf");
    right.push(("csrf", &session.csrf));
    right.push(("affected_cis", &ci));
    let response = console
        .http
        .post(console.url("/incidents"))
        .header("cookie", &session.cookie)
        .header("origin", "https://evil.example")
        .header("content-type", console::FORM)
        .body(console::form(&right))
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.status(),
        StatusCode::FORBIDDEN,
        "a valid token from another site"
    );
    assert_eq!(n_incidents(&console), 0, "no refused post wrote anything");

    let response = console.post(&session, "/incidents", &right).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert!(location(&response).starts_with("/incidents/INC-"));
    assert_eq!(n_incidents(&console), 1);
    let (status, list) = console.get(&session.cookie, "/incidents").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        list.contains(&format!("web-01 <span class=\"muted small\">({ci})</span>")),
        "the list names the affected machine: {list}"
    );
}

#[tokio::test]
async fn roles_are_enforced_as_in_the_json_api() {
    let console = Console::start().await;
    let ci = console.machine(&Machine::debian("db-01")).await;
    let auditor = console
        .sign_in(&console.token("carol", Role::Auditor))
        .await;
    let manager = console
        .sign_in(&console.token("bob", Role::AssetManager))
        .await;
    let desk = console
        .sign_in(&console.token("dan", Role::ServiceDesk))
        .await;

    let (status, page) = console.get(&auditor.cookie, "/incidents").await;
    assert_eq!(status, StatusCode::OK, "auditors read incidents");
    assert!(
        !page.contains("New incident"),
        "and are not offered to create one"
    );
    let response = console
        .post(
            &auditor,
            "/incidents",
            &[
                ("csrf", &auditor.csrf),
                ("title", "x"),
                ("impact", "1"),
                ("urgency", "1"),
                ("affected_cis", &ci),
            ],
        )
        .await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    let page = response.text().await.unwrap();
    assert!(page.contains("may not create or edit incidents"), "{page}");
    assert_eq!(n_incidents(&console), 0);

    let (status, page) = console.get(&manager.cookie, "/incidents").await;
    assert_eq!(
        status,
        StatusCode::FORBIDDEN,
        "asset managers do not read service-desk records"
    );
    assert!(page.contains("Not allowed"), "{page}");

    let path = format!("/assets/{ci}/edit");
    let edit = |session: &Session| {
        let csrf = session.csrf.clone();
        [
            ("csrf", csrf),
            ("owner", "Jane Smith".to_string()),
            ("location", "Rack 12".to_string()),
            ("status", "in_use".to_string()),
            ("status_was", "in_use".to_string()),
        ]
    };
    let response = console
        .post(
            &desk,
            &path,
            &edit(&desk)
                .iter()
                .map(|(k, v)| (*k, v.as_str()))
                .collect::<Vec<_>>(),
        )
        .await;
    assert_eq!(
        response.status(),
        StatusCode::FORBIDDEN,
        "service desk cannot edit managed fields"
    );
    let (_, page) = console.get(&desk.cookie, &format!("/assets/{ci}")).await;
    assert!(!page.contains("Jane Smith"));
    assert!(
        page.contains("Create incident on this CI"),
        "the service desk may open incidents"
    );

    let response = console
        .post(
            &manager,
            &path,
            &edit(&manager)
                .iter()
                .map(|(k, v)| (*k, v.as_str()))
                .collect::<Vec<_>>(),
        )
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let (_, page) = console.get(&manager.cookie, &format!("/assets/{ci}")).await;
    assert!(page.contains("value=\"Jane Smith\""), "{page}");
    assert!(
        !page.contains("Create incident on this CI"),
        "asset managers do not write incidents"
    );
    let (_, page) = console
        .get(&manager.cookie, &format!("/assets/{ci}?pkg=SSL"))
        .await;
    let software = &page[page.find("id=\"software\"").unwrap()..];
    assert!(
        software.contains(">openssl<") && software.contains(">libssl3<"),
        "{software}"
    );
    assert!(
        !software.contains(">bash<"),
        "the filter keeps only matching packages: {software}"
    );
}

#[tokio::test]
async fn hostnames_and_titles_are_rendered_escaped() {
    let console = Console::start().await;
    let hostile = "<script>alert(1)</script>";
    let ci = console.machine(&Machine::debian(hostile)).await;
    let session = console
        .sign_in(&console.token("desk", Role::ServiceDesk))
        .await;
    for path in ["/assets".to_string(), format!("/assets/{ci}")] {
        let (status, page) = console.get(&session.cookie, &path).await;
        assert_eq!(status, StatusCode::OK);
        assert!(
            page.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
            "{path}: {page}"
        );
        assert!(
            !page.contains("<script>"),
            "{path} renders the hostname as markup"
        );
    }
    let response = console
        .post(
            &session,
            "/incidents",
            &[
                ("csrf", &session.csrf),
                ("title", "<img src=x onerror=alert(2)>"),
                ("impact", "1"),
                ("urgency", "1"),
                ("affected_cis", &ci),
            ],
        )
        .await;
    let (_, page) = console.get(&session.cookie, &location(&response)).await;
    assert!(
        page.contains("&lt;img src=x onerror=alert(2)&gt;"),
        "{page}"
    );
    assert!(
        !page.contains("<img") && !page.contains("<script>"),
        "{page}"
    );
}

#[tokio::test]
async fn search_pages_with_cursors_and_shows_where_a_query_fails_to_parse() {
    let console = Console::start().await;
    for host in ["app-01", "app-02", "app-03"] {
        console.machine(&Machine::debian(host)).await;
    }
    let mut rhel = Machine::debian("legacy-01");
    rhel.os_name = "Red Hat Enterprise Linux";
    rhel.os_version = "8.10";
    console.machine(&rhel).await;
    let session = console
        .sign_in(&console.token("bob", Role::AssetManager))
        .await;

    let (status, first) = console
        .get(
            &session.cookie,
            "/assets?q=hostname%20~%20%22app-*%22&limit=2",
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        first.contains(">app-01<") && first.contains(">app-02<") && !first.contains(">app-03<"),
        "{first}"
    );
    let marker = "rel=\"next\" href=\"";
    let start = first.find(marker).expect("a next-page link") + marker.len();
    let next = first[start..]
        .split('"')
        .next()
        .unwrap()
        .replace("&amp;", "&");
    assert!(
        next.contains("cursor=ci-") && next.contains("q=hostname%20~%20%22app-%2A%22"),
        "{next}"
    );
    let (_, second) = console.get(&session.cookie, &next).await;
    assert!(
        second.contains(">app-03<")
            && !second.contains(">app-01<")
            && !second.contains(">legacy-01<"),
        "{second}"
    );
    assert!(
        !second.contains("rel=\"next\""),
        "the last page has no next link"
    );

    let (status, page) = console
        .get(&session.cookie, "/assets?q=memory.total_bytes%20%3C")
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        page.contains("The query does not parse") && page.contains("at position 20"),
        "{page}"
    );
    assert!(
        page.contains("memory.total_bytes &lt;\n                    ^"),
        "the caret under the position: {page}"
    );

    let (_, dashboard) = console.get(&session.cookie, "/").await;
    assert!(
        dashboard.contains("Debian GNU/Linux 12: 3")
            && dashboard.contains("Red Hat Enterprise Linux 8.10: 1"),
        "{dashboard}"
    );
    assert!(dashboard.contains("<svg") && dashboard.contains("role=\"img\""));
}
