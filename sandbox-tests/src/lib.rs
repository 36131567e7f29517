//! Shared set-up for the containment tests: a runtime in a fresh data
//! directory (with a compile cache shared by all tests), and the skills under
//! `sandbox-tests/skills/` and `skills/`, built by `scripts/build-skills`.

use std::path::{Path, PathBuf};

use skillbox::Runtime;
use skillbox::config::AgentId;
use skillbox::sandbox::{CallError, CallErrorKind, CallReport, SandboxConfig};
use skillbox::skill::Skill;

pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("sandbox-tests sits in the repository root")
        .to_owned()
}

/// A skill directory: a hostile one from `sandbox-tests/skills/`, else a
/// first-party one from `skills/`.
pub fn skill_dir(name: &str) -> PathBuf {
    let hostile = repo_root().join("sandbox-tests/skills").join(name);
    if hostile.exists() {
        hostile
    } else {
        repo_root().join("skills").join(name)
    }
}

/// A runtime over a fresh data directory, removed when dropped.
pub struct Host {
    pub runtime: Runtime,
    pub agent: AgentId,
    _data_dir: tempfile::TempDir,
}

impl Host {
    pub fn new() -> Host {
        let data_dir = tempfile::tempdir().expect("temp dir");
        Host {
            runtime: open_runtime(data_dir.path()),
            agent: AgentId::new("tester").expect("valid id"),
            _data_dir: data_dir,
        }
    }

    /// Load a skill by directory name; its component must have been built.
    pub fn load(&self, name: &str) -> Skill {
        let dir = skill_dir(name);
        let manifest = skillbox::config::Manifest::load(&dir)
            .unwrap_or_else(|e| panic!("manifest of {name}: {e}"));
        assert!(
            manifest.component.exists(),
            "{} is missing: run scripts/build-skills first",
            manifest.component.display()
        );
        self.runtime
            .load_skill(&dir)
            .unwrap_or_else(|e| panic!("load {name}: {e}"))
    }

    pub async fn call(&self, skill: &Skill, tool: &str, input: &str) -> CallReport {
        self.runtime.call(&self.agent, skill, tool, input).await
    }

    /// The error of a call that must fail.
    pub async fn fail(&self, skill: &Skill, tool: &str, input: &str) -> CallError {
        match self.call(skill, tool, input).await.result {
            Ok(output) => panic!(
                "{}.{tool} should fail, returned {output:.200}",
                skill.name()
            ),
            Err(e) => e,
        }
    }

    /// Proof that the host still serves: a well-behaved call succeeds.
    pub async fn still_serves(&self) {
        let echo = self.load("echo");
        let report = self
            .call(&echo, "echo", r#"{"message":"still here"}"#)
            .await;
        assert_eq!(
            report.result.expect("echo after a hostile call"),
            r#"{"message":"still here"}"#
        );
    }
}

impl Default for Host {
    fn default() -> Self {
        Self::new()
    }
}

/// A runtime over `data_dir`, sharing compiled components across tests (in
/// the target directory, beside the test binaries).
pub fn open_runtime(data_dir: &Path) -> Runtime {
    let test_binary = std::env::current_exe().expect("test binary path");
    let profile_dir = test_binary
        .ancestors()
        .nth(2)
        .expect("test binaries live in target/<profile>/deps");
    let config = SandboxConfig {
        cache_dir: Some(profile_dir.join("component-cache")),
        ..SandboxConfig::default()
    };
    Runtime::with_config(data_dir, config).expect("open runtime")
}

/// Assert the kind of a failed call, printing the whole error otherwise.
#[track_caller]
pub fn assert_kind(error: &CallError, expected: impl Fn(&CallErrorKind) -> bool) {
    assert!(
        expected(&error.kind),
        "unexpected error: {error} ({:?})",
        error.kind
    );
}
