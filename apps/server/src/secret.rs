//! The JWT signing secret: from `JCSELECT_JWT_SECRET`, or generated once and
//! kept beside the SQLite database, readable by its owner only.

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::error::ServerError;

/// Fewest bytes a secret may have.
pub const MIN_SECRET_BYTES: usize = 32;
/// The environment variable that holds the secret.
pub const SECRET_VARIABLE: &str = "JCSELECT_JWT_SECRET";

/// The HS256 signing secret. Its `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct JwtSecret(Vec<u8>);

impl std::fmt::Debug for JwtSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "JwtSecret(<{} bytes hidden>)", self.0.len())
    }
}

impl JwtSecret {
    /// A secret from its bytes; shorter than [`MIN_SECRET_BYTES`] is
    /// refused.
    pub fn new(bytes: impl Into<Vec<u8>>, from: &str) -> Result<Self, ServerError> {
        let bytes = bytes.into();
        if bytes.len() < MIN_SECRET_BYTES {
            return Err(ServerError::Secret(format!(
                "{from} holds {} bytes; at least {MIN_SECRET_BYTES} are required",
                bytes.len()
            )));
        }
        Ok(JwtSecret(bytes))
    }

    /// The bytes, for signing and verifying.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

/// The file beside a SQLite database that keeps its generated secret.
pub fn secret_file_for(database: &Path) -> PathBuf {
    let mut name = database.file_name().unwrap_or_default().to_os_string();
    name.push(".jwt-secret");
    database.with_file_name(name)
}

/// The secret: the variable's value if set; else, for a SQLite database,
/// the one kept beside it (generated on first start); else an error, since
/// servers sharing a database must be given the same secret.
pub fn resolve(
    variable: Option<String>,
    sqlite_file: Option<&Path>,
) -> Result<JwtSecret, ServerError> {
    if let Some(value) = variable {
        return JwtSecret::new(value.into_bytes(), SECRET_VARIABLE);
    }
    let Some(database) = sqlite_file else {
        return Err(ServerError::Secret(format!(
            "{SECRET_VARIABLE} is not set; servers sharing a PostgreSQL or SQL Server database \
             must all be given the same secret (at least {MIN_SECRET_BYTES} bytes)"
        )));
    };
    let path = secret_file_for(database);
    match create_owner_only(&path) {
        Ok(mut file) => {
            let secret = generate();
            file.write_all(secret.as_bytes())
                .and_then(|()| file.sync_all())
                .map_err(|error| ServerError::io(format!("writing {}", path.display()), error))?;
            tracing::info!(path = %path.display(), "generated a JWT secret");
            JwtSecret::new(secret.into_bytes(), &path.display().to_string())
        }
        Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => {
            let text = std::fs::read_to_string(&path)
                .map_err(|error| ServerError::io(format!("reading {}", path.display()), error))?;
            JwtSecret::new(text.trim().as_bytes().to_vec(), &path.display().to_string())
        }
        Err(error) => Err(ServerError::io(
            format!("creating {}", path.display()),
            error,
        )),
    }
}

/// A fresh secret: 64 hex digits.
fn generate() -> String {
    let (a, b) = (uuid::Uuid::new_v4(), uuid::Uuid::new_v4());
    // two v4 UUIDs: 244 random bits from the OS generator
    format!("{}{}", a.simple(), b.simple())
}

fn create_owner_only(path: &Path) -> std::io::Result<std::fs::File> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options.open(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_short_secret_is_refused_with_the_rule() {
        let error = resolve(Some("short".into()), None).unwrap_err().to_string();
        assert!(
            error.contains("32") && error.contains(SECRET_VARIABLE),
            "{error}"
        );
    }

    #[test]
    fn a_shared_database_needs_the_variable() {
        assert!(resolve(None, None)
            .unwrap_err()
            .to_string()
            .contains(SECRET_VARIABLE));
    }

    #[test]
    fn a_generated_secret_is_kept_owner_only_and_reused() {
        let dir = std::env::temp_dir().join(format!("jcselect-secret-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let database = dir.join("server.db");
        let first = resolve(None, Some(&database)).unwrap();
        let second = resolve(None, Some(&database)).unwrap();
        assert_eq!(first, second);
        assert!(
            !format!("{first:?}").contains(&String::from_utf8_lossy(first.as_bytes()).to_string())
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(secret_file_for(&database))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        std::fs::remove_dir_all(dir).unwrap();
    }
}
