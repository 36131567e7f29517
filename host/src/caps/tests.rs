//! Each capability's load-time decision, from a manifest and an agent file
//! as people write them, without a component: what is granted, what is
//! refused (naming the field and line), and the words for both.

use std::path::Path;

use super::fs::Fs;
use super::http::Http;
use super::inference::Inference;
use super::memory::Memory;
use super::secrets::Secrets;
use super::{AgentSecrets, GrantContext, HostCapability, SkillGrants, asked, on_install};
use crate::config::{AgentConfig, ConfigError, HostConfig, Manifest};
use crate::egress::Egress;

/// A configuration directory holding the skill `probe`, whose manifest asks
/// for `asks` (the lines of its `[capabilities]`), and the agent `ops`,
/// whose file has `agent` at its top and grants `probe` what `grants` says
/// (the lines of `[skills.probe.grants]`).
struct Case {
    dir: tempfile::TempDir,
    host: HostConfig,
    agent: AgentConfig,
    manifest: Manifest,
    egress: Egress,
    /// No skill of the agent binds a secret.
    no_secrets: AgentSecrets,
}

impl Case {
    fn new(asks: &str, agent: &str, grants: &str) -> Result<Case, ConfigError> {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join("probe")).unwrap();
        std::fs::create_dir_all(root.join("agents")).unwrap();
        std::fs::create_dir_all(root.join("work")).unwrap();
        write(
            &root.join("probe/skill.toml"),
            &format!(
                "[skill]\nname = \"probe\"\nversion = \"0.1.0\"\ndescription = \"Probe\"\n\
                 component = \"probe.wasm\"\n\n[[tool]]\nname = \"run\"\ndescription = \"Run\"\n\
                 input_schema = {{ type = \"object\" }}\n\n[capabilities]\n{asks}\n"
            ),
        );
        write(
            &root.join("skillbox.toml"),
            "[inference.backends.local]\nkind = \"openai\"\nurl = \"http://127.0.0.1:9/v1\"\n",
        );
        write(
            &root.join("agents/ops.toml"),
            &format!(
                "id = \"ops\"\n{agent}\n[tools]\nallow = [\"probe.*\"]\n\n[skills.probe]\n\
                 path = \"probe\"\n\n[skills.probe.grants]\n{grants}\n"
            ),
        );
        let host = HostConfig::load(root)?;
        let agent = AgentConfig::load(&root.join("agents/ops.toml"), &host)?;
        let manifest = Manifest::load(&root.join("probe"))?;
        Ok(Case {
            dir,
            host,
            agent,
            manifest,
            egress: Egress::new(Default::default()),
            no_secrets: AgentSecrets::default(),
        })
    }

    fn decide<C: HostCapability>(&self) -> Result<Option<C::Grant>, ConfigError> {
        C::grant(&self.cx(false))
    }

    fn cx(&self, local: bool) -> GrantContext<'_> {
        GrantContext {
            agent: &self.agent,
            host: &self.host,
            skill: "probe",
            entry: &self.agent.skills["probe"],
            manifest: &self.manifest,
            local,
            egress: &self.egress,
            secrets: &self.no_secrets,
        }
    }

    /// What the manifest asks for and the agent does not grant, in words.
    fn not_granted(&self) -> Vec<String> {
        let manifests = [("probe".to_owned(), self.manifest.clone())].into();
        let (grants, _) =
            SkillGrants::decide_all(&self.agent, &self.host, &manifests, &self.egress, false)
                .unwrap();
        grants["probe"].not_granted(&self.manifest.capabilities)
    }
}

fn write(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap();
}

fn case(asks: &str, grants: &str) -> Case {
    Case::new(asks, "", grants).unwrap_or_else(|e| panic!("{e}"))
}

/// The error a decision must end in: its field and line, and words of its
/// message.
#[track_caller]
fn refused<T: std::fmt::Debug>(decided: Result<T, ConfigError>, field: &str, says: &str) -> usize {
    let error = decided.expect_err("the grant must be refused");
    assert_eq!(error.field, field, "{error}");
    assert!(error.message.contains(says), "{error}");
    assert!(error.file.ends_with("agents/ops.toml"), "{error}");
    error.line.expect("the error has a line")
}

#[test]
fn memory_is_granted_only_when_asked_for_and_granted() {
    let both = case("memory = true", "memory = true");
    let grant = both.decide::<Memory>().unwrap().expect("granted");
    assert_eq!(&*grant.owner, "ops");
    assert_eq!(
        Memory::granted(&grant),
        ["memory (its own namespace in this agent)"]
    );
    let local = Memory::grant(&both.cx(true)).unwrap().unwrap();
    assert_eq!(
        &*local.owner, "local:ops",
        "a local agent's memory is its own"
    );

    let asked_only = case("memory = true", "");
    assert!(asked_only.decide::<Memory>().unwrap().is_none());
    assert_eq!(asked_only.not_granted(), ["memory"]);

    let line = refused(
        case("", "memory = true").decide::<Memory>(),
        "skills.probe.grants.memory",
        "grants memory, which skill 'probe' does not ask for",
    );
    assert_eq!(line, 6, "the line of [skills.probe]");
}

#[test]
fn inference_needs_a_model_and_keeps_its_token_cap() {
    let agent = "[inference]\nmodel = \"local/llama\"\n";
    let capped = Case::new(
        "inference = true",
        agent,
        "inference = { max_tokens = 300 }",
    )
    .unwrap();
    let grant = capped.decide::<Inference>().unwrap().expect("granted");
    assert_eq!(grant.max_tokens, 300);
    assert_eq!(
        Inference::granted(&grant),
        ["inference (up to 300 tokens a call)"]
    );

    refused(
        case("inference = true", "inference = true").decide::<Inference>(),
        "skills.probe.grants.inference",
        "but agent 'ops' has no [inference] model",
    );
    refused(
        Case::new("", agent, "inference = true")
            .unwrap()
            .decide::<Inference>(),
        "skills.probe.grants.inference",
        "which skill 'probe' does not ask for",
    );
    assert_eq!(case("inference = true", "").not_granted(), ["inference"]);
}

#[test]
fn network_grants_must_be_covered_by_what_the_manifest_asks_for() {
    let asks = "network = [\"https://*.example.org\", \"https://api.test\"]";
    let narrower = case(asks, "network = [\"https://docs.example.org\"]");
    let grant = narrower.decide::<Http>().unwrap().expect("granted");
    assert_eq!(
        grant.allow()[0].pattern.to_string(),
        "https://docs.example.org"
    );
    // A request with any grant under it counts as granted; the other not.
    assert_eq!(narrower.not_granted(), ["network https://api.test"]);

    let line = refused(
        case(asks, "network = [\"https://example.org\"]").decide::<Http>(),
        "skills.probe.grants.network[0]",
        "grants https://example.org, which skill 'probe' does not ask for \
         (it asks for: https://*.example.org, https://api.test)",
    );
    assert_eq!(line, 10, "the line of the grant");

    let private = case(
        "network = [\"http://ollama.lan:11434\"]",
        "network = [{ url = \"http://ollama.lan:11434\", allow_private = true }]",
    );
    let grant = private.decide::<Http>().unwrap().unwrap();
    assert_eq!(
        Http::granted(&grant),
        ["network http://ollama.lan:11434, private addresses allowed"]
    );
}

#[test]
fn an_ungranted_host_is_reachable_only_when_a_person_may_be_asked() {
    let asks = "network = [\"https://api.test\"]";
    assert!(
        case(asks, "").decide::<Http>().unwrap().is_none(),
        "mode deny"
    );
    let ask = Case::new(asks, "[consent]\nmode = \"ask\"\n", "").unwrap();
    let grant = ask.decide::<Http>().unwrap().expect("may ask");
    assert!(grant.allow().is_empty());
    assert!(
        Http::grant(&ask.cx(true)).unwrap().is_none(),
        "a local agent never"
    );
}

#[test]
fn directories_are_lent_from_mounts_never_beyond_what_either_side_allows() {
    let asks = "filesystem = [{ guest = \"/workspace\", access = \"read-write\" }]";
    let mounts = "[mounts]\nwork = { path = \"work\", access = \"read-only\" }\n";
    let grant =
        |g: &str| format!("filesystem = [{{ mount = \"work\", guest = \"/workspace\", {g} }}]");
    let lent = Case::new(asks, mounts, &grant("access = \"read-only\"")).unwrap();
    let decided = lent.decide::<Fs>().unwrap().expect("granted");
    assert_eq!(decided.mounts[0].guest, "/workspace");
    assert_eq!(
        lent.not_granted(),
        ["filesystem read-write /workspace (granted read-only)"]
    );

    let offered = Case::new(asks, mounts, &grant("access = \"read-only\", ask = true")).unwrap();
    let decided = offered.decide::<Fs>().unwrap().unwrap();
    assert!(decided.mounts.is_empty());
    assert!(Fs::granted(&decided)[0].ends_with("(each call asks a person)"));

    refused(
        Case::new(asks, mounts, &grant("access = \"read-write\""))
            .unwrap()
            .decide::<Fs>(),
        "skills.probe.grants.filesystem[0]",
        "grants read-write on mount 'work', which is read-only",
    );
    refused(
        Case::new(asks, "", &grant("access = \"read-only\""))
            .unwrap()
            .decide::<Fs>(),
        "skills.probe.grants.filesystem[0]",
        "no mount 'work' in [mounts] of agent 'ops'",
    );
    let read_only = "filesystem = [{ guest = \"/workspace\", access = \"read-only\" }]";
    let rw_mounts = "[mounts]\nwork = { path = \"work\", access = \"read-write\" }\n";
    refused(
        Case::new(read_only, rw_mounts, &grant("access = \"read-write\""))
            .unwrap()
            .decide::<Fs>(),
        "skills.probe.grants.filesystem[0]",
        "grants read-write at /workspace, but skill 'probe' asks for read-only only",
    );
    refused(
        Case::new("", rw_mounts, &grant("access = \"read-only\""))
            .unwrap()
            .decide::<Fs>(),
        "skills.probe.grants.filesystem[0]",
        "skill 'probe' does not ask for a directory at /workspace",
    );
}

#[test]
fn secrets_are_bound_to_the_hosts_and_header_the_manifest_names() {
    let asks = "secrets.API_TOKEN = { hosts = [\"https://api.test\"], header = \"Authorization: Bearer {}\" }";
    let token = |case: &Case| {
        use std::os::unix::fs::PermissionsExt;
        let file = case.dir.path().join("token");
        write(&file, "t0ken-value-123\n");
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
    };
    let bound = case(asks, "secrets = { API_TOKEN = { file = \"token\" } }");
    token(&bound);
    let grant = bound.decide::<Secrets>().unwrap().expect("granted");
    let binding = &grant.bindings[0];
    assert_eq!(binding.header_value(), "Bearer t0ken-value-123");
    assert_eq!(
        Secrets::granted(&grant),
        ["secret API_TOKEN as header 'authorization' to https://api.test"]
    );
    assert!(
        !format!("{grant:?}").contains("t0ken-value"),
        "never printed"
    );

    assert_eq!(case(asks, "").not_granted(), ["secret API_TOKEN"]);
    refused(
        case(
            "",
            "secrets = { API_TOKEN = { env = \"SKILLBOX_CAPS_TEST_TOKEN\" } }",
        )
        .decide::<Secrets>(),
        "skills.probe.grants.secrets.API_TOKEN",
        "skill 'probe' does not ask for a secret API_TOKEN",
    );
    refused(
        case(
            asks,
            "secrets = { API_TOKEN = { env = \"SKILLBOX_CAPS_TEST_UNSET\" } }",
        )
        .decide::<Secrets>(),
        "skills.probe.grants.secrets.API_TOKEN",
        "the environment variable SKILLBOX_CAPS_TEST_UNSET is not set",
    );
}

#[test]
fn a_manifest_is_described_the_same_way_everywhere() {
    let all = case(
        "memory = true\ninference = true\nnetwork = [\"https://*\"]\n\
         filesystem = [{ guest = \"/data\", access = \"read-only\" }]\n\
         secrets.KEY = { hosts = [\"https://api.test\"], header = \"X-Key: {}\" }",
        "",
    );
    let words = asked(&all.manifest.capabilities);
    let terms: Vec<&str> = words.iter().map(|w| w.term.as_str()).collect();
    assert_eq!(
        terms,
        [
            "memory",
            "inference",
            "network https://*",
            "filesystem read-only /data",
            "secret KEY as header 'x-key' to https://api.test",
        ]
    );
    let sentences: Vec<&str> = words.iter().map(|w| w.sentence.as_str()).collect();
    assert_eq!(sentences[2], "may send HTTPS requests to any host");
    assert_eq!(
        sentences[3],
        "may read the directory /data (a mount the agent lends)"
    );

    // An install grants what needs no choice of the operator's.
    let (grants, left) = on_install(&all.manifest.capabilities);
    assert_eq!(
        grants.to_string(),
        "memory = true\ninference = true\nnetwork = [\"https://*\"]\n"
    );
    assert_eq!(
        left,
        [
            "filesystem /data: add a grant naming one of the agent's mounts",
            "secret KEY: add a grant naming where its value comes from",
        ]
    );
}
