//! `census-collector init`: a new data directory, ready to serve.

use crate::auth::{self, Role};
use crate::datadir::DataDir;
use crate::pki::CertificateAuthority;
use crate::store::engine::Engine;
use anyhow::Context;

/// Names in the server certificate when none are given: what a local agent or browser uses.
pub const DEFAULT_SERVER_NAMES: [&str; 2] = ["127.0.0.1", "localhost"];

/// What `init` created, for the caller to show.
pub struct Initialised {
    pub admin_token: String,
}

/// Creates the data dir with a CA, a server certificate for `hostnames`, the database (kept by
/// `engine`) and an admin token. Refuses (non-zero) when a collector already lives there.
pub fn run(
    data_dir: &DataDir,
    hostnames: &[String],
    engine: Engine,
) -> anyhow::Result<Initialised> {
    data_dir.create()?;
    let names: Vec<String> = if hostnames.is_empty() {
        DEFAULT_SERVER_NAMES
            .iter()
            .map(|name| name.to_string())
            .collect()
    } else {
        hostnames.to_vec()
    };
    let ca = CertificateAuthority::generate("Census collector CA")
        .context("creating the collector CA")?;
    let (server_cert, server_key) = ca
        .issue_server_certificate(&names)
        .context("issuing the collector's server certificate")?;
    // The key first: a crash after it leaves a data dir that `init` refuses, never a CA without its key.
    data_dir.write_secret(&data_dir.ca_key(), ca.key_pem().as_bytes())?;
    data_dir.write_public(&data_dir.ca_cert(), ca.cert_pem().as_bytes())?;
    data_dir.write_secret(&data_dir.server_key(), server_key.as_bytes())?;
    data_dir.write_public(&data_dir.server_cert(), server_cert.as_bytes())?;

    let store = engine
        .open(data_dir.root())
        .with_context(|| format!("creating the {engine} database"))?;
    let store = store.as_ref();
    crate::store::schema::stamp(store, crate::store::schema::SCHEMA_VERSION)
        .context("recording the schema version")?;
    let admin_token = auth::create_token(store, "admin", Role::Admin, None)
        .context("creating the first admin token")?;
    store.flush().context("writing the database to disk")?;
    data_dir.write_secret(
        &data_dir.admin_token(),
        format!("{admin_token}\n").as_bytes(),
    )?;
    Ok(Initialised { admin_token })
}
