//! Where `census` keeps its login and how the environment overrides it.
//!
//! The login is one TOML file, `login.toml`, in the config directory: `$CENSUS_CONFIG_DIR` when set
//! (tests, several identities), else `$XDG_CONFIG_HOME/census/`, else `~/.config/census/`. It holds the
//! collector URL, the collector CA (the PEM itself, copied at login so that moving or deleting the file
//! given to `--ca` does not break the client) and the API token. It is written atomically with mode
//! 0600 in a 0700 directory, because the token is a password.
//!
//! `CENSUS_COLLECTOR`, `CENSUS_CA` (a PEM file, or the PEM itself) and `CENSUS_TOKEN` override the
//! stored values one by one, so scripts can run without a login file at all.
//!
//! Layout: [`config_dir`] and [`resolve`] are pure (tested below); [`load`], [`save`] and [`remove`]
//! do the file I/O; [`Overrides::from_env`] reads the environment.

use serde::{Deserialize, Serialize};
use std::ffi::OsString;
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// The login file's name inside the config directory.
pub const LOGIN_FILE: &str = "login.toml";

const LOGIN_HINT: &str = "run `census login --collector URL --ca FILE`, or set CENSUS_COLLECTOR, CENSUS_CA and CENSUS_TOKEN";

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("not logged in (no {missing} is known): {LOGIN_HINT}")]
    NotLoggedIn { missing: &'static str },
    #[error(
        "cannot tell where to keep the login: HOME is not set; set CENSUS_CONFIG_DIR or XDG_CONFIG_HOME"
    )]
    NoConfigDir,
    #[error("reading {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} is not a census login file ({message}); run `census login` again")]
    Parse { path: PathBuf, message: String },
    #[error("writing {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "'{url}' is not a collector URL ({reason}); write it like https://collector.example:8443"
    )]
    BadUrl { url: String, reason: &'static str },
    #[error(
        "{origin} holds no PEM certificate; give the collector's CA certificate (ca.pem in its data directory)"
    )]
    BadCa { origin: String },
}

/// What `census login` stores.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Login {
    pub collector: String,
    pub ca_pem: String,
    pub token: String,
}

/// Values from the environment that take precedence over the stored login.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Overrides {
    pub collector: Option<String>,
    /// A path to a PEM file, or PEM text itself (it starts with `-----BEGIN`).
    pub ca: Option<String>,
    pub token: Option<String>,
}

impl Overrides {
    pub fn from_env() -> Self {
        let var = |name| {
            std::env::var(name)
                .ok()
                .filter(|value| !value.trim().is_empty())
        };
        Self {
            collector: var("CENSUS_COLLECTOR"),
            ca: var("CENSUS_CA"),
            token: var("CENSUS_TOKEN"),
        }
    }
}

/// Everything a request needs: where, whom to trust, who we are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// `https://host:port`, without a trailing slash.
    pub collector: String,
    pub ca_pem: String,
    pub token: String,
}

/// The config directory from the values of `CENSUS_CONFIG_DIR`, `XDG_CONFIG_HOME` and `HOME`.
pub fn config_dir(
    census_config_dir: Option<OsString>,
    xdg_config_home: Option<OsString>,
    home: Option<OsString>,
) -> Result<PathBuf, ConfigError> {
    let set = |value: Option<OsString>| value.filter(|v| !v.is_empty()).map(PathBuf::from);
    if let Some(dir) = set(census_config_dir) {
        return Ok(dir);
    }
    // The XDG spec says a relative XDG_CONFIG_HOME is invalid and must be ignored.
    if let Some(xdg) = set(xdg_config_home).filter(|path| path.is_absolute()) {
        return Ok(xdg.join("census"));
    }
    set(home)
        .map(|home| home.join(".config").join("census"))
        .ok_or(ConfigError::NoConfigDir)
}

/// The config directory of this process's environment.
pub fn config_dir_from_env() -> Result<PathBuf, ConfigError> {
    config_dir(
        std::env::var_os("CENSUS_CONFIG_DIR"),
        std::env::var_os("XDG_CONFIG_HOME"),
        std::env::var_os("HOME"),
    )
}

/// Checks and normalises a collector URL: HTTPS only (the token must never travel in clear), no path.
pub fn collector_url(text: &str) -> Result<String, ConfigError> {
    let bad = |reason| ConfigError::BadUrl {
        url: text.to_string(),
        reason,
    };
    let url = reqwest::Url::parse(text.trim()).map_err(|_| bad("it does not parse"))?;
    if url.scheme() != "https" {
        return Err(bad("the scheme must be https"));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(bad("it names no host"));
    }
    if url.path() != "/" || url.query().is_some() {
        return Err(bad("give only scheme, host and port"));
    }
    Ok(url.as_str().trim_end_matches('/').to_string())
}

/// Accepts `text` as a CA bundle when it holds at least one PEM certificate.
pub fn check_ca_pem(text: &str, origin: &str) -> Result<(), ConfigError> {
    if text.contains("-----BEGIN CERTIFICATE-----") {
        Ok(())
    } else {
        Err(ConfigError::BadCa {
            origin: origin.to_string(),
        })
    }
}

/// The session from the stored login and the environment; the environment wins field by field.
/// `read_file` reads `CENSUS_CA` when it is a path.
pub fn resolve(
    stored: Option<Login>,
    overrides: &Overrides,
    read_file: impl Fn(&Path) -> std::io::Result<String>,
) -> Result<Session, ConfigError> {
    let (stored_collector, stored_ca, stored_token) = match stored {
        Some(login) => (Some(login.collector), Some(login.ca_pem), Some(login.token)),
        None => (None, None, None),
    };
    let collector =
        overrides
            .collector
            .clone()
            .or(stored_collector)
            .ok_or(ConfigError::NotLoggedIn {
                missing: "collector URL",
            })?;
    let ca_pem = match &overrides.ca {
        Some(pem) if pem.trim_start().starts_with("-----BEGIN") => {
            check_ca_pem(pem, "CENSUS_CA")?;
            pem.clone()
        }
        Some(path) => {
            let path = Path::new(path);
            let pem = read_file(path).map_err(|source| ConfigError::Read {
                path: path.to_path_buf(),
                source,
            })?;
            check_ca_pem(&pem, &format!("{} (CENSUS_CA)", path.display()))?;
            pem
        }
        None => stored_ca.ok_or(ConfigError::NotLoggedIn {
            missing: "collector CA",
        })?,
    };
    let token = overrides
        .token
        .clone()
        .or(stored_token)
        .map(|token| token.trim().to_string())
        .ok_or(ConfigError::NotLoggedIn { missing: "token" })?;
    Ok(Session {
        collector: collector_url(&collector)?,
        ca_pem,
        token,
    })
}

/// The stored login in `dir`, `None` when there is none.
pub fn load(dir: &Path) -> Result<Option<Login>, ConfigError> {
    let path = dir.join(LOGIN_FILE);
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => return Err(ConfigError::Read { path, source }),
    };
    toml::from_str(&text)
        .map(Some)
        .map_err(|error| ConfigError::Parse {
            path,
            message: error.message().to_string(),
        })
}

/// Writes `login` into `dir` (created 0700) as a 0600 file, atomically; returns the file's path.
pub fn save(dir: &Path, login: &Login) -> Result<PathBuf, ConfigError> {
    let path = dir.join(LOGIN_FILE);
    let write_error = |path: &Path| {
        let path = path.to_path_buf();
        move |source| ConfigError::Write { path, source }
    };
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(write_error(dir))?;
    let text = toml::to_string(login).map_err(|error| ConfigError::Write {
        path: path.clone(),
        source: std::io::Error::other(error),
    })?;
    let temporary = dir.join(format!(".{LOGIN_FILE}.{}", std::process::id()));
    let result = (|| {
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&temporary)?;
        // The mode above applies only when the file is created; a leftover must be tightened too.
        file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
        file.write_all(text.as_bytes())?;
        file.sync_all()?;
        std::fs::rename(&temporary, &path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&temporary);
    }
    result.map_err(write_error(&path))?;
    Ok(path)
}

/// Deletes the stored login; returns whether there was one.
pub fn remove(dir: &Path) -> Result<bool, ConfigError> {
    let path = dir.join(LOGIN_FILE);
    match std::fs::remove_file(&path) {
        Ok(()) => Ok(true),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(source) => Err(ConfigError::Write { path, source }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PEM: &str = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";

    fn login() -> Login {
        Login {
            collector: "https://stored.example:8443".into(),
            ca_pem: PEM.into(),
            token: "census_stored".into(),
        }
    }

    fn no_files(path: &Path) -> std::io::Result<String> {
        Err(std::io::Error::new(
            std::io::ErrorKind::NotFound,
            path.display().to_string(),
        ))
    }

    #[test]
    fn the_config_dir_follows_census_config_dir_then_xdg_then_home() {
        let os = |s: &str| Some(OsString::from(s));
        assert_eq!(
            config_dir(os("/t/c"), os("/x"), os("/h")).unwrap(),
            PathBuf::from("/t/c")
        );
        assert_eq!(
            config_dir(None, os("/x"), os("/h")).unwrap(),
            PathBuf::from("/x/census")
        );
        assert_eq!(
            config_dir(os(""), os("relative"), os("/h")).unwrap(),
            PathBuf::from("/h/.config/census")
        );
        assert!(matches!(
            config_dir(None, None, None),
            Err(ConfigError::NoConfigDir)
        ));
    }

    #[test]
    fn the_environment_overrides_the_stored_login_field_by_field() {
        let overrides = Overrides {
            token: Some("census_env\n".into()),
            ..Overrides::default()
        };
        let session = resolve(Some(login()), &overrides, no_files).unwrap();
        assert_eq!(session.collector, "https://stored.example:8443");
        assert_eq!(session.token, "census_env");
        assert_eq!(session.ca_pem, PEM);

        let overrides = Overrides {
            collector: Some("https://env.example/".into()),
            ca: Some("/etc/census/ca.pem".into()),
            token: Some("census_env".into()),
        };
        let read = |path: &Path| {
            assert_eq!(path, Path::new("/etc/census/ca.pem"));
            Ok(PEM.to_string())
        };
        let session = resolve(None, &overrides, read).unwrap();
        assert_eq!(session.collector, "https://env.example");

        let inline = Overrides {
            ca: Some(PEM.into()),
            ..Overrides::default()
        };
        assert_eq!(
            resolve(Some(login()), &inline, no_files).unwrap().ca_pem,
            PEM
        );
    }

    #[test]
    fn a_missing_piece_says_not_logged_in_and_how_to_log_in() {
        let error = resolve(None, &Overrides::default(), no_files).unwrap_err();
        assert!(matches!(error, ConfigError::NotLoggedIn { .. }), "{error}");
        assert!(
            error
                .to_string()
                .contains("run `census login --collector URL --ca FILE`"),
            "{error}"
        );
        let only_url = Overrides {
            collector: Some("https://c.example".into()),
            ca: Some(PEM.into()),
            ..Overrides::default()
        };
        let error = resolve(None, &only_url, no_files).unwrap_err();
        assert!(error.to_string().contains("no token"), "{error}");

        let missing_ca = Overrides {
            ca: Some("/nowhere/ca.pem".into()),
            ..Overrides::default()
        };
        let error = resolve(Some(login()), &missing_ca, no_files).unwrap_err();
        assert!(
            matches!(&error, ConfigError::Read { path, .. } if path == Path::new("/nowhere/ca.pem")),
            "{error}"
        );
        let not_pem = |_: &Path| Ok("hello".to_string());
        let error = resolve(Some(login()), &missing_ca, not_pem).unwrap_err();
        assert!(matches!(error, ConfigError::BadCa { .. }), "{error}");
    }

    #[test]
    fn collector_urls_must_be_https_without_a_path() {
        assert_eq!(
            collector_url("https://c.example:8443/").unwrap(),
            "https://c.example:8443"
        );
        for (bad, reason) in [
            ("http://c.example", "https"),
            ("c.example:8443", "scheme"),
            ("https://c.example/api", "only scheme"),
            ("not a url", "parse"),
        ] {
            let error = collector_url(bad).unwrap_err().to_string();
            assert!(error.contains(reason), "{bad}: {error}");
            assert!(error.contains("https://collector.example:8443"), "{error}");
        }
    }

    #[test]
    fn a_saved_login_is_private_and_reads_back_and_remove_deletes_it() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("census");
        assert_eq!(load(&dir).unwrap(), None);
        let path = save(&dir, &login()).unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&path), 0o600);
        assert_eq!(mode(&dir), 0o700);
        assert_eq!(load(&dir).unwrap(), Some(login()));
        assert!(remove(&dir).unwrap());
        assert!(!remove(&dir).unwrap());

        std::fs::write(dir.join(LOGIN_FILE), "collector = 3").unwrap();
        let error = load(&dir).unwrap_err();
        assert!(
            matches!(&error, ConfigError::Parse { .. })
                && error.to_string().contains("run `census login` again"),
            "{error}"
        );
    }
}
