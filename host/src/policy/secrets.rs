//! Reading secret values from where an agent's configuration points.

use std::path::Path;

use crate::config::agent::SecretSource;

/// Shortest secret accepted: anything shorter could not be told apart from
/// ordinary text when scanning outgoing requests for it.
const MIN_SECRET_LEN: usize = 8;

/// The value of a secret, from the environment or a private file
/// (relative to `config_dir`).
pub fn read(source: &SecretSource, config_dir: &Path) -> Result<String, String> {
    let value = match source {
        SecretSource::Env(var) => {
            std::env::var(var).map_err(|_| format!("the environment variable {var} is not set"))?
        }
        SecretSource::File(path) => {
            let path = config_dir.join(path);
            check_private(&path)?;
            std::fs::read_to_string(&path)
                .map_err(|e| format!("cannot read {}: {e}", path.display()))?
                .trim_end_matches(['\n', '\r'])
                .to_owned()
        }
    };
    if value.len() < MIN_SECRET_LEN {
        return Err(format!(
            "the secret is shorter than {MIN_SECRET_LEN} characters, too short to keep from leaking"
        ));
    }
    Ok(value)
}

/// A secrets file must be readable by its owner only.
fn check_private(path: &Path) -> Result<(), String> {
    let meta =
        std::fs::metadata(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            return Err(format!(
                "{} has mode {mode:o}; a secrets file must have mode 0600 (chmod 600)",
                path.display()
            ));
        }
    }
    if !meta.is_file() {
        return Err(format!("{} is not a file", path.display()));
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
        let err = read(&source, dir.path()).unwrap_err();
        assert!(err.contains("mode 644"), "{err}");
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert_eq!(read(&source, dir.path()).unwrap(), "s3cret-value-123");

        std::fs::write(&file, "short").unwrap();
        assert!(read(&source, dir.path()).unwrap_err().contains("shorter"));
        let missing = SecretSource::Env("SKILLBOX_TEST_UNSET_VARIABLE".into());
        assert!(read(&missing, dir.path()).unwrap_err().contains("not set"));
    }
}
