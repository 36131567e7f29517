//! Installing from a registry, as plans: a release is fetched and checked,
//! and what it may do, what changes and what a person must agree to is
//! said in plain words ([`Plan`]); once the person agreed ([`agree`]), the
//! plan is committed ([`commit`]): the store, the agent's file and the
//! lockfile. A sync fetches what the lockfile records and the store lacks
//! ([`missing`], then [`sync`]), and [`remove`] takes an installed skill
//! out; neither widens what an agent may do, so neither asks.
//!
//! Every check comes before anything is written: a package that fails one
//! leaves no trace but the error.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};

use super::client::RegistryClient;
use super::edit::Edit;
use super::lock::{Locked, Lockfile, store_dir};
use super::package::{Package, sha256_hex};
use super::registry::{self, Index, Release};
use super::signing::{self, PublicKey};
use super::{Downgrade, MarketError, UntrustedKey, store, trusted_keys};
use crate::caps::{self, Words};
use crate::config::{HostConfig, Manifest};
use crate::consent::{CallConsent, ConsentBroker, Session, Verdict};
use crate::db::Db;
use crate::db::audit::{self, AuditEntry, Event};
use crate::egress::Egress;
use crate::redact::SecretScanner;
use crate::vocab::{
    AgentId, Capability, ConsentSettings, Deadline, Fallback, LimitOverrides, Limits, Mode,
};

/// A release, downloaded and checked.
pub struct Fetched {
    pub name: String,
    pub release: Release,
    pub package: Package,
    pub manifest: Manifest,
    /// The key that signed it, and whether the host trusted it already.
    pub key: PublicKey,
    pub key_is_new: bool,
    /// The version of the signed index it was chosen from.
    pub index_version: u64,
}

/// Which release to fetch.
pub enum Wanted<'a> {
    /// The newest that is not yanked and matches.
    Matching(&'a semver::VersionReq),
    /// Exactly this one (yanked or not), as a lockfile records it.
    Locked(&'a Locked),
}

/// What a person allowed beyond an ordinary install or upgrade.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Allowed {
    /// Trust the key that signed a package when the host does not yet (it
    /// is pinned when the plan is committed): `--trust-new-key`.
    pub new_key: bool,
    /// Move a skill below the version the lockfile records: the plan says
    /// it is a downgrade and asks like any other (`--allow-downgrade`).
    pub downgrade: bool,
}

/// Where skills come from: a registry, and the publisher keys trusted for
/// its packages and indexes.
pub struct Source {
    /// The registry's address, as the person or the lockfile gave it.
    pub url: url::Url,
    pub client: RegistryClient,
    pub trusted: Vec<PublicKey>,
    pub allowed: Allowed,
    /// The host's default limits: what a skill gets unless someone grants
    /// it more.
    pub defaults: Limits,
}

impl Source {
    /// The registry at `url`, with the keys `host` trusts for it.
    pub fn new(
        host: &HostConfig,
        egress: &Egress,
        url: &url::Url,
        allowed: Allowed,
    ) -> Result<Source, MarketError> {
        Ok(Source {
            url: url.clone(),
            client: RegistryClient::new(egress, url)?,
            trusted: trusted_keys(&host.registries, url.as_str()),
            allowed,
            defaults: host.defaults,
        })
    }

    /// Download `name` and check it: its index (see [`Source::index`];
    /// `seen` is the newest index version the host installed from), the
    /// package's hash against the index, its contents, and its signature
    /// against the trusted keys, or, when new keys may be trusted, against
    /// the registry's key of that id.
    pub async fn fetch(
        &self,
        name: &str,
        wanted: Wanted<'_>,
        seen: u64,
    ) -> Result<Fetched, MarketError> {
        let (index, signer) = self.index(name, seen).await?;
        let release = choose(&index, name, wanted)?;
        let at = |release: &Release| (name.to_owned(), release.version.clone());
        let bytes = self.client.package(name, &release).await?;
        let sha256 = sha256_hex(&bytes);
        if sha256 != release.sha256 {
            return Err(MarketError::HashMismatch {
                name: name.to_owned(),
                version: release.version,
                actual: sha256,
                expected: release.sha256,
            });
        }
        let package = Package::unpack(&bytes).map_err(|error| {
            let (name, version) = at(&release);
            MarketError::Unpack {
                name,
                version,
                error,
            }
        })?;
        let (key, key_is_new) = self.release_key(name, &release, signer).await?;
        signing::verify(
            &package,
            &release.key_id,
            &release.signature,
            std::slice::from_ref(&key),
        )
        .map_err(|error| {
            let (name, version) = at(&release);
            MarketError::Signature {
                name,
                version,
                error,
            }
        })?;
        let manifest = registry::read_manifest(&package)?;
        if manifest.name != name || manifest.version != release.version {
            return Err(MarketError::WrongPackage {
                name: name.to_owned(),
                version: release.version,
                holds: format!("{} {}", manifest.name, manifest.version),
            });
        }
        Ok(Fetched {
            name: name.to_owned(),
            release,
            package,
            manifest,
            key,
            key_is_new,
            index_version: index.version,
        })
    }

    /// The index of `name`, checked as TUF checks its metadata: signed by a
    /// key the host trusts (or the one it may trust anew), not expired, and
    /// no older than version `seen`. With the key that signed it, and
    /// whether that key is new to the host.
    async fn index(
        &self,
        name: &str,
        seen: u64,
    ) -> Result<(Index, (PublicKey, bool)), MarketError> {
        let signed = self.client.index(name).await?;
        let Some(signer) = self.key(&signed.key_id).await? else {
            return Err(self.untrusted_index(name, signed.key_id).await);
        };
        let (name, registry) = (name.to_owned(), self.client.url().to_string());
        let index = match signed.verify(&signer.0) {
            Ok(index) => index,
            Err(error) => {
                return Err(MarketError::BadIndex {
                    name,
                    registry,
                    error,
                });
            }
        };
        if index.name != name {
            let url = format!("{registry}index/{name}.json");
            let why = format!("the registry's index for '{name}' names '{}'", index.name);
            return Err(MarketError::Registry { url, why });
        }
        if index.expires <= SystemTime::now() {
            let expires = humantime::format_rfc3339(index.expires).to_string();
            return Err(MarketError::IndexExpired {
                name,
                registry,
                expires,
            });
        }
        if index.version < seen {
            let version = index.version;
            return Err(MarketError::IndexRolledBack {
                name,
                registry,
                version,
                seen,
            });
        }
        Ok((index, signer))
    }

    /// The key `key_id` as the host trusts it, or else, when new keys may
    /// be trusted, as the registry lists it (and new to the host); `None`
    /// when neither.
    async fn key(&self, key_id: &str) -> Result<Option<(PublicKey, bool)>, MarketError> {
        if let Some(key) = self.trusted.iter().find(|k| k.key_id == key_id) {
            return Ok(Some((key.clone(), false)));
        }
        if !self.allowed.new_key {
            return Ok(None);
        }
        let keys = self.client.keys().await?;
        let key = keys.keys.into_iter().find(|k| k.key_id == key_id);
        let key = key.ok_or_else(|| MarketError::UnknownKey(key_id.to_owned()))?;
        Ok(Some((key, true)))
    }

    /// An index of `name` signed by `key_id`, which the host does not trust,
    /// named with the publisher the registry gives that key, if it can.
    async fn untrusted_index(&self, name: &str, key_id: String) -> MarketError {
        let keys = self.client.keys().await.map(|keys| keys.keys);
        let listed = keys
            .unwrap_or_default()
            .into_iter()
            .find(|k| k.key_id == key_id);
        MarketError::UntrustedIndex {
            name: name.to_owned(),
            publisher: listed.map_or_else(|| "unknown".to_owned(), |k| k.publisher),
            key_id,
            registry: self.client.url().to_string(),
        }
    }

    /// The key that signed `release`, and whether it is new to the host. A
    /// key new to the host must have signed both the index and the
    /// release: it is the one pinned.
    async fn release_key(
        &self,
        name: &str,
        release: &Release,
        signer: (PublicKey, bool),
    ) -> Result<(PublicKey, bool), MarketError> {
        if release.key_id == signer.0.key_id {
            return Ok(signer);
        }
        if signer.1 {
            return Err(self.untrusted_index(name, signer.0.key_id).await);
        }
        match self.key(&release.key_id).await? {
            Some(key) => Ok(key),
            None => Err(MarketError::UntrustedKey(Box::new(UntrustedKey {
                name: name.to_owned(),
                version: release.version.clone(),
                key_id: release.key_id.clone(),
                publisher: release.publisher.clone(),
                registry: self.client.url().to_string(),
            }))),
        }
    }
}

/// The release of `name` in `index` that `wanted` names.
fn choose(index: &Index, name: &str, wanted: Wanted<'_>) -> Result<Release, MarketError> {
    let found = match wanted {
        Wanted::Matching(requirement) => {
            registry::choose(index, requirement).ok_or_else(|| MarketError::NoMatch {
                name: name.to_owned(),
                requirement: requirement.clone(),
            })
        }
        Wanted::Locked(locked) => index
            .versions
            .iter()
            .find(|r| r.version == locked.version && r.sha256 == locked.sha256)
            .ok_or_else(|| MarketError::Withdrawn {
                name: name.to_owned(),
                version: locked.version.clone(),
                sha256: locked.sha256.clone(),
            }),
    };
    found.cloned()
}

/// An install or upgrade, checked and not yet done.
pub struct Plan {
    pub agent: AgentId,
    /// The registry it comes from.
    pub registry: url::Url,
    pub fetched: Fetched,
    /// The version installed now, for an upgrade (or a downgrade).
    pub from: Option<semver::Version>,
    /// For an upgrade signed by another key than the installed version:
    /// that key and its publisher (`4be1c0d2a9e3f871 (acme)`).
    pub key_was: Option<String>,
    /// What the skill may do, one sentence each.
    pub capabilities: Vec<String>,
    /// For an upgrade, what it may do that the installed version may not,
    /// and the other way round.
    pub added: Vec<String>,
    pub removed: Vec<String>,
    /// What installing does not grant: the operator grants it in the
    /// agent's file.
    pub left: Vec<String>,
    /// What the skill asks beyond the host's default limits, in words
    /// (`memory 1.0 GiB (default 64.0 MiB)`); agreeing grants it.
    pub limits: Vec<String>,
    /// Those limits, as the agent's file will grant them.
    pub granted_limits: LimitOverrides,
    /// For an upgrade: limits it asks more of than the installed version
    /// (beyond the defaults), in words and as the agent's file will grant
    /// them, and its tools that are new or gone.
    pub limits_added: Vec<String>,
    pub grown_limits: LimitOverrides,
    pub tools_added: Vec<String>,
    pub tools_removed: Vec<String>,
    /// For an upgrade, the installed version's manifest.
    pub previous: Option<Manifest>,
}

impl Plan {
    fn new(
        agent: &AgentId,
        source: &Source,
        fetched: Fetched,
        from: Option<(&Locked, &Manifest)>,
    ) -> Plan {
        let asked = caps::asked(&fetched.manifest.capabilities);
        let capabilities = sentences(&asked);
        let before = from.map(|(_, old)| sentences(&caps::asked(&old.capabilities)));
        let (added, removed) = match &before {
            Some(before) => (
                capabilities
                    .iter()
                    .filter(|c| !before.contains(c))
                    .cloned()
                    .collect(),
                before
                    .iter()
                    .filter(|c| !capabilities.contains(c))
                    .cloned()
                    .collect(),
            ),
            None => (Vec::new(), Vec::new()),
        };
        let (_, left) = caps::on_install(&fetched.manifest.capabilities);
        let defaults = &source.defaults;
        let granted_limits = fetched.manifest.limits.beyond(defaults);
        let limits = beyond_defaults(defaults, &fetched.manifest.limits);
        let (mut limits_added, mut tools_added, mut tools_removed) = (vec![], vec![], vec![]);
        let mut grown_limits = LimitOverrides::default();
        if let Some((_, old)) = from {
            // Grown: more than before, and beyond the defaults.
            let before = defaults.with(&old.limits).at_least(defaults);
            grown_limits = fetched.manifest.limits.beyond(&before);
            limits_added = before
                .beyond(&defaults.with(&fetched.manifest.limits))
                .into_iter()
                .map(|(field, now, was)| format!("{field} {now} (was {was})"))
                .collect();
            let names = |m: &Manifest| m.tools.iter().map(|t| t.name.clone()).collect::<Vec<_>>();
            let (was, is) = (names(old), names(&fetched.manifest));
            tools_added = is.iter().filter(|t| !was.contains(t)).cloned().collect();
            tools_removed = was.iter().filter(|t| !is.contains(t)).cloned().collect();
        }
        let key_was = from
            .map(|(locked, _)| &locked.key_id)
            .filter(|was| **was != fetched.key.key_id)
            .map(
                |was| match source.trusted.iter().find(|k| k.key_id == *was) {
                    Some(key) => format!("{was} ({})", key.publisher),
                    None => format!("{was} (no longer trusted)"),
                },
            );
        Plan {
            agent: agent.clone(),
            registry: source.url.clone(),
            left,
            from: from.map(|(locked, _)| locked.version.clone()),
            key_was,
            previous: from.map(|(_, old)| old.clone()),
            fetched,
            capabilities,
            added,
            removed,
            limits,
            granted_limits,
            limits_added,
            grown_limits,
            tools_added,
            tools_removed,
        }
    }

    /// What a person reads before agreeing, in a form that travels (the
    /// admin socket sends it to the command that asked).
    pub fn summary(&self) -> PlanSummary {
        let (fetched, release) = (&self.fetched, &self.fetched.release);
        // The publisher is the key's, as the host trusts it (or pins it):
        // the index's word is shown only beside it.
        let publisher = fetched.key.publisher.clone();
        let index_says = (release.publisher != publisher).then(|| release.publisher.clone());
        PlanSummary {
            agent: self.agent.clone(),
            name: fetched.name.clone(),
            version: release.version.clone(),
            from: self.from.clone(),
            description: fetched.manifest.description.clone(),
            publisher,
            index_says,
            key_id: release.key_id.clone(),
            key_is_new: fetched.key_is_new,
            key_was: self.key_was.clone(),
            sha256: release.sha256.clone(),
            registry: self.registry.to_string(),
            tools: fetched
                .manifest
                .tools
                .iter()
                .map(|t| (t.name.clone(), t.description.clone()))
                .collect(),
            capabilities: self.capabilities.clone(),
            added: self.added.clone(),
            removed: self.removed.clone(),
            left: self.left.clone(),
            limits: self.limits.clone(),
            limits_added: self.limits_added.clone(),
            tools_added: self.tools_added.clone(),
            tools_removed: self.tools_removed.clone(),
            asks: self.asks(),
        }
    }

    /// What a person must agree to, and the details they decide on: every
    /// install and every downgrade; an upgrade that may do more
    /// (capabilities, tools, limits), or is signed by another key.
    pub fn asks(&self) -> Option<(String, Vec<String>)> {
        let (name, version) = (&self.fetched.name, &self.fetched.release.version);
        let agent = &self.agent;
        let limit = |l: &String| format!("limit {l}");
        let Some(from) = &self.from else {
            let mut details = self.capabilities.clone();
            details.extend(self.limits.iter().map(limit));
            let what = format!("install {name} {version} for agent {agent}");
            return Some((what, details));
        };
        let mut details = self.added.clone();
        details.extend(self.tools_added.iter().map(|t| format!("tool {t}")));
        details.extend(self.limits_added.iter().map(limit));
        if let Some(was) = &self.key_was {
            let key = &self.fetched.key;
            let now = format!("{} ({})", key.key_id, key.publisher);
            details.push(format!("signed by key {now}, was {was}"));
        }
        if self.is_downgrade() {
            let what = format!("downgrade {name} from {from} to {version} for agent {agent}");
            return Some((what, details));
        }
        let grows = !details.is_empty() || self.fetched.key_is_new;
        grows.then(|| {
            (
                format!("upgrade {name} to {version} for agent {agent}"),
                details,
            )
        })
    }

    /// Whether the plan moves a skill to an older version than installed.
    pub fn is_downgrade(&self) -> bool {
        self.from
            .as_ref()
            .is_some_and(|from| self.fetched.release.version < *from)
    }
}

/// `NAME` or `NAME@REQUIREMENT` (`text@^1.2`): the skill and the versions
/// that will do.
pub fn parse_requirement(text: &str) -> Result<(String, semver::VersionReq), MarketError> {
    match text.split_once('@') {
        None => Ok((text.to_owned(), semver::VersionReq::STAR)),
        Some((name, requirement)) => {
            let parsed =
                requirement
                    .parse()
                    .map_err(|e: semver::Error| MarketError::BadRequirement {
                        text: requirement.to_owned(),
                        why: e.to_string(),
                    })?;
            Ok((name.to_owned(), parsed))
        }
    }
}

/// A plan in words: what a person reads before agreeing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlanSummary {
    pub agent: AgentId,
    pub name: String,
    pub version: semver::Version,
    /// The version installed now, for an upgrade; a downgrade when it is
    /// newer than `version`.
    pub from: Option<semver::Version>,
    pub description: String,
    /// The publisher of the key that signed it, as this host trusts the
    /// key (or will, once it is pinned).
    pub publisher: String,
    /// The publisher the registry's index names, when it is not that.
    pub index_says: Option<String>,
    pub key_id: String,
    pub key_is_new: bool,
    /// For an upgrade signed by another key than the installed version:
    /// that key and its publisher.
    pub key_was: Option<String>,
    /// The package's digest: what is agreed to is these bytes.
    pub sha256: String,
    pub registry: String,
    /// Each tool's name and description.
    pub tools: Vec<(String, String)>,
    pub capabilities: Vec<String>,
    pub added: Vec<String>,
    pub removed: Vec<String>,
    pub left: Vec<String>,
    /// Limits it asks beyond the defaults, and for an upgrade, those that
    /// grew and the tools new or gone.
    pub limits: Vec<String>,
    pub limits_added: Vec<String>,
    pub tools_added: Vec<String>,
    pub tools_removed: Vec<String>,
    /// What a person must agree to, and the details they decide on.
    pub asks: Option<(String, Vec<String>)>,
}

/// How a person agreed to a plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Agreement {
    /// They read the plan and passed `--yes`.
    CommandLine,
    /// They answered yes at the terminal the command runs in, which told
    /// the server through its admin socket.
    Terminal,
    /// A client of the API with the admin token says they agreed.
    AdminToken,
    /// Not yet: ask them through the consent broker.
    Ask,
}

/// What `asked` asks beyond `defaults`, in words, a field each.
fn beyond_defaults(defaults: &Limits, asked: &LimitOverrides) -> Vec<String> {
    defaults
        .beyond(&defaults.with(asked))
        .into_iter()
        .map(|(name, asked, default)| format!("{name} {asked} (default {default})"))
        .collect()
}

fn sentences(words: &[Words]) -> Vec<String> {
    match words.is_empty() {
        true => vec!["asks for no capability: pure computation".to_owned()],
        false => words.iter().map(|w| w.sentence.clone()).collect(),
    }
}

/// Plan installing the newest release of `name` that `requirement` accepts,
/// for `agent` of `host`. A skill the agent has installed is never moved
/// below the version the lockfile records, unless the person allowed a
/// downgrade: then the plan shows it as one.
pub async fn plan_install(
    host: &HostConfig,
    source: &Source,
    agent: &AgentId,
    name: &str,
    requirement: &semver::VersionReq,
) -> Result<Plan, MarketError> {
    let lock = Lockfile::read(&host.dir)?;
    let seen = lock.index_seen(source.url.as_str(), name);
    let fetched = source
        .fetch(name, Wanted::Matching(requirement), seen)
        .await?;
    match lock.get(agent.as_str(), name) {
        Some(current) if fetched.release.version < current.version => {
            plan_change(host, source, agent, fetched, current)
        }
        _ => Ok(Plan::new(agent, source, fetched, None)),
    }
}

/// What an upgrade found.
pub enum Upgrade {
    /// The installed version is the newest that matches.
    Newest(semver::Version),
    Plan(Box<Plan>),
}

/// Plan upgrading skill `name` of `agent`, installed on `host` from a
/// registry, to the newest release of that registry that `requirement`
/// accepts. An older one than installed is refused unless `allowed`
/// allows a downgrade.
pub async fn plan_upgrade(
    host: &HostConfig,
    egress: &Egress,
    agent: &AgentId,
    name: &str,
    requirement: &semver::VersionReq,
    allowed: Allowed,
) -> Result<Upgrade, MarketError> {
    let lock = Lockfile::read(&host.dir)?;
    let current = lock
        .get(agent.as_str(), name)
        .ok_or_else(|| MarketError::NotInstalled {
            agent: agent.to_string(),
            name: name.to_owned(),
        })?;
    let source = Source::new(host, egress, &current.registry_url()?, allowed)?;
    let seen = lock.index_seen(&current.registry, name);
    let fetched = source
        .fetch(name, Wanted::Matching(requirement), seen)
        .await?;
    if fetched.release.version == current.version {
        return Ok(Upgrade::Newest(current.version.clone()));
    }
    let plan = plan_change(host, &source, agent, fetched, current)?;
    Ok(Upgrade::Plan(Box::new(plan)))
}

/// Plan moving `agent`'s skill from the `current` install to `fetched`:
/// refused when that is down and the person did not allow it.
fn plan_change(
    host: &HostConfig,
    source: &Source,
    agent: &AgentId,
    fetched: Fetched,
    current: &Locked,
) -> Result<Plan, MarketError> {
    if fetched.release.version < current.version && !source.allowed.downgrade {
        return Err(MarketError::Downgrade(Box::new(Downgrade {
            agent: agent.to_string(),
            name: fetched.name,
            installed: current.version.clone(),
            offered: fetched.release.version,
            registry: source.url.to_string(),
        })));
    }
    let installed = store_dir(&host.data_dir, &current.sha256);
    let old = Manifest::load(&installed).map_err(MarketError::NotSynced)?;
    Ok(Plan::new(agent, source, fetched, Some((current, &old))))
}

/// Record how a person agreed to `plan`, or ask one through `broker`
/// (which reaches them through the channel attached to it).
pub async fn agree(
    broker: &Arc<ConsentBroker>,
    db: &Db,
    plan: &Plan,
    agreement: Agreement,
    by: &str,
) -> Result<(), MarketError> {
    let Some((what, details)) = plan.asks() else {
        return Ok(());
    };
    let (agent, skill) = (&plan.agent, &plan.fetched.name);
    let (reason, channel) = match agreement {
        Agreement::CommandLine => ("--yes on the command line", "cli"),
        Agreement::Terminal => ("agreed at the terminal of the command", "cli"),
        Agreement::AdminToken => ("agreed by the holder of an admin token", "api"),
        Agreement::Ask => ("", ""),
    };
    if agreement != Agreement::Ask {
        let entry = AuditEntry {
            skill: skill.clone(),
            capability: Capability::action(&what, &details.join("; ")).to_string(),
            reason: reason.into(),
            channel: Some(channel.into()),
            by: Some(by.to_owned()),
            ..AuditEntry::new(Event::Answer, agent.as_str(), "allowed")
        };
        return Ok(audit::append_durably(db, entry).await?);
    }
    let settings = ConsentSettings {
        mode: Mode::Ask,
        timeout: Duration::from_secs(600),
        fallback: Fallback::Deny,
    };
    let consent = CallConsent::new(
        broker.clone(),
        agent.clone(),
        Arc::new(settings),
        Session::new(&format!("cli-{}", std::process::id())),
        "(install)".into(),
        "install",
        &details.join("; "),
        Arc::new(SecretScanner::new([])),
        Deadline::after(Duration::from_secs(600)),
    );
    let capability = Capability::action(&what, &details.join("; "));
    match consent
        .decide_by_a_person(capability, &details.join("; "))
        .await
    {
        Verdict::Allowed => Ok(()),
        Verdict::Denied(why) => Err(MarketError::NotAgreed(why)),
    }
}

/// Do what `plan` says, for the host of `config_dir` and `data_dir`: pin a
/// new key, put the package in the store, and write the skill into the
/// agent's file and the lockfile.
/// The install is on record, on disk, before it takes effect.
pub async fn commit(
    plan: &Plan,
    config_dir: &Path,
    data_dir: &Path,
    db: &Db,
    by: &str,
) -> Result<(), MarketError> {
    let fetched = &plan.fetched;
    let (name, release) = (&fetched.name, &fetched.release);
    let (decision, from) = match &plan.previous {
        None => ("installed", String::new()),
        Some(old) if plan.is_downgrade() => ("downgraded", format!(" from {}", old.version)),
        Some(old) => ("upgraded", format!(" from {}", old.version)),
    };
    let entry = AuditEntry {
        skill: name.clone(),
        reason: format!(
            "version {}{from}, sha256 {}, from {}",
            release.version, release.sha256, plan.registry
        ),
        by: Some(by.to_owned()),
        ..AuditEntry::new(Event::Install, plan.agent.as_str(), decision)
    };
    audit::append_durably(db, entry).await?;
    let mut agent_file = Edit::agent(config_dir, plan.agent.as_str())?;
    if agent_file.has_skill_dir(name) {
        return Err(MarketError::FromDirectory {
            agent: plan.agent.to_string(),
            name: name.clone(),
            file: agent_file.path().to_owned(),
        });
    }
    if fetched.key_is_new {
        let mut host_file = Edit::host(config_dir)?;
        host_file.trust_key(&plan.registry, &fetched.key)?;
        host_file.save()?;
    }
    store::add(data_dir, &release.sha256, &fetched.package)?;
    match &plan.previous {
        None => agent_file.install(name, &release.version, plan)?,
        Some(old) => agent_file.upgrade(name, &release.version, old, plan)?,
    }
    let mut lock = Lockfile::read(config_dir)?;
    lock.set(Locked {
        agent: plan.agent.clone(),
        name: name.clone(),
        version: release.version.clone(),
        sha256: release.sha256.clone(),
        registry: plan.registry.to_string(),
        key_id: release.key_id.clone(),
        signature: release.signature.clone(),
        index_version: fetched.index_version,
    });
    // The lockfile first: an agent file naming a version the lockfile does
    // not know would not load.
    lock.write(config_dir)?;
    agent_file.save()
}

/// Take `name` out of `agent`'s file and the lockfile of `config_dir`; what
/// the lockfile recorded of it.
pub fn remove(config_dir: &Path, agent: &str, name: &str) -> Result<Locked, MarketError> {
    let mut lock = Lockfile::read(config_dir)?;
    let locked = lock
        .remove(agent, name)
        .ok_or_else(|| MarketError::NotInstalled {
            agent: agent.to_owned(),
            name: name.to_owned(),
        })?;
    let mut agent_file = Edit::agent(config_dir, agent)?;
    agent_file.uninstall(name);
    // The agent file first: it must not name what the lockfile forgot.
    agent_file.save()?;
    lock.write(config_dir)?;
    Ok(locked)
}

/// What the lockfile of `host` records but its store lacks: what a sync
/// fetches.
pub fn missing(host: &HostConfig) -> Result<Vec<Locked>, MarketError> {
    let lock = Lockfile::read(&host.dir)?;
    let present = |l: &Locked| store_dir(&host.data_dir, &l.sha256).exists();
    Ok(lock.skills.into_iter().filter(|l| !present(l)).collect())
}

/// Fetch `locked` exactly, from the registry that the lockfile names, into
/// the store of `host`.
pub async fn sync(host: &HostConfig, egress: &Egress, locked: &Locked) -> Result<(), MarketError> {
    let source = Source::new(host, egress, &locked.registry_url()?, Allowed::default())?;
    let seen = Lockfile::read(&host.dir)?.index_seen(&locked.registry, &locked.name);
    let fetched = source
        .fetch(&locked.name, Wanted::Locked(locked), seen)
        .await?;
    store::add(&host.data_dir, &locked.sha256, &fetched.package)?;
    Ok(())
}
