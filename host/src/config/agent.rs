//! `agents/<id>.toml`: one agent, what it may call and what it grants its
//! skills.
//!
//! ```toml
//! id = "ops"
//! description = "Infrastructure helper"
//!
//! [tools]
//! allow = ["text.*", "web.fetch", "files.read"]    # patterns over skill.tool; deny wins
//! deny  = ["files.delete"]
//!
//! [mounts]                                        # host directories this agent may lend
//! workspace = { path = "/srv/agents/ops/workspace", access = "read-write" }
//!
//! [skills.web]
//! path = "skills/web"                             # relative to the config directory
//!
//! [skills.web.grants]
//! network = ["https://api.github.com", "https://*.wikipedia.org"]
//! secrets = { GITHUB_TOKEN = { env = "OPS_GITHUB_TOKEN" } }
//!
//! [skills.files]
//! path = "skills/files"
//!
//! [skills.files.grants]
//! filesystem = [{ mount = "workspace", guest = "/workspace", access = "read-only" }]
//!
//! [limits]                                        # the ceiling of this agent's calls
//! memory = "128MiB"
//!
//! [inference]                                     # see `config::inference`
//! model = "local/gpt-oss:20b"
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use toml::Spanned;

use super::HostConfig;
use super::capabilities::{check_guest_path, parse_pattern};
use super::inference::{InferenceSettings, Prompts, RawInferenceSettings, RawPrompts};
use super::toml_file::{ConfigError, TomlFile};
use crate::vocab::{
    Access, AgentId, ConsentSettings, LimitOverrides, NetPattern, ToolPattern, is_secret_name,
    is_skill_name,
};

/// A value and the line it was written on, for errors found later.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Located<T> {
    pub value: T,
    pub line: usize,
}

#[derive(Debug, Clone)]
pub struct AgentConfig {
    pub id: AgentId,
    pub description: String,
    pub consent: ConsentSettings,
    /// The file it was read from.
    pub file: PathBuf,
    pub allow: Vec<Located<ToolPattern>>,
    pub deny: Vec<Located<ToolPattern>>,
    pub mounts: BTreeMap<String, Located<Mount>>,
    pub skills: BTreeMap<String, SkillEntry>,
    pub limits: LimitOverrides,
    /// The models it talks to, if it talks to any.
    pub inference: Option<InferenceSettings>,
    pub prompts: Prompts,
}

/// A host directory the agent may lend to its skills.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mount {
    /// Canonical, existing directory.
    pub path: PathBuf,
    pub access: Access,
}

#[derive(Debug, Clone)]
pub struct SkillEntry {
    pub source: SkillSource,
    pub line: usize,
    pub grants: Grants,
    /// `[skills.<name>.limits]`: what the operator grants this skill beyond
    /// the agent's limits (a manifest may ask for more than the defaults;
    /// it gets it only from here or the agent's `[limits]`).
    pub limits: LimitOverrides,
}

/// Where a skill of an agent comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SkillSource {
    /// A skill directory, resolved against the configuration directory.
    Dir(PathBuf),
    /// The version installed from a registry; `skillbox.lock` says which
    /// package that is.
    Installed(semver::Version),
}

/// What an agent grants one skill, as written. Each grant must be covered
/// by the skill's manifest; each capability checks its own when the agent
/// loads (`caps/`).
#[derive(Debug, Clone, Default)]
pub struct Grants {
    pub memory: bool,
    pub inference: Option<InferenceGrant>,
    pub network: Vec<Located<NetGrant>>,
    pub filesystem: Vec<Located<FsGrant>>,
    pub secrets: BTreeMap<String, Located<SecretGrant>>,
}

/// Inference granted to a skill: chat completions metered to the agent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InferenceGrant {
    /// Tokens (prompt and completion) one tool call may spend.
    pub max_tokens: u32,
}

impl InferenceGrant {
    /// What `inference = true` grants.
    pub const DEFAULT: InferenceGrant = InferenceGrant { max_tokens: 4096 };
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetGrant {
    pub pattern: NetPattern,
    /// Allow addresses that are not public (loopback, private, link-local,
    /// ...). Only for a pattern naming one host.
    pub allow_private: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FsGrant {
    pub mount: String,
    pub guest: String,
    pub access: Access,
    /// Offered, not given: each use needs a person's consent.
    pub ask: bool,
    /// Whether the skill may create symbolic links in the directory. Off by
    /// default: a link pointing out of the mount cannot be followed inside
    /// the sandbox, but it stays on the host for other programs.
    pub symlinks: bool,
}

/// A secret an agent grants a skill.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretGrant {
    pub source: SecretSource,
    /// Offered, not given: each use needs a person's consent.
    pub ask: bool,
}

/// Where a secret's value comes from.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SecretSource {
    /// An environment variable of the host process.
    Env(String),
    /// A file holding the value, readable by its owner only (mode 0600).
    File(PathBuf),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAgent {
    id: Spanned<String>,
    #[serde(default)]
    description: String,
    #[serde(default)]
    consent: ConsentSettings,
    #[serde(default)]
    tools: RawTools,
    #[serde(default)]
    mounts: BTreeMap<String, Spanned<RawMount>>,
    #[serde(default)]
    skills: BTreeMap<String, Spanned<RawSkillEntry>>,
    #[serde(default)]
    limits: LimitOverrides,
    inference: Option<RawInferenceSettings>,
    #[serde(default)]
    prompts: RawPrompts,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawTools {
    #[serde(default)]
    allow: Vec<Spanned<String>>,
    #[serde(default)]
    deny: Vec<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMount {
    path: PathBuf,
    access: Access,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSkillEntry {
    /// A skill directory, or
    path: Option<PathBuf>,
    /// the version installed from a registry (see `skillbox.lock`).
    installed: Option<semver::Version>,
    #[serde(default)]
    grants: RawGrants,
    #[serde(default)]
    limits: LimitOverrides,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawGrants {
    #[serde(default)]
    memory: bool,
    inference: Option<RawInferenceGrant>,
    #[serde(default)]
    network: Vec<Spanned<RawNetGrant>>,
    #[serde(default)]
    filesystem: Vec<Spanned<RawFsGrant>>,
    #[serde(default)]
    secrets: BTreeMap<String, Spanned<RawSecretGrant>>,
}

#[derive(Deserialize)]
struct RawSecretGrant {
    #[serde(flatten)]
    source: SecretSource,
    #[serde(default)]
    ask: bool,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum RawInferenceGrant {
    Granted(bool),
    Capped { max_tokens: u32 },
}

#[derive(Deserialize)]
#[serde(untagged)]
enum RawNetGrant {
    Pattern(String),
    Table {
        url: String,
        #[serde(default)]
        allow_private: bool,
    },
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFsGrant {
    mount: String,
    guest: String,
    access: Access,
    #[serde(default)]
    ask: bool,
    #[serde(default)]
    symlinks: bool,
}

impl AgentConfig {
    /// Read `path`; relative paths in it are resolved against the config
    /// directory of `host`, and the models it names checked against its
    /// backends.
    pub fn load(path: &Path, host: &HostConfig) -> Result<AgentConfig, ConfigError> {
        AgentConfig::from_file(&TomlFile::read(path)?, host)
    }

    /// Validate an agent's file whose text is already read; its path must
    /// be `agents/<id>.toml`.
    pub fn from_file(file: &TomlFile, host: &HostConfig) -> Result<AgentConfig, ConfigError> {
        let config_dir = host.dir.as_path();
        let raw: RawAgent = file.parse()?;

        let id = AgentId::new(raw.id.get_ref())
            .map_err(|e| file.error("id", Some(raw.id.span()), e.to_string()))?;
        let stem = file
            .path
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or_default();
        if stem != id.as_str() {
            return Err(file.error(
                "id",
                Some(raw.id.span()),
                format!("the agent '{id}' must be defined in agents/{id}.toml, not {stem}.toml"),
            ));
        }
        // Checked in the order of the file's usual layout.
        let allow = tool_patterns(file, &raw.tools.allow, "allow")?;
        let deny = tool_patterns(file, &raw.tools.deny, "deny")?;
        let mounts = mounts(file, raw.mounts, config_dir)?;
        let skills = skills(file, raw.skills, config_dir)?;
        let inference = match raw.inference {
            Some(raw) => Some(raw.validate(file, &host.backends)?),
            None => None,
        };
        Ok(AgentConfig {
            description: raw.description,
            consent: raw.consent,
            file: file.path.clone(),
            allow,
            deny,
            mounts,
            skills,
            limits: raw.limits,
            inference,
            prompts: raw.prompts.read(file, config_dir)?,
            id,
        })
    }
}

fn tool_patterns(
    file: &TomlFile,
    list: &[Spanned<String>],
    field: &str,
) -> Result<Vec<Located<ToolPattern>>, ConfigError> {
    list.iter()
        .enumerate()
        .map(|(i, p)| {
            ToolPattern::parse(p.get_ref())
                .map(|value| Located {
                    value,
                    line: file.line_of(p.span().start),
                })
                .map_err(|e| {
                    file.error(format!("tools.{field}[{i}]"), Some(p.span()), e.to_string())
                })
        })
        .collect()
}

/// `[mounts]`: each an existing directory, canonical.
fn mounts(
    file: &TomlFile,
    raw: BTreeMap<String, Spanned<RawMount>>,
    config_dir: &Path,
) -> Result<BTreeMap<String, Located<Mount>>, ConfigError> {
    let mut mounts = BTreeMap::new();
    for (name, mount) in raw {
        let span = mount.span();
        let RawMount { path, access } = mount.into_inner();
        let path = config_dir.join(path);
        let canonical = std::fs::canonicalize(&path)
            .ok()
            .filter(|p| p.is_dir())
            .ok_or_else(|| {
                file.error(
                    format!("mounts.{name}.path"),
                    Some(span.clone()),
                    format!("{} is not a directory", path.display()),
                )
            })?;
        let value = Mount {
            path: canonical,
            access,
        };
        let line = file.line_of(span.start);
        mounts.insert(name, Located { value, line });
    }
    Ok(mounts)
}

/// `[skills.<name>]`: where each skill comes from, and its grants.
fn skills(
    file: &TomlFile,
    raw: BTreeMap<String, Spanned<RawSkillEntry>>,
    config_dir: &Path,
) -> Result<BTreeMap<String, SkillEntry>, ConfigError> {
    let mut skills = BTreeMap::new();
    for (name, entry) in raw {
        let span = entry.span();
        let field = format!("skills.{name}");
        if !is_skill_name(&name) {
            return Err(file.error(field, Some(span), format!("'{name}' is not a skill name")));
        }
        let entry = entry.into_inner();
        let grants = validate_grants(file, &field, entry.grants)?;
        let source = match (entry.path, entry.installed) {
            (Some(path), None) => SkillSource::Dir(config_dir.join(path)),
            (None, Some(version)) => SkillSource::Installed(version),
            _ => {
                return Err(file.error(
                    field,
                    Some(span),
                    "give either path (a skill directory) or installed (a version from a registry)",
                ));
            }
        };
        let line = file.line_of(span.start);
        skills.insert(
            name,
            SkillEntry {
                source,
                line,
                grants,
                limits: entry.limits,
            },
        );
    }
    Ok(skills)
}

fn validate_grants(file: &TomlFile, skill: &str, raw: RawGrants) -> Result<Grants, ConfigError> {
    let field = format!("{skill}.grants");
    let at = |span: std::ops::Range<usize>| file.line_of(span.start);

    let mut network = Vec::new();
    for (i, grant) in raw.network.into_iter().enumerate() {
        let span = grant.span();
        let field = format!("{field}.network[{i}]");
        let (url, allow_private) = match grant.into_inner() {
            RawNetGrant::Pattern(url) => (url, false),
            RawNetGrant::Table { url, allow_private } => (url, allow_private),
        };
        let pattern = parse_pattern(file, &field, &Spanned::new(span.clone(), url))?;
        if allow_private && !pattern.is_exact() {
            return Err(file.error(
                field,
                Some(span),
                format!("allow_private needs a pattern that names one host, not '{pattern}'"),
            ));
        }
        network.push(Located {
            value: NetGrant {
                pattern,
                allow_private,
            },
            line: at(span),
        });
    }

    let mut filesystem = Vec::new();
    for (i, grant) in raw.filesystem.into_iter().enumerate() {
        let span = grant.span();
        let RawFsGrant {
            mount,
            guest,
            access,
            ask,
            symlinks,
        } = grant.into_inner();
        check_guest_path(&guest).map_err(|m| {
            file.error(
                format!("{field}.filesystem[{i}].guest"),
                Some(span.clone()),
                m,
            )
        })?;
        filesystem.push(Located {
            value: FsGrant {
                mount,
                guest,
                access,
                ask,
                symlinks,
            },
            line: at(span),
        });
    }

    let mut secrets = BTreeMap::new();
    for (name, source) in raw.secrets {
        let span = source.span();
        if !is_secret_name(&name) {
            return Err(file.error(
                format!("{field}.secrets.{name}"),
                Some(span),
                format!("'{name}' is not a secret name"),
            ));
        }
        let RawSecretGrant { source, ask } = source.into_inner();
        secrets.insert(
            name,
            Located {
                value: SecretGrant { source, ask },
                line: at(span),
            },
        );
    }

    let inference = match raw.inference {
        None | Some(RawInferenceGrant::Granted(false)) => None,
        Some(RawInferenceGrant::Granted(true)) => Some(InferenceGrant::DEFAULT),
        Some(RawInferenceGrant::Capped { max_tokens }) => Some(InferenceGrant { max_tokens }),
    };
    Ok(Grants {
        memory: raw.memory,
        inference,
        network,
        filesystem,
        secrets,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const OPS: &str = r#"id = "ops"
description = "Infrastructure helper"

[tools]
allow = ["text.*", "web.fetch", "files.read"]
deny  = ["files.delete"]

[mounts]
workspace = { path = "work", access = "read-write" }

[skills.web]
path = "skills/web"

[skills.web.grants]
network = ["https://api.github.com", { url = "http://ollama.lan:11434", allow_private = true }]
secrets = { GITHUB_TOKEN = { env = "OPS_GITHUB_TOKEN" } }

[skills.files]
path = "skills/files"

[skills.files.grants]
filesystem = [{ mount = "workspace", guest = "/workspace", access = "read-only" }]

[limits]
memory = "128MiB"
"#;

    fn load(text: &str) -> Result<AgentConfig, ConfigError> {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("work")).unwrap();
        let path = dir.path().join("ops.toml");
        std::fs::write(&path, text).unwrap();
        AgentConfig::load(&path, &HostConfig::with_data_dir(dir.path()))
    }

    #[test]
    fn reads_the_documented_example() {
        let ops = load(OPS).unwrap();
        assert_eq!(ops.id.as_str(), "ops");
        assert_eq!(ops.allow.len(), 3);
        assert_eq!(ops.deny[0].line, 6);
        assert_eq!(ops.mounts["workspace"].value.access, Access::ReadWrite);
        let web = &ops.skills["web"].grants;
        assert!(!web.network[0].value.allow_private);
        assert!(web.network[1].value.allow_private);
        assert_eq!(web.network[1].line, 15);
        assert_eq!(
            web.secrets["GITHUB_TOKEN"].value.source,
            SecretSource::Env("OPS_GITHUB_TOKEN".into())
        );
        assert_eq!(
            ops.skills["files"].grants.filesystem[0].value.guest,
            "/workspace"
        );
    }

    #[test]
    fn errors_name_field_and_line() {
        let cases = [
            (OPS.replace("\"ops\"", "\"other\""), "id", 1),
            (
                OPS.replace("\"web.fetch\"", "\"web fetch\""),
                "tools.allow[1]",
                5,
            ),
            (
                OPS.replace("path = \"work\"", "path = \"missing\""),
                "mounts.workspace.path",
                9,
            ),
            (
                OPS.replace("http://ollama.lan:11434", "http://*.lan:11434"),
                "skills.web.grants.network[1]",
                15,
            ),
            (
                OPS.replace("guest = \"/workspace\"", "guest = \"../etc\""),
                "skills.files.grants.filesystem[0].guest",
                22,
            ),
            (
                OPS.replace("{ env = ", "{ envv = "),
                "skills.web.grants.secrets.GITHUB_TOKEN",
                16,
            ),
        ];
        for (text, field, line) in cases {
            let err = load(&text).unwrap_err();
            assert_eq!(err.field, field, "{err}");
            assert_eq!(err.line, Some(line), "{err}");
        }
    }
}
