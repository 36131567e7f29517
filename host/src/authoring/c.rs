//! C: bindings generated from the built-in WIT, a reactor module compiled
//! by clang against wasi-libc (WASI preview 1), and the component made here
//! with the preview 1 adapter, so that nothing but clang needs installing.

use std::path::{Path, PathBuf};
use std::process::Command;

use wasi_preview1_component_adapter_provider::{
    WASI_SNAPSHOT_PREVIEW1_ADAPTER_NAME, WASI_SNAPSHOT_PREVIEW1_REACTOR_ADAPTER,
};

use super::toolchain::{self, CLANG};
use super::{AuthoringError, io};

/// Where the generated bindings go in a C project.
pub(super) const BINDINGS_DIR: &str = "bindings";

/// The C helpers of `sdk/c`, copied next to the bindings.
const HELPER: (&str, &str) = ("skillbox.h", include_str!("../../../sdk/c/skillbox.h"));

/// The generated bindings reference a symbol of the object file that
/// usually carries the world's type; here the build embeds the type itself.
const TYPE_LINK: (&str, &str) = (
    "skill_component_type.c",
    "// The world's type is embedded by `skillbox skill build`.\n\
     void __component_type_object_force_link_skill(void) {}\n",
);

/// Build the C project in `dir` into the component `out`.
pub(super) fn build(dir: &Path, out: &Path) -> Result<(), AuthoringError> {
    let (clang, sysroot) = find_clang()?;
    let bindings = dir.join(BINDINGS_DIR);
    write_bindings(&bindings)?;

    let mut sources: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(io(dir))?
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "c"))
        .collect();
    sources.sort();
    sources.push(bindings.join("skill.c"));
    sources.push(bindings.join(TYPE_LINK.0));

    let scratch = super::scratch()?;
    let module = scratch.path().join("module.wasm");
    let mut command = Command::new(clang);
    command
        .arg("--target=wasm32-wasi")
        .arg(format!("--sysroot={}", sysroot.display()))
        .args([
            "-mexec-model=reactor",
            "-O2",
            "-Wall",
            "-Werror=implicit-function-declaration",
        ])
        .arg("-I")
        .arg(&bindings)
        .args(&sources)
        .arg("-o")
        .arg(&module);
    toolchain::run(command, "clang")?;

    let component = componentize(&std::fs::read(&module).map_err(io(&module))?)?;
    std::fs::write(out, component).map_err(io(out))?;
    Ok(())
}

/// Generate `skill.h` and `skill.c` for the skill world, and copy the
/// helpers beside them.
fn write_bindings(dir: &Path) -> Result<(), AuthoringError> {
    let (mut resolve, world) = super::wit::resolve()?;
    let mut files = wit_bindgen_core::Files::default();
    wit_bindgen_c::Opts {
        no_object_file: true,
        ..Default::default()
    }
    .build()
    .generate(&mut resolve, world, &mut files)
    .map_err(|e| AuthoringError::Wit(format!("{e:#}")))?;
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    let helpers = [HELPER, TYPE_LINK].map(|(name, text)| (name, text.as_bytes()));
    for (name, contents) in files.iter().chain(helpers) {
        let path = dir.join(name);
        std::fs::write(&path, contents).map_err(io(&path))?;
    }
    Ok(())
}

/// The component of a preview 1 reactor module: the world's type embedded,
/// WASI preview 1 adapted to 0.2.
fn componentize(module: &[u8]) -> Result<Vec<u8>, AuthoringError> {
    let (resolve, world) = super::wit::resolve()?;
    let mut module = module.to_vec();
    let encoded = wit_component::embed_component_metadata(
        &mut module,
        &resolve,
        world,
        wit_component::StringEncoding::UTF8,
    )
    .and_then(|()| {
        wit_component::ComponentEncoder::default()
            .module(&module)?
            .adapter(
                WASI_SNAPSHOT_PREVIEW1_ADAPTER_NAME,
                WASI_SNAPSHOT_PREVIEW1_REACTOR_ADAPTER,
            )?
            .validate(true)
            .encode()
    });
    encoded.map_err(|e| AuthoringError::Componentize(format!("{e:#}")))
}

/// clang and a WASI sysroot: a wasi-sdk under `WASI_SDK_PATH`, else the
/// system's clang with Debian's wasi-libc under `/usr`.
fn find_clang() -> Result<(PathBuf, PathBuf), AuthoringError> {
    if let Some(sdk) = std::env::var_os("WASI_SDK_PATH").map(PathBuf::from) {
        let clang = CLANG.find(&[sdk.join("bin")])?;
        return Ok((clang, sdk.join("share/wasi-sysroot")));
    }
    let clang = CLANG.find(&[])?;
    let sysroot = PathBuf::from("/usr");
    if !toolchain::is_wasi_sysroot(&sysroot) {
        return Err(AuthoringError::Missing {
            what: "wasi-libc under /usr",
            install: CLANG.install,
        });
    }
    Ok((clang, sysroot))
}
