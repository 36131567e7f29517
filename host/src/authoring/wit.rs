//! The `skillbox:skill` WIT, built into the binary, so that every toolchain
//! builds against the contract this host implements.

use std::path::Path;

use super::AuthoringError;

/// Every file of `wit/`, by its path there.
const FILES: &[(&str, &str)] = &[
    ("skill.wit", include_str!("../../../wit/skill.wit")),
    (
        "deps/cli/cli.wit",
        include_str!("../../../wit/deps/cli/cli.wit"),
    ),
    (
        "deps/clocks/clocks.wit",
        include_str!("../../../wit/deps/clocks/clocks.wit"),
    ),
    (
        "deps/filesystem/filesystem.wit",
        include_str!("../../../wit/deps/filesystem/filesystem.wit"),
    ),
    (
        "deps/http/http.wit",
        include_str!("../../../wit/deps/http/http.wit"),
    ),
    (
        "deps/io/io.wit",
        include_str!("../../../wit/deps/io/io.wit"),
    ),
    (
        "deps/random/random.wit",
        include_str!("../../../wit/deps/random/random.wit"),
    ),
    (
        "deps/sockets/sockets.wit",
        include_str!("../../../wit/deps/sockets/sockets.wit"),
    ),
];

/// The world skills implement.
pub(super) const WORLD: &str = "skill";

/// Write the WIT into `dir` (which becomes a WIT package directory).
pub(super) fn write_to(dir: &Path) -> std::io::Result<()> {
    for (path, text) in FILES {
        let path = dir.join(path);
        std::fs::create_dir_all(path.parent().expect("a file in a directory"))?;
        std::fs::write(path, text)?;
    }
    Ok(())
}

/// The parsed WIT and its skill world.
pub(super) fn resolve() -> Result<(wit_parser::Resolve, wit_parser::WorldId), AuthoringError> {
    let dir = super::scratch()?;
    write_to(dir.path()).map_err(super::io(dir.path()))?;
    let mut resolve = wit_parser::Resolve::default();
    let parsed = resolve
        .push_dir(dir.path())
        .and_then(|(package, _)| resolve.select_world(&[package], Some(WORLD)));
    let world = parsed.map_err(|e| AuthoringError::Wit(format!("{e:#}")))?;
    Ok((resolve, world))
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_built_in_wit_has_every_file_of_wit_dir() {
        let on_disk = walk(std::path::Path::new(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../wit"
        )));
        let built_in: Vec<String> = super::FILES.iter().map(|(p, _)| p.to_string()).collect();
        let mut built_in_sorted = built_in.clone();
        built_in_sorted.sort();
        assert_eq!(on_disk, built_in_sorted);
        let (resolve, world) = super::resolve().unwrap();
        assert_eq!(resolve.worlds[world].name, "skill");
    }

    fn walk(root: &std::path::Path) -> Vec<String> {
        let mut found = Vec::new();
        let mut stack = vec![root.to_owned()];
        while let Some(dir) = stack.pop() {
            for entry in std::fs::read_dir(dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    stack.push(path);
                } else {
                    let relative = path.strip_prefix(root).unwrap();
                    found.push(relative.to_string_lossy().into_owned());
                }
            }
        }
        found.sort();
        found
    }
}
