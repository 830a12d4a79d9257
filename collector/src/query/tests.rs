//! Tests of the whole language: parsing (tree shapes, errors), evaluation on fixture inventories,
//! index planning, and properties (no panics; printing round-trips).

use std::net::IpAddr;

use census_shared::Inventory;
use census_shared::inventory::{Interface, IpAddress, Package};
use proptest::prelude::*;
use time::OffsetDateTime;
use time::macros::datetime;

use super::*;

fn field(name: &str) -> Field {
    Field::lookup(name).unwrap_or_else(|| panic!("no field {name}"))
}

fn text(value: &str) -> Value {
    Value::Text(value.to_string())
}

fn cmp(name: &str, op: Op, value: Value) -> Expr {
    Expr::Compare {
        field: field(name),
        op,
        value,
    }
}

fn ip(text: &str) -> IpAddr {
    text.parse().unwrap()
}

fn parse_err(input: &str) -> ParseError {
    parse(input).expect_err(input)
}

// ---- Parsing: the examples from the specification ----

#[test]
fn package_with_version_binds_to_the_same_package() {
    let parsed =
        parse("package:openssl version<3.0.7 and os.id=debian and not status=retired").unwrap();
    let expected = Expr::And(vec![
        Expr::Package(PackageTerm {
            name: "openssl".into(),
            qualifiers: vec![Qualifier {
                key: QualifierKey::Version,
                op: Op::Lt,
                value: "3.0.7".into(),
            }],
        }),
        cmp("os.id", Op::Eq, text("debian")),
        Expr::Not(Box::new(cmp("status", Op::Eq, text("retired")))),
    ]);
    assert_eq!(parsed, expected);
}

#[test]
fn ip_in_a_network() {
    let net = IpNet::new(ip("10.1.0.0"), 16).unwrap();
    assert_eq!(
        parse("ip in 10.1.0.0/16").unwrap(),
        Expr::In {
            field: field("ip"),
            values: vec![Value::Net(net)]
        }
    );
}

#[test]
fn hostname_glob() {
    assert_eq!(
        parse(r#"hostname ~ "web-*""#).unwrap(),
        cmp("hostname", Op::Glob, text("web-*"))
    );
}

#[test]
fn last_seen_relative_duration() {
    assert_eq!(
        parse("last_seen < 7d").unwrap(),
        cmp("last_seen", Op::Lt, Value::Time(TimeValue::Ago(7 * 86_400)))
    );
}

#[test]
fn a_time_ending_in_a_non_ascii_character_is_an_error_not_a_panic() {
    // Found by the query_parse fuzz target: the unit was cut off as one byte, inside 'é'.
    for input in ["last_seen < 6dé", "last_seen < 7\u{FFFD}", "first_seen > é"] {
        let error = parse_err(input);
        assert!(
            error.message.contains("a duration (7d"),
            "{input}: {error:?}"
        );
    }
}

#[test]
fn memory_with_binary_units() {
    assert_eq!(
        parse("memory.total_bytes >= 32GiB").unwrap(),
        cmp("memory.total_bytes", Op::Ge, Value::Number(32 << 30))
    );
}

// ---- Parsing: every construct ----

#[test]
fn precedence_is_not_then_and_then_or() {
    let a = || cmp("os.id", Op::Eq, text("a"));
    let b = || cmp("os.id", Op::Eq, text("b"));
    let c = || cmp("os.id", Op::Eq, text("c"));
    assert_eq!(
        parse("os.id=a or os.id=b and not os.id=c").unwrap(),
        Expr::Or(vec![a(), Expr::And(vec![b(), Expr::Not(Box::new(c()))])])
    );
    assert_eq!(
        parse("(os.id=a or os.id=b) os.id=c").unwrap(),
        Expr::And(vec![Expr::Or(vec![a(), b()]), c()])
    );
    assert_eq!(
        parse("NOT (os.id=a AND os.id=b)").unwrap(),
        Expr::Not(Box::new(Expr::And(vec![a(), b()])))
    );
}

#[test]
fn lists_has_and_null() {
    assert_eq!(
        parse("os.id in (debian, ubuntu, \"rhel\")").unwrap(),
        Expr::In {
            field: field("os.id"),
            values: vec![text("debian"), text("ubuntu"), text("rhel")]
        }
    );
    assert_eq!(parse("has serial").unwrap(), Expr::Has(field("serial")));
    assert_eq!(parse("serial != null").unwrap(), Expr::Has(field("serial")));
    assert_eq!(
        parse("owner = null").unwrap(),
        Expr::Not(Box::new(Expr::Has(field("owner"))))
    );
    assert_eq!(
        parse(r#"owner = "null""#).unwrap(),
        cmp("owner", Op::Eq, text("null"))
    );
    assert_eq!(
        parse("ip in (10.0.0.0/8, fd00::1)").unwrap(),
        Expr::In {
            field: field("ip"),
            values: vec![
                Value::Net(IpNet::new(ip("10.0.0.0"), 8).unwrap()),
                Value::Ip(ip("fd00::1"))
            ]
        }
    );
}

#[test]
fn package_qualifiers_and_globs() {
    let parsed =
        parse("package:linux-image-* arch=amd64 manager = dpkg version >= 6.1 version < 6.2")
            .unwrap();
    let Expr::Package(term) = parsed else {
        panic!("not a package term: {parsed:?}");
    };
    assert_eq!(term.name, "linux-image-*");
    let keys: Vec<_> = term
        .qualifiers
        .iter()
        .map(|q| (q.key, q.op, q.value.as_str()))
        .collect();
    assert_eq!(
        keys,
        [
            (QualifierKey::Arch, Op::Eq, "amd64"),
            (QualifierKey::Manager, Op::Eq, "dpkg"),
            (QualifierKey::Version, Op::Ge, "6.1"),
            (QualifierKey::Version, Op::Lt, "6.2"),
        ]
    );
    // Versions with epochs, tildes and revisions need no quotes.
    let Expr::Package(term) = parse("package:openssl version<1:3.0.11-1~deb12u2").unwrap() else {
        panic!("not a package term");
    };
    assert_eq!(term.qualifiers[0].value, "1:3.0.11-1~deb12u2");
}

#[test]
fn values_are_typed_by_field() {
    let cases = [
        ("memory >= 1.5GB", Value::Number(1_500_000_000)),
        ("memory > 512MiB", Value::Number(512 << 20)),
        ("disk.size_bytes > 4096", Value::Number(4096)),
        ("cpus >= 16", Value::Number(16)),
        (
            "last_seen > 2026-11-01",
            Value::Time(TimeValue::At(datetime!(2026-11-01 0:00 UTC))),
        ),
        (
            "first_seen >= 2026-11-01T08:30:00+02:00",
            Value::Time(TimeValue::At(datetime!(2026-11-01 6:30 UTC))),
        ),
        ("boot_time < 90m", Value::Time(TimeValue::Ago(5_400))),
        ("ip = 10.1.2.3", Value::Ip(ip("10.1.2.3"))),
        ("mac = AA-BB-CC-DD-EE-FF", text("aa:bb:cc:dd:ee:ff")),
        (r#"owner = "Ops \"core\" team""#, text(r#"Ops "core" team"#)),
    ];
    for (input, expected) in cases {
        match parse(input) {
            Ok(Expr::Compare { value, .. }) => assert_eq!(value, expected, "{input}"),
            other => panic!("{input}: {other:?}"),
        }
    }
}

// ---- Parsing: errors ----

#[test]
fn errors_say_what_was_expected_and_where() {
    let cases: &[(&str, usize, &str)] = &[
        (
            "memory.total_bytes <",
            20,
            "expected a value after '<', found the end of the query",
        ),
        ("os.id = debian and", 18, "expected a condition"),
        (
            "os.id debian",
            6,
            "expected an operator (=, !=, <, <=, >, >=, ~ or in) after 'os.id'",
        ),
        (
            "hostnme = web",
            0,
            "unknown field 'hostnme' (did you mean 'hostname'?",
        ),
        ("version < 3", 0, "'version' qualifies a package"),
        (
            "(os.id = a",
            10,
            "expected ')' to close the '(' at position 0",
        ),
        ("os.id = a)", 9, "unexpected ')'"),
        (
            "memory > 32 GiB",
            12,
            "unknown field 'GiB' (fields are listed",
        ),
        ("memory > 32XB", 9, "expected a size such as 32GiB"),
        ("last_seen < yesterday", 12, "expected a date (2026-11-01)"),
        ("ip < 10.0.0.1", 3, "'<' does not apply to 'ip'"),
        (
            "ip in (10.0.0.0/33)",
            7,
            "expected an IP address or a network",
        ),
        (
            "cpus ~ 1*",
            5,
            "'~' matches text; 'cpu.logical_cpus' is a number",
        ),
        ("os.id = and", 8, "found the keyword 'and'"),
        ("os.id in (a b)", 12, "expected ',' or ')'"),
        ("package openssl", 0, "expected ':' after 'package'"),
        ("package:openssl arch < x", 21, "'arch' takes =, != or ~"),
        ("owner < null", 8, "cannot be compared with null"),
        ("owner = \"open", 8, "not closed"),
        ("   ", 0, "the query is empty"),
    ];
    for &(input, position, message) in cases {
        let error = parse_err(input);
        assert!(error.message.contains(message), "{input}: got {error}");
        assert_eq!(error.position, position, "{input}: {error}");
    }
}

#[test]
fn render_puts_a_caret_under_the_position() {
    let input = "memory.total_bytes <";
    let rendered = parse_err(input).render(input);
    assert_eq!(rendered, "memory.total_bytes <\n                    ^");
    // Columns count characters, not bytes.
    let input = "owner = \"é\" )";
    let error = parse_err(input);
    assert_eq!(error.position, 13);
    assert_eq!(error.render(input), "owner = \"é\" )\n            ^");
}

#[test]
fn inputs_are_bounded() {
    let long = format!("hostname = \"{}\"", "a".repeat(MAX_QUERY_BYTES));
    let error = parse_err(&long);
    assert!(error.message.contains("the limit is 4096"), "{error}");
    let deep = format!(
        "{}os.id = a{}",
        "(".repeat(MAX_DEPTH + 1),
        ")".repeat(MAX_DEPTH + 1)
    );
    assert!(parse_err(&deep).message.contains("nests more than 32"));
    let nots = format!("{}os.id = a", "not ".repeat(MAX_DEPTH + 1));
    assert!(parse_err(&nots).message.contains("nests more than 32"));
    let fine = format!(
        "{}os.id = a{}",
        "(".repeat(MAX_DEPTH),
        ")".repeat(MAX_DEPTH)
    );
    assert!(parse(&fine).is_ok());
}

// ---- Evaluation ----

fn package(manager: &str, name: &str, version: &str, arch: &str) -> Package {
    Package {
        manager: manager.into(),
        name: name.into(),
        version: version.into(),
        arch: Some(arch.into()),
        ..Package::default()
    }
}

fn debian_web() -> Inventory {
    let mut inventory = Inventory::default();
    inventory.collected_at = "2026-11-26T22:15:05Z".into();
    inventory.host.hostname = Some("WEB-01".into());
    inventory.host.boot_time = Some("2026-11-20T08:00:00Z".into());
    inventory.os.id = Some("debian".into());
    inventory.os.version = Some("12".into());
    inventory.hardware.system.serial = Some("CZ1234ABC".into());
    inventory.hardware.cpu.logical_cpus = Some(16);
    inventory.hardware.memory.total_bytes = Some(64 << 30);
    inventory.network.interfaces = vec![Interface {
        name: "eth0".into(),
        mac: Some("52:54:00:12:34:56".into()),
        addresses: vec![
            IpAddress {
                address: "10.1.2.3".into(),
                prefix_len: 16,
                family: "inet".into(),
            },
            IpAddress {
                address: "fe80::5054:ff:fe12:3456%eth0".into(),
                prefix_len: 64,
                family: "inet6".into(),
            },
        ],
        ..Interface::default()
    }];
    inventory.software.packages = vec![
        package("dpkg", "openssl", "3.0.11-1~deb12u2", "amd64"),
        package("dpkg", "libssl3", "3.0.11-1~deb12u2", "amd64"),
        package("dpkg", "linux-image-6.1.0-26-amd64", "6.1.112-1", "amd64"),
    ];
    inventory
}

fn rhel_db() -> Inventory {
    let mut inventory = Inventory::default();
    inventory.host.hostname = Some("db-01".into());
    inventory.os.id = Some("rhel".into());
    inventory.os.version = Some("9.4".into());
    inventory.hardware.memory.total_bytes = Some(16 << 30);
    inventory.software.packages = vec![
        package("rpm", "openssl", "1:3.0.7-27.el9", "x86_64"),
        package("rpm", "openssl-libs", "1:3.0.7-27.el9", "i686"),
    ];
    inventory
}

const NOW: OffsetDateTime = datetime!(2026-11-27 12:00 UTC);

fn web_view(inventory: &Inventory) -> AssetView<'_> {
    AssetView {
        inventory: Some(inventory),
        id: Some("a-1"),
        status: Some("active"),
        owner: Some("Web Team"),
        last_seen: Some(datetime!(2026-11-27 11:00 UTC)),
        first_seen: Some(datetime!(2025-01-10 9:00 UTC)),
        ..AssetView::default()
    }
}

fn db_view(inventory: &Inventory) -> AssetView<'_> {
    AssetView {
        inventory: Some(inventory),
        id: Some("a-2"),
        status: Some("retired"),
        last_seen: Some(datetime!(2026-10-01 0:00 UTC)),
        ..AssetView::default()
    }
}

/// Checks which of the fixture assets (web, db, bare) `query` selects.
fn check(query: &str, expected: [bool; 3]) {
    let expr = parse(query).unwrap_or_else(|error| panic!("{}\n{error}", error.render(query)));
    let (web, db) = (debian_web(), rhel_db());
    let bare = AssetView {
        id: Some("a-3"),
        ..AssetView::default()
    };
    let got = [
        matches(&expr, &web_view(&web), NOW),
        matches(&expr, &db_view(&db), NOW),
        matches(&expr, &bare, NOW),
    ];
    assert_eq!(got, expected, "{query} (web, db, bare)");
}

#[test]
fn evaluates_packages_with_each_managers_version_rules() {
    // dpkg: 3.0.11-1~deb12u2 is newer than 3.0.7; rpm: 1:3.0.7-27.el9 has an epoch, newer than 3.0.8.
    check("package:openssl version<3.0.7", [false, false, false]);
    check("package:openssl version<3.0.12", [true, false, false]);
    // Epochs count: the Debian 3.0.11 has epoch 0, so it sorts below anything with epoch 1.
    check(
        "package:openssl version<=1:3.0.7-27.el9",
        [true, true, false],
    );
    check("package:openssl version>=1:0", [false, true, false]);
    check("package:openssl version > 3.0.8", [true, true, false]);
    check(
        "package:openssl version ~ \"3.0.11-*\"",
        [true, false, false],
    );
    check("package:openssl-libs arch=x86_64", [false, false, false]);
    check("package:openssl-libs arch=i686", [false, true, false]);
    check("package:OpenSSL manager=rpm", [false, true, false]);
    check("package:openssl manager!=rpm", [true, false, false]);
    check("package:linux-image-* version>=6.1", [true, false, false]);
    check("not package:openssl", [false, false, true]);
    // The example from the specification: the retired database is left out.
    check(
        "package:openssl version<3.0.12 and os.id=debian and not status=retired",
        [true, false, false],
    );
    // Qualifiers bind to ONE package: libssl3 is amd64 but no openssl-libs is.
    check("package:openssl-libs arch=amd64", [false, false, false]);
}

#[test]
fn evaluates_fields_of_every_kind() {
    check("hostname = web-01", [true, false, false]);
    check(r#"hostname ~ "web-*""#, [true, false, false]);
    check("hostname ~ *-01", [true, true, false]);
    check("hostname > web-00", [true, false, false]);
    check("os.version >= 9.10", [true, false, false]);
    check("os.id in (debian, ubuntu)", [true, false, false]);
    check("memory.total_bytes >= 32GiB", [true, false, false]);
    check("memory < 32GiB", [false, true, false]);
    check("cpus = 16", [true, false, false]);
    check("ip in 10.1.0.0/16", [true, false, false]);
    check("ip in (192.168.0.0/16, fe80::/10)", [true, false, false]);
    check("ip = 10.1.2.3", [true, false, false]);
    check("ip != 10.1.2.3", [false, true, true]);
    check("ip ~ 10.1.*", [true, false, false]);
    check("mac = 52-54-00-12-34-56", [true, false, false]);
    check("serial = cz1234abc", [true, false, false]);
    check("has serial", [true, false, false]);
    check("serial = null", [false, true, true]);
    check("owner = \"web team\"", [true, false, false]);
    check("id in (a-2, a-3)", [false, true, true]);
    check("boot_time < 2026-11-21", [true, false, false]);
}

#[test]
fn relative_times_mean_ago() {
    // `last_seen < 7d`: last seen before 7 days ago, i.e. stale.
    check("last_seen < 7d", [false, true, false]);
    check("last_seen > 2h", [true, false, false]);
    check("last_seen < 2026-11-01", [false, true, false]);
    check("first_seen < 365d", [true, false, false]);
    check("not has last_seen", [false, false, true]);
    // A duration too large to subtract reaches back to the earliest time, not a panic.
    let expr = parse("last_seen > 9223372036854775807s").unwrap();
    let web = debian_web();
    assert!(matches(&expr, &web_view(&web), NOW));
    let error = parse_err("last_seen > 99999999999999999999w");
    assert!(error.message.contains("expected a date"), "{error}");
}

#[test]
fn glob_matching() {
    assert!(glob_match("web-*", "WEB-01"));
    assert!(glob_match("w?b-0?", "web-01"));
    assert!(glob_match("*", ""));
    assert!(glob_match("a*b*c", "aXXbYYc"));
    assert!(!glob_match("a*b*c", "aXXbYY"));
    assert!(
        !glob_match("web", "web-01"),
        "no wildcard means the whole value"
    );
    // Pathological patterns stay linear.
    let text = "a".repeat(10_000);
    assert!(!glob_match(&format!("{}b", "*a".repeat(50)), &text));
}

// ---- Planning ----

#[test]
fn index_hints_extract_what_every_match_needs() {
    let hints = |query: &str| index_hints(&parse(query).unwrap());
    assert_eq!(
        hints("package:OpenSSL version<3.0.7 and os.id=debian and not status=retired")
            .candidate_sets,
        vec![vec![Lookup::Package(PackageTerm {
            name: "openssl".into(),
            qualifiers: vec![Qualifier {
                key: QualifierKey::Version,
                op: Op::Lt,
                value: "3.0.7".into(),
            }],
        })]]
    );
    assert_eq!(
        hints(r#"hostname ~ "Web-*""#).candidate_sets,
        vec![vec![Lookup::HostnamePrefix("web-".into())]]
    );
    assert_eq!(
        hints("ip in 10.1.0.0/16").candidate_sets,
        vec![vec![Lookup::Network(
            IpNet::new(ip("10.1.0.0"), 16).unwrap()
        )]]
    );
    assert_eq!(
        hints("serial = CZ1 or mac = AA-BB-CC-DD-EE-FF").candidate_sets,
        vec![vec![
            Lookup::Serial("cz1".into()),
            Lookup::Mac("aa:bb:cc:dd:ee:ff".into())
        ]]
    );
    assert_eq!(
        hints("status in (active, Stock)").candidate_sets,
        vec![vec![
            Lookup::Status("active".into()),
            Lookup::Status("stock".into())
        ]]
    );
    // Several conjuncts: best() picks the cheapest.
    let both = hints("status = active and hostname = db-01");
    assert_eq!(both.candidate_sets.len(), 2);
    assert_eq!(both.best(), Some(&[Lookup::Hostname("db-01".into())][..]));
    // Nothing indexable, or an alternative without an index, or a negation: full scan.
    assert!(hints("memory >= 32GiB").is_empty());
    assert!(hints("hostname = a or memory >= 1GB").is_empty());
    assert!(hints("not hostname = a").is_empty());
    assert!(hints("hostname ~ *-01").is_empty());
    assert!(hints("package:lib*").is_empty());
    assert_eq!(
        hints("not not id = a-1").candidate_sets,
        vec![vec![Lookup::Id("a-1".into())]]
    );
}

#[test]
fn hinted_candidates_contain_every_match() {
    // On the fixtures: any asset that matches is reachable through the best set of lookups.
    let (web, db) = (debian_web(), rhel_db());
    let queries = [
        "package:openssl version<3.0.12",
        "hostname ~ web-* or serial = x",
        "ip in 10.0.0.0/8 and memory >= 1GiB",
        "mac = 52:54:00:12:34:56",
    ];
    for query in queries {
        let expr = parse(query).unwrap();
        let best = index_hints(&expr)
            .best()
            .map(<[Lookup]>::to_vec)
            .unwrap_or_default();
        for (view, inventory) in [(web_view(&web), &web), (db_view(&db), &db)] {
            if matches(&expr, &view, NOW) {
                let found = best.iter().any(|lookup| match lookup {
                    Lookup::Package(term) => inventory
                        .software
                        .packages
                        .iter()
                        .any(|p| package_matches(term, p)),
                    Lookup::HostnamePrefix(prefix) => inventory
                        .host
                        .hostname
                        .as_deref()
                        .is_some_and(|h| h.to_ascii_lowercase().starts_with(prefix.as_str())),
                    Lookup::Network(net) => inventory.network.interfaces.iter().any(|i| {
                        i.addresses
                            .iter()
                            .any(|a| a.address.parse().is_ok_and(|addr| net.contains(addr)))
                    }),
                    Lookup::Mac(mac) => inventory
                        .network
                        .interfaces
                        .iter()
                        .any(|i| i.mac.as_deref() == Some(mac)),
                    _ => false,
                });
                assert!(found, "{query}: a match is not among the candidates");
            }
        }
    }
}

// ---- Properties ----

fn leaf() -> impl Strategy<Value = Expr> {
    let op = prop_oneof![
        Just(Op::Eq),
        Just(Op::Ne),
        Just(Op::Lt),
        Just(Op::Le),
        Just(Op::Gt),
        Just(Op::Ge)
    ];
    let text_field = prop_oneof![
        Just("hostname"),
        Just("os.id"),
        Just("status"),
        Just("os.version")
    ];
    prop_oneof![
        (text_field.clone(), op.clone(), "\\PC{0,8}").prop_map(|(name, op, value)| cmp(
            name,
            op,
            Value::Text(value)
        )),
        (text_field.clone(), "\\PC{0,8}").prop_map(|(name, value)| cmp(
            name,
            Op::Glob,
            Value::Text(value)
        )),
        (op.clone(), any::<u64>()).prop_map(|(op, n)| cmp(
            "memory.total_bytes",
            op,
            Value::Number(n)
        )),
        (op.clone(), 0u64..10_000_000).prop_map(|(op, s)| cmp(
            "last_seen",
            op,
            Value::Time(TimeValue::Ago(s))
        )),
        (op, 0i64..4_000_000_000).prop_map(|(op, unix)| {
            let at =
                OffsetDateTime::from_unix_timestamp(unix).unwrap_or(OffsetDateTime::UNIX_EPOCH);
            cmp("first_seen", op, Value::Time(TimeValue::At(at)))
        }),
        any::<[u8; 4]>().prop_map(|octets| cmp("ip", Op::Eq, Value::Ip(IpAddr::from(octets)))),
        (any::<u128>(), 0u8..=128).prop_map(|(bits, prefix)| Expr::In {
            field: field("ip"),
            values: vec![Value::Net(
                IpNet::new(IpAddr::from(bits.to_be_bytes()), prefix).unwrap()
            )],
        }),
        prop::collection::vec("[a-z0-9]{0,6}", 1..4).prop_map(|values| Expr::In {
            field: field("os.id"),
            values: values.into_iter().map(Value::Text).collect(),
        }),
        "[0-9a-f:]{0,17}".prop_map(|mac| cmp("mac", Op::Eq, Value::Text(mac))),
        text_field.prop_map(|name| Expr::Has(field(name))),
        (
            "[a-z0-9.+*-]{1,10}",
            prop::collection::vec((0usize..3, 0usize..7, "\\PC{0,6}"), 0..3)
        )
            .prop_map(|(name, qualifiers)| {
                let ops = [Op::Eq, Op::Ne, Op::Glob, Op::Lt, Op::Le, Op::Gt, Op::Ge];
                let keys = [
                    QualifierKey::Version,
                    QualifierKey::Arch,
                    QualifierKey::Manager,
                ];
                let qualifiers = qualifiers
                    .into_iter()
                    .map(|(key, op, value)| {
                        let key = keys[key];
                        // arch and manager take only =, != and ~.
                        let op = if key == QualifierKey::Version {
                            ops[op]
                        } else {
                            ops[op % 3]
                        };
                        Qualifier { key, op, value }
                    })
                    .collect();
                Expr::Package(PackageTerm { name, qualifiers })
            }),
    ]
}

fn expr() -> impl Strategy<Value = Expr> {
    leaf().prop_recursive(4, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 2..4).prop_map(Expr::And),
            prop::collection::vec(inner.clone(), 2..4).prop_map(Expr::Or),
            inner.prop_map(|e| Expr::Not(Box::new(e))),
        ]
    })
}

proptest! {
    #[test]
    fn parse_never_panics(input in "\\PC{0,60}") {
        let _ = parse(&input);
    }

    #[test]
    fn parse_never_panics_on_query_like_text(
        input in "(not |\\(|\\)|and |or |hostname|ip|package:|version|in |has |=|<|>=|~|,|\"|\\\\| |[a-z0-9.*/:-]{1,5}){0,16}"
    ) {
        if let Err(error) = parse(&input) {
            prop_assert!(error.position <= input.len());
            let _ = error.render(&input);
        }
    }

    #[test]
    fn display_reparses_to_the_same_tree(tree in expr()) {
        let printed = tree.to_string();
        let reparsed = parse(&printed);
        prop_assert_eq!(reparsed.as_ref(), Ok(&tree), "printed as {}", printed);
    }
}
