//! Shared set-up for the containment tests: runtimes over fresh data
//! directories (with a compile cache shared by all tests), configuration
//! directories written by the tests, and the skills under
//! `sandbox-tests/skills/` and `skills/`, built by `scripts/build-skills`.

pub mod api;
pub mod http;

use std::path::{Path, PathBuf};

use skillbox::Agent;
use skillbox::Runtime;
use skillbox::Session;
use skillbox::{AgentId, ConfigDir, HostConfig};
use skillbox::{CallError, CallErrorKind, CallReport};

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
    let dir = if hostile.exists() {
        hostile
    } else {
        repo_root().join("skills").join(name)
    };
    let manifest =
        skillbox::Manifest::load(&dir).unwrap_or_else(|e| panic!("manifest of {name}: {e}"));
    assert!(
        manifest.component.exists(),
        "{} is missing: run scripts/build-skills first",
        manifest.component.display()
    );
    dir
}

/// Compiled components, shared by all tests and runs (in the target
/// directory, beside the test binaries).
fn component_cache() -> PathBuf {
    let test_binary = std::env::current_exe().expect("test binary path");
    test_binary
        .ancestors()
        .nth(2)
        .expect("test binaries live in target/<profile>/deps")
        .join("component-cache")
}

/// A runtime for `host`, with the shared compile cache.
pub fn open_runtime(mut host: HostConfig) -> Runtime {
    host.sandbox.cache_dir = Some(component_cache());
    Runtime::open(&host).expect("open runtime")
}

/// A runtime over a fresh data directory and no configuration: skills run
/// in local agents, with their memory and nothing that leaves the host.
pub struct Host {
    pub runtime: Runtime,
    pub agent: AgentId,
    _data_dir: tempfile::TempDir,
}

impl Host {
    pub fn new() -> Host {
        let data_dir = tempfile::tempdir().expect("temp dir");
        Host {
            runtime: open_runtime(HostConfig::with_data_dir(data_dir.path())),
            agent: AgentId::new("tester").expect("valid id"),
            _data_dir: data_dir,
        }
    }

    /// A local agent holding the skill `name`.
    pub fn load(&self, name: &str) -> Agent {
        let skill = self
            .runtime
            .load_skill(&skill_dir(name))
            .unwrap_or_else(|e| panic!("load {name}: {e}"));
        self.runtime.local_agent(&self.agent, skill)
    }

    pub async fn call(&self, agent: &Agent, tool: &str, input: &str) -> CallReport {
        call(&self.runtime, agent, tool, input).await
    }

    /// The error of a call that must fail.
    pub async fn fail(&self, agent: &Agent, tool: &str, input: &str) -> CallError {
        fail(&self.runtime, agent, tool, input).await
    }

    /// Proof that the host still serves: a well-behaved call succeeds.
    pub async fn still_serves(&self) {
        still_serves(&self.runtime).await;
    }
}

impl Default for Host {
    fn default() -> Self {
        Self::new()
    }
}

/// The session of calls made by the helpers here.
pub fn session() -> Session {
    Session::new("test")
}

/// Call `tool` of the agent's only skill.
pub async fn call(runtime: &Runtime, agent: &Agent, tool: &str, input: &str) -> CallReport {
    let skill = only_skill(agent);
    runtime.call(agent, &session(), skill, tool, input).await
}

/// The error of a call that must fail.
pub async fn fail(runtime: &Runtime, agent: &Agent, tool: &str, input: &str) -> CallError {
    match call(runtime, agent, tool, input).await.result {
        Ok(output) => panic!(
            "{}.{tool} should fail, returned {output:.200}",
            only_skill(agent)
        ),
        Err(e) => e,
    }
}

fn only_skill(agent: &Agent) -> &str {
    let mut names = agent.skills.keys();
    let name = names.next().expect("the agent has a skill");
    assert!(
        names.next().is_none(),
        "name the skill: the agent has several"
    );
    name
}

/// Proof that the host still serves: a well-behaved call succeeds.
pub async fn still_serves(runtime: &Runtime) {
    let echo = runtime.load_skill(&skill_dir("echo")).expect("load echo");
    let agent = runtime.local_agent(&AgentId::new("bystander").unwrap(), echo);
    let report = runtime
        .call(
            &agent,
            &session(),
            "echo",
            "echo",
            r#"{"message":"still here"}"#,
        )
        .await;
    assert_eq!(
        report.result.expect("echo after a hostile call"),
        r#"{"message":"still here"}"#
    );
}

/// A configuration directory written by a test: `skillbox.toml` and one
/// file per agent, in a fresh directory removed when dropped.
pub struct Config {
    pub dir: tempfile::TempDir,
}

impl Config {
    /// A configuration with `skillbox.toml` holding `host_toml` (its data
    /// directory is inside the configuration directory).
    pub fn new(host_toml: &str) -> Config {
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::create_dir(dir.path().join("agents")).unwrap();
        std::fs::write(dir.path().join("skillbox.toml"), host_toml).unwrap();
        Config { dir }
    }

    /// Add `agents/<id>.toml`. `{skill:NAME}` in the text stands for the
    /// directory of skill NAME, `{dir}` for the configuration directory.
    pub fn agent(&self, id: &str, text: &str) -> &Config {
        let mut text = text.replace("{dir}", &self.dir.path().display().to_string());
        while let Some(start) = text.find("{skill:") {
            let end = start + text[start..].find('}').expect("closing brace");
            let name = &text[start + 7..end];
            text.replace_range(start..=end, &skill_dir(name).display().to_string());
        }
        std::fs::write(self.dir.path().join(format!("agents/{id}.toml")), text).unwrap();
        self
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn load(&self) -> ConfigDir {
        ConfigDir::load(self.dir.path()).unwrap_or_else(|e| panic!("config: {e}"))
    }

    /// The error that loading agent `id` must end in.
    pub fn load_error(&self, id: &str) -> String {
        let config = self.load();
        let runtime = open_runtime(config.host.clone());
        match runtime.load_agent(config.agent(id).expect("agent configured")) {
            Ok(_) => panic!("agent {id} should be refused"),
            Err(e) => e.to_string(),
        }
    }

    /// A runtime for this configuration and its loaded agent `id`.
    pub fn open(&self, id: &str) -> (Runtime, Agent) {
        let config = self.load();
        let runtime = open_runtime(config.host.clone());
        let agent = runtime
            .load_agent(config.agent(id).expect("agent configured"))
            .unwrap_or_else(|e| panic!("agent {id}: {e}"));
        (runtime, agent)
    }
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

/// Wait (10 s at most) for the next prompt `asked` (a subscription to
/// `queue`) sees, and answer it as a person would.
pub async fn answer_next(
    asked: &mut tokio::sync::broadcast::Receiver<skillbox::Prompt>,
    queue: &skillbox::PromptQueue,
    answer: skillbox::Answer,
) -> skillbox::Prompt {
    let prompt = tokio::time::timeout(std::time::Duration::from_secs(10), asked.recv())
        .await
        .expect("a prompt within 10 s")
        .expect("the queue is open");
    queue
        .answer(&prompt.id, answer, "a test".into())
        .await
        .expect("the prompt is pending");
    prompt
}
