//! A skill package: `<name>-<version>.skill`, a gzipped tar of exactly the
//! skill's `skill.toml`, its component and a `README.md`, each a regular
//! file at the top level. Anything else (a directory, a link, a path with
//! `/`, `..` or a leading `/`, a duplicate, a file over its cap, more bytes
//! than the caps allow in all) makes the whole package refused before any
//! of it is written anywhere.

use std::io::Read;
use std::path::Path;

use sha2::{Digest, Sha256};

/// Caps, documented in docs/marketplace.md.
pub const MAX_COMPONENT: u64 = 32 << 20;
pub const MAX_MANIFEST: u64 = 64 << 10;
pub const MAX_README: u64 = 1 << 20;
/// A package as downloaded.
pub const MAX_PACKAGE: u64 = 40 << 20;
/// Everything a package unpacks to, tar headers included.
const MAX_UNPACKED: u64 = MAX_COMPONENT + MAX_MANIFEST + MAX_README + (64 << 10);

pub const MANIFEST_FILE: &str = "skill.toml";
pub const README_FILE: &str = "README.md";

/// The files of a package, in memory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Package {
    /// `skill.toml`, byte for byte as signed.
    pub manifest: Vec<u8>,
    /// The component's file name, as the manifest names it.
    pub component_name: String,
    pub component: Vec<u8>,
    pub readme: Vec<u8>,
}

#[derive(Debug, thiserror::Error)]
pub enum PackageError {
    #[error("not a skill package: {0}")]
    Malformed(String),
    #[error("refused: {0}")]
    Unsafe(String),
    #[error("refused: {what} is over its cap of {cap} bytes")]
    TooLarge { what: String, cap: u64 },
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

/// Hex SHA-256.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// The component file a manifest names, if it is a plain file name.
fn component_name(manifest: &[u8]) -> Result<String, PackageError> {
    let text = std::str::from_utf8(manifest)
        .map_err(|_| PackageError::Malformed("skill.toml is not UTF-8".into()))?;
    let value: toml::Table =
        toml::from_str(text).map_err(|e| PackageError::Malformed(format!("skill.toml: {e}")))?;
    let name = value
        .get("skill")
        .and_then(|s| s.get("component"))
        .and_then(|c| c.as_str())
        .ok_or_else(|| PackageError::Malformed("skill.toml names no skill.component".into()))?;
    if name.is_empty()
        || name.contains(['/', '\\'])
        || name == "."
        || name == ".."
        || name == MANIFEST_FILE
        || name == README_FILE
    {
        return Err(PackageError::Unsafe(format!(
            "skill.component '{name}' must be a plain file name beside skill.toml"
        )));
    }
    Ok(name.to_owned())
}

impl Package {
    /// Read the skill in `dir`: its manifest, the component it names and its
    /// README (an empty one if there is none).
    pub fn from_dir(dir: &Path) -> Result<Package, PackageError> {
        let read = |name: &str, cap: u64| -> Result<Vec<u8>, PackageError> {
            let path = dir.join(name);
            let size = std::fs::metadata(&path)
                .map_err(|e| PackageError::Malformed(format!("{}: {e}", path.display())))?
                .len();
            if size > cap {
                return Err(PackageError::TooLarge {
                    what: path.display().to_string(),
                    cap,
                });
            }
            Ok(std::fs::read(&path)?)
        };
        let manifest = read(MANIFEST_FILE, MAX_MANIFEST)?;
        let component_name = component_name(&manifest)?;
        let component = read(&component_name, MAX_COMPONENT)?;
        let readme = match read(README_FILE, MAX_README) {
            Ok(readme) => readme,
            Err(PackageError::Malformed(_)) => Vec::new(),
            Err(e) => return Err(e),
        };
        Ok(Package {
            manifest,
            component_name,
            component,
            readme,
        })
    }

    /// The package file: a gzipped tar of the three files.
    pub fn pack(&self) -> Result<Vec<u8>, PackageError> {
        let gzip = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        let mut tar = tar::Builder::new(gzip);
        for (name, bytes) in [
            (MANIFEST_FILE, &self.manifest),
            (self.component_name.as_str(), &self.component),
            (README_FILE, &self.readme),
        ] {
            let mut header = tar::Header::new_ustar();
            header.set_entry_type(tar::EntryType::Regular);
            header.set_size(bytes.len() as u64);
            header.set_mode(0o644);
            header.set_mtime(0);
            tar.append_data(&mut header, name, bytes.as_slice())?;
        }
        Ok(tar.into_inner()?.finish()?)
    }

    /// Read a package file, refusing anything but the three files.
    pub fn unpack(bytes: &[u8]) -> Result<Package, PackageError> {
        if bytes.len() as u64 > MAX_PACKAGE {
            return Err(PackageError::TooLarge {
                what: "the package".into(),
                cap: MAX_PACKAGE,
            });
        }
        // One byte past the cap tells a bomb from a package at the cap.
        let unpacked = flate2::read::GzDecoder::new(bytes).take(MAX_UNPACKED + 1);
        let mut tar = tar::Archive::new(unpacked);
        let mut files: Vec<(String, Vec<u8>)> = Vec::new();
        for entry in tar
            .entries()
            .map_err(|e| PackageError::Malformed(e.to_string()))?
        {
            let entry = entry.map_err(|e| PackageError::Malformed(e.to_string()))?;
            let kind = entry.header().entry_type();
            let path = entry.path_bytes().into_owned();
            let name = String::from_utf8(path)
                .map_err(|_| PackageError::Unsafe("a file name that is not UTF-8".into()))?;
            if !kind.is_file() {
                return Err(PackageError::Unsafe(format!(
                    "'{name}' is not a regular file (a link or directory)"
                )));
            }
            if name.is_empty() || name.contains(['/', '\\']) || name == "." || name == ".." {
                return Err(PackageError::Unsafe(format!(
                    "'{name}' is a path; a package holds top-level files only"
                )));
            }
            if files.iter().any(|(n, _)| *n == name) {
                return Err(PackageError::Unsafe(format!("'{name}' appears twice")));
            }
            let cap = match name.as_str() {
                MANIFEST_FILE => MAX_MANIFEST,
                README_FILE => MAX_README,
                _ => MAX_COMPONENT,
            };
            if entry.header().size().unwrap_or(u64::MAX) > cap {
                return Err(PackageError::TooLarge { what: name, cap });
            }
            let mut content = Vec::new();
            entry
                .take(cap + 1)
                .read_to_end(&mut content)
                .map_err(|e| PackageError::Malformed(format!("'{name}': {e}")))?;
            if content.len() as u64 > cap {
                return Err(PackageError::TooLarge { what: name, cap });
            }
            files.push((name, content));
        }
        let mut take = |name: &str| {
            files
                .iter()
                .position(|(n, _)| n == name)
                .map(|i| files.remove(i).1)
        };
        let manifest =
            take(MANIFEST_FILE).ok_or_else(|| PackageError::Malformed("no skill.toml".into()))?;
        let component_name = component_name(&manifest)?;
        let component = take(&component_name)
            .ok_or_else(|| PackageError::Malformed(format!("no component '{component_name}'")))?;
        let readme =
            take(README_FILE).ok_or_else(|| PackageError::Malformed("no README.md".into()))?;
        if let Some((extra, _)) = files.first() {
            return Err(PackageError::Unsafe(format!(
                "'{extra}' is not skill.toml, the component or README.md"
            )));
        }
        Ok(Package {
            manifest,
            component_name,
            component,
            readme,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn package() -> Package {
        Package {
            manifest: b"[skill]\nname = \"x\"\ncomponent = \"x.wasm\"\n".to_vec(),
            component_name: "x.wasm".into(),
            component: vec![7; 1000],
            readme: b"# x\n".to_vec(),
        }
    }

    /// A tar.gz of `entries`: (name, kind, content).
    fn tarball(entries: &[(&str, tar::EntryType, &[u8])]) -> Vec<u8> {
        let gzip = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        let mut tar = tar::Builder::new(gzip);
        for (name, kind, content) in entries {
            let mut header = tar::Header::new_gnu();
            header.set_entry_type(*kind);
            header.set_size(content.len() as u64);
            header.set_mode(0o644);
            if kind.is_symlink() {
                header.set_link_name("/etc/passwd").unwrap();
            }
            // Raw names: `append_data` would refuse `..` itself.
            header.as_old_mut().name[..name.len()].copy_from_slice(name.as_bytes());
            header.set_cksum();
            tar.append(&header, *content).unwrap();
        }
        tar.into_inner().unwrap().finish().unwrap()
    }

    #[test]
    fn packs_and_unpacks_the_three_files() {
        let package = package();
        assert_eq!(Package::unpack(&package.pack().unwrap()).unwrap(), package);
    }

    #[test]
    fn refuses_paths_links_extras_and_duplicates() {
        let p = package();
        let file = tar::EntryType::Regular;
        let cases: Vec<(&str, Vec<u8>)> = vec![
            (
                "a path with ..",
                tarball(&[
                    ("skill.toml", file, &p.manifest),
                    ("../x.wasm", file, &p.component),
                ]),
            ),
            (
                "an absolute path",
                tarball(&[
                    ("skill.toml", file, &p.manifest),
                    ("/tmp/x.wasm", file, &p.component),
                ]),
            ),
            (
                "a nested path",
                tarball(&[
                    ("skill.toml", file, &p.manifest),
                    ("lib/x.wasm", file, &p.component),
                ]),
            ),
            (
                "a symlink",
                tarball(&[
                    ("skill.toml", file, &p.manifest),
                    ("x.wasm", tar::EntryType::Symlink, b""),
                ]),
            ),
            (
                "a directory",
                tarball(&[
                    ("skill.toml", file, &p.manifest),
                    ("d", tar::EntryType::Directory, b""),
                ]),
            ),
            (
                "an extra file",
                tarball(&[
                    ("skill.toml", file, &p.manifest),
                    ("x.wasm", file, &p.component),
                    ("README.md", file, &p.readme),
                    ("install.sh", file, b"curl | bash"),
                ]),
            ),
            (
                "a duplicate",
                tarball(&[
                    ("skill.toml", file, &p.manifest),
                    ("skill.toml", file, &p.manifest),
                ]),
            ),
        ];
        for (case, bytes) in cases {
            match Package::unpack(&bytes) {
                Err(PackageError::Unsafe(_)) => {}
                other => panic!("{case}: {other:?}"),
            }
        }
        let escaping = Package {
            manifest: b"[skill]\nname = \"x\"\ncomponent = \"../x.wasm\"\n".to_vec(),
            ..package()
        };
        assert!(matches!(
            Package::unpack(&escaping.pack().unwrap_or_default()),
            Err(PackageError::Unsafe(_) | PackageError::Malformed(_))
        ));
    }

    #[test]
    fn refuses_bombs_and_oversized_components() {
        // 200 MiB of zeros compress to a few hundred KiB.
        let bomb = Package {
            component: vec![0; 200 << 20],
            ..package()
        };
        let bytes = bomb.pack().unwrap();
        assert!((bytes.len() as u64) < MAX_PACKAGE);
        assert!(matches!(
            Package::unpack(&bytes),
            Err(PackageError::TooLarge { .. })
        ));
        let huge_readme = Package {
            readme: vec![b'a'; (MAX_README + 1) as usize],
            ..package()
        };
        assert!(matches!(
            Package::unpack(&huge_readme.pack().unwrap()),
            Err(PackageError::TooLarge { .. })
        ));
        assert!(matches!(
            Package::unpack(b"not gzip at all"),
            Err(PackageError::Malformed(_))
        ));
    }
}
