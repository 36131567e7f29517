//! Reading secret values from where an agent's configuration points.

use std::path::{Path, PathBuf};

use super::agent::SecretSource;

/// Shortest secret accepted: anything shorter could not be told apart from
/// ordinary text when scanning outgoing requests for it.
const MIN_SECRET_LEN: usize = 8;

/// Why a secret's value could not be read.
#[derive(Debug, thiserror::Error)]
pub(crate) enum SecretError {
    #[error("the environment variable {0} is not set")]
    NotSet(String),
    #[error("cannot read {}: {error}", path.display())]
    Unreadable {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("{} has mode {mode:o}; a secrets file must have mode 0600 (chmod 600)", path.display())]
    NotPrivate { path: PathBuf, mode: u32 },
    #[error("{} is not a file", .0.display())]
    NotAFile(PathBuf),
    #[error(
        "the secret is shorter than {MIN_SECRET_LEN} characters, too short to keep from leaking"
    )]
    TooShort,
}

/// The value of a secret, from the environment or a private file
/// (relative to `config_dir`).
pub(crate) fn read_secret(source: &SecretSource, config_dir: &Path) -> Result<String, SecretError> {
    let value = match source {
        SecretSource::Env(var) => {
            std::env::var(var).map_err(|_| SecretError::NotSet(var.clone()))?
        }
        SecretSource::File(path) => {
            let path = config_dir.join(path);
            check_private(&path)?;
            std::fs::read_to_string(&path)
                .map_err(|error| SecretError::Unreadable { path, error })?
                .trim_end_matches(['\n', '\r'])
                .to_owned()
        }
    };
    if value.len() < MIN_SECRET_LEN {
        return Err(SecretError::TooShort);
    }
    Ok(value)
}

/// A secrets file must be readable by its owner only.
fn check_private(path: &Path) -> Result<(), SecretError> {
    let meta = std::fs::metadata(path).map_err(|error| SecretError::Unreadable {
        path: path.to_owned(),
        error,
    })?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            return Err(SecretError::NotPrivate {
                path: path.to_owned(),
                mode,
            });
        }
    }
    if !meta.is_file() {
        return Err(SecretError::NotAFile(path.to_owned()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_must_be_private_and_secrets_long_enough() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("token");
        std::fs::write(&file, "s3cret-value-123\n").unwrap();
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
        let source = SecretSource::File("token".into());
        let err = read_secret(&source, dir.path()).unwrap_err().to_string();
        assert!(err.contains("mode 644"), "{err}");
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert_eq!(
            read_secret(&source, dir.path()).unwrap(),
            "s3cret-value-123"
        );

        std::fs::write(&file, "short").unwrap();
        assert!(
            read_secret(&source, dir.path())
                .unwrap_err()
                .to_string()
                .contains("shorter")
        );
        let missing = SecretSource::Env("SKILLBOX_TEST_UNSET_VARIABLE".into());
        assert!(
            read_secret(&missing, dir.path())
                .unwrap_err()
                .to_string()
                .contains("not set")
        );
    }
}
