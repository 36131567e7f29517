//! The marketplace commands: `skillbox skill keygen|pack|search|install|
//! upgrade|remove|list|sync` and `skillbox registry publish|yank|serve`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use anyhow::Context;
use clap::Subcommand;

use super::Places;
use crate::Runtime;
use crate::config::ConfigDir;
use crate::consent::{CallConsent, Session, Verdict};
use crate::db::audit::{self, AuditEntry};
use crate::market::client::RegistryClient;
use crate::market::install::{self, Fetched, Wanted};
use crate::market::lock::{Lockfile, store_dir};
use crate::market::package::{Package, sha256_hex};
use crate::market::registry::{self, Release};
use crate::market::signing::{KeyPair, PublicKey};
use crate::redact::SecretScanner;
use crate::vocab::{AgentId, Capability, ConsentSettings, Deadline, Fallback, Mode};

#[derive(Subcommand)]
pub(super) enum MarketSkillCommand {
    /// Write a publisher key pair (the file is private, mode 0600).
    Keygen {
        /// Who publishes with this key, shown to users with every package.
        #[arg(long)]
        publisher: String,
        /// Where to write the key pair.
        #[arg(long)]
        out: PathBuf,
    },
    /// Build the package of the skill in a directory: skill.toml, its component and README.md.
    Pack {
        dir: PathBuf,
        /// Where to write it [default: <name>-<version>.skill here]
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Find skills in a registry; each shows its publisher and key.
    Search {
        text: String,
        #[arg(long)]
        registry: url::Url,
        #[command(flatten)]
        places: Places,
    },
    /// Install a skill from a registry for an agent, after showing what it may do.
    Install {
        /// NAME or NAME@VERSION-REQUIREMENT (e.g. text@^0.2).
        skill: String,
        #[arg(long)]
        agent: String,
        #[arg(long)]
        registry: url::Url,
        /// Trust the key that signed the package if this host does not yet
        /// (pinned in skillbox.toml).
        #[arg(long)]
        trust_new_key: bool,
        /// Agree to the capabilities shown without a prompt.
        #[arg(long)]
        yes: bool,
        #[command(flatten)]
        places: Places,
    },
    /// Upgrade an installed skill; asks again only when it would get more.
    Upgrade {
        /// NAME or NAME@VERSION-REQUIREMENT.
        skill: String,
        #[arg(long)]
        agent: String,
        #[arg(long)]
        trust_new_key: bool,
        #[arg(long)]
        yes: bool,
        #[command(flatten)]
        places: Places,
    },
    /// Remove an installed skill from an agent.
    Remove {
        name: String,
        #[arg(long)]
        agent: String,
        #[command(flatten)]
        places: Places,
    },
    /// The skills installed for an agent, as the lockfile records them.
    List {
        #[arg(long)]
        agent: String,
        #[command(flatten)]
        places: Places,
    },
    /// Fetch what the lockfile records into the store (on a fresh data dir).
    Sync {
        #[command(flatten)]
        places: Places,
    },
}

#[derive(Subcommand)]
pub(super) enum RegistryCommand {
    /// Sign a package and add it to a registry directory.
    Publish {
        package: PathBuf,
        #[arg(long)]
        registry: PathBuf,
        #[arg(long)]
        key: PathBuf,
    },
    /// Mark a version yanked: kept for lockfiles, never chosen again.
    Yank {
        /// NAME@VERSION
        release: String,
        #[arg(long)]
        registry: PathBuf,
    },
    /// Serve a registry directory over HTTP, read-only.
    Serve {
        dir: PathBuf,
        #[arg(long, default_value = "127.0.0.1:7880")]
        addr: SocketAddr,
    },
}

fn split_requirement(text: &str) -> anyhow::Result<(String, semver::VersionReq)> {
    match text.split_once('@') {
        None => Ok((text.to_owned(), semver::VersionReq::STAR)),
        Some((name, requirement)) => Ok((
            name.to_owned(),
            requirement
                .parse()
                .with_context(|| format!("'{requirement}' is not a version requirement"))?,
        )),
    }
}

/// The keys `config` trusts for the registry at `url`.
fn trusted(config: &ConfigDir, url: &url::Url) -> Vec<PublicKey> {
    let same =
        |u: &url::Url| u.as_str().trim_end_matches('/') == url.as_str().trim_end_matches('/');
    config
        .host
        .registries
        .values()
        .filter(|r| same(&r.url))
        .flat_map(|r| r.keys.iter().cloned())
        .collect()
}

fn describe(fetched: &Fetched, url: &url::Url) {
    let release = &fetched.release;
    println!(
        "{} {} from {url}: {}",
        fetched.name, release.version, fetched.manifest.description
    );
    println!(
        "publisher {} (key {}){}",
        release.publisher,
        release.key_id,
        if fetched.key_is_new {
            ", a key this host did not trust before"
        } else {
            ""
        }
    );
    println!("tools:");
    for tool in &fetched.manifest.tools {
        println!("  {:<16} {}", tool.name, tool.description);
    }
    println!("capabilities:");
    for line in install::capabilities(&fetched.manifest) {
        println!("  {line}");
    }
    let left = install::not_granted(&fetched.manifest);
    if !left.is_empty() {
        println!("not granted by installing (the operator grants these in the agent's file):");
        for line in left {
            println!("  {line}");
        }
    }
}

/// Ask a person (or take `--yes`) whether `agent` may get `what`.
async fn consent(
    runtime: &Runtime,
    agent: &AgentId,
    skill: &str,
    what: String,
    details: &[String],
    yes: bool,
) -> anyhow::Result<()> {
    if yes {
        let entry = AuditEntry {
            time: SystemTime::now(),
            agent: agent.to_string(),
            skill: skill.to_owned(),
            tool: String::new(),
            capability: format!("action \"{what}\""),
            decision: "allowed".into(),
            reason: "--yes on the command line".into(),
            channel: Some("cli".into()),
            grant: None,
        };
        audit::append(runtime.db(), &entry)?;
        return Ok(());
    }
    super::attach_prompts(runtime);
    let settings = ConsentSettings {
        mode: Mode::Ask,
        timeout: Duration::from_secs(600),
        fallback: Fallback::Deny,
    };
    let consent = CallConsent::new(
        runtime.consent().clone(),
        agent.clone(),
        Arc::new(settings),
        Session::new(&format!("cli-{}", std::process::id())),
        "(install)".into(),
        "install",
        &details.join("; "),
        Arc::new(SecretScanner::new([])),
        Deadline::after(Duration::from_secs(600)),
    );
    let capability = Capability::Action {
        action: what.clone(),
    };
    match consent
        .decide_by_a_person(capability, &details.join("; "))
        .await
    {
        Verdict::Allowed => Ok(()),
        Verdict::Denied(why) => anyhow::bail!(
            "not installed: {why} (run in a terminal to be asked, or pass --yes after reading the above)"
        ),
    }
}

pub(super) async fn run_skill(command: MarketSkillCommand) -> anyhow::Result<ExitCode> {
    match command {
        MarketSkillCommand::Keygen { publisher, out } => {
            let pair = KeyPair::generate(&publisher)?;
            pair.write(&out)?;
            println!(
                "key {} for publisher '{publisher}' written to {}",
                pair.key_id,
                out.display()
            );
        }
        MarketSkillCommand::Pack { dir, out } => {
            let package = Package::from_dir(&dir)?;
            let manifest = registry::read_manifest(&package)?;
            let bytes = package.pack()?;
            let out =
                out.unwrap_or_else(|| Release::file_name(&manifest.name, &manifest.version).into());
            std::fs::write(&out, &bytes).with_context(|| out.display().to_string())?;
            println!(
                "{} ({} bytes, sha256 {})",
                out.display(),
                bytes.len(),
                sha256_hex(&bytes)
            );
        }
        MarketSkillCommand::Search {
            text,
            registry,
            places,
        } => {
            let runtime = super::open_runtime(&places.host()?)?;
            let client = RegistryClient::new(runtime.egress(), &registry)?;
            let listings = client.names().await?;
            let needle = text.to_lowercase();
            let found: Vec<_> = listings
                .iter()
                .filter(|l| {
                    l.name.contains(&needle) || l.description.to_lowercase().contains(&needle)
                })
                .collect();
            if found.is_empty() {
                println!("no skill matches '{text}'");
            }
            for listing in found {
                println!(
                    "{} {}  {}  (publisher {}, key {})",
                    listing.name,
                    listing.version,
                    listing.description,
                    listing.publisher,
                    listing.key_id
                );
                for other in registry::lookalikes(&listings, listing) {
                    println!(
                        "  looks like '{}' by {} (key {}): check the publisher",
                        other.name, other.publisher, other.key_id
                    );
                }
            }
        }
        MarketSkillCommand::Install {
            skill,
            agent,
            registry,
            trust_new_key,
            yes,
            places,
        } => {
            let (name, requirement) = split_requirement(&skill)?;
            let config = places.load_config()?;
            let agent_id = AgentId::new(&agent).map_err(anyhow::Error::msg)?;
            config
                .agent(agent_id.as_str())
                .map_err(anyhow::Error::msg)?;
            let runtime = super::open_runtime(&config.host)?;
            let client = RegistryClient::new(runtime.egress(), &registry)?;
            let fetched = install::fetch(
                &client,
                &trusted(&config, &registry),
                &name,
                Wanted::Matching(&requirement),
                trust_new_key,
            )
            .await?;
            describe(&fetched, &registry);
            let what = format!(
                "install {name} {} for agent {agent}",
                fetched.release.version
            );
            consent(
                &runtime,
                &agent_id,
                &name,
                what,
                &install::capabilities(&fetched.manifest),
                yes,
            )
            .await?;
            if fetched.key_is_new {
                install::trust_key(&config.host.dir, &registry, &fetched.key)?;
            }
            install::apply(
                &config.host.dir,
                &config.host.data_dir,
                &agent,
                &registry,
                &fetched,
            )?;
            println!(
                "installed {name} {} for agent '{agent}'",
                fetched.release.version
            );
        }
        MarketSkillCommand::Upgrade {
            skill,
            agent,
            trust_new_key,
            yes,
            places,
        } => {
            let (name, requirement) = split_requirement(&skill)?;
            let config = places.load_config()?;
            let agent_id = AgentId::new(&agent).map_err(anyhow::Error::msg)?;
            let lock = Lockfile::read(&config.host.dir).map_err(anyhow::Error::msg)?;
            let current = lock
                .get(&agent, &name)
                .with_context(|| {
                    format!("agent '{agent}' has no skill '{name}' installed from a registry")
                })?
                .clone();
            let registry: url::Url = current.registry.parse()?;
            let runtime = super::open_runtime(&config.host)?;
            let client = RegistryClient::new(runtime.egress(), &registry)?;
            let fetched = install::fetch(
                &client,
                &trusted(&config, &registry),
                &name,
                Wanted::Matching(&requirement),
                trust_new_key,
            )
            .await?;
            if fetched.release.version <= current.version {
                println!("{name} {} is the newest that matches", current.version);
                return Ok(ExitCode::SUCCESS);
            }
            let old =
                crate::config::Manifest::load(&store_dir(&config.host.data_dir, &current.sha256))
                    .map_err(|e| anyhow::anyhow!("{e}; run `skillbox skill sync` first"))?;
            let (before, after) = (
                install::capabilities(&old),
                install::capabilities(&fetched.manifest),
            );
            let added: Vec<String> = after
                .iter()
                .filter(|c| !before.contains(c))
                .cloned()
                .collect();
            println!(
                "{name} {} -> {} (publisher {}, key {})",
                current.version,
                fetched.release.version,
                fetched.release.publisher,
                fetched.release.key_id
            );
            for line in &added {
                println!("  + {line}");
            }
            for line in before.iter().filter(|c| !after.contains(c)) {
                println!("  - {line}");
            }
            if added.is_empty() && !fetched.key_is_new {
                println!("  no new capability: no consent needed");
            } else {
                let what = format!(
                    "upgrade {name} to {} for agent {agent}",
                    fetched.release.version
                );
                consent(&runtime, &agent_id, &name, what, &added, yes).await?;
            }
            if fetched.key_is_new {
                install::trust_key(&config.host.dir, &registry, &fetched.key)?;
            }
            // Replaces the skill's entry, grants and lockfile line at once.
            install::apply(
                &config.host.dir,
                &config.host.data_dir,
                &agent,
                &registry,
                &fetched,
            )?;
            println!(
                "upgraded {name} to {} for agent '{agent}'",
                fetched.release.version
            );
        }
        MarketSkillCommand::Remove {
            name,
            agent,
            places,
        } => {
            let config = places.load_config()?;
            let removed = install::remove(&config.host.dir, &agent, &name)?;
            println!("removed {name} {} from agent '{agent}'", removed.version);
        }
        MarketSkillCommand::List { agent, places } => {
            let config = places.load_config()?;
            let lock = Lockfile::read(&config.host.dir).map_err(anyhow::Error::msg)?;
            for locked in lock.skills.iter().filter(|l| l.agent == agent) {
                println!(
                    "{} {}  from {}  key {}  sha256 {}",
                    locked.name, locked.version, locked.registry, locked.key_id, locked.sha256
                );
            }
        }
        MarketSkillCommand::Sync { places } => {
            let config = places.load_config()?;
            let lock = Lockfile::read(&config.host.dir).map_err(anyhow::Error::msg)?;
            let runtime = super::open_runtime(&config.host)?;
            for locked in &lock.skills {
                if store_dir(&config.host.data_dir, &locked.sha256).exists() {
                    continue;
                }
                let registry: url::Url = locked.registry.parse()?;
                let client = RegistryClient::new(runtime.egress(), &registry)?;
                let fetched = install::fetch(
                    &client,
                    &trusted(&config, &registry),
                    &locked.name,
                    Wanted::Locked(locked),
                    false,
                )
                .await?;
                crate::market::store::add(&config.host.data_dir, &locked.sha256, &fetched.package)?;
                println!(
                    "fetched {} {} for agent '{}'",
                    locked.name, locked.version, locked.agent
                );
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub(super) async fn run_registry(command: RegistryCommand) -> anyhow::Result<ExitCode> {
    match command {
        RegistryCommand::Publish {
            package,
            registry,
            key,
        } => {
            let bytes = std::fs::read(&package).with_context(|| package.display().to_string())?;
            let key = KeyPair::read(&key)?;
            let release = registry::publish(&registry, &bytes, &key)?;
            println!(
                "published {} signed by key {} ({}) in {}",
                release.version,
                release.key_id,
                release.publisher,
                registry.display()
            );
        }
        RegistryCommand::Yank { release, registry } => {
            let (name, version) = release
                .split_once('@')
                .context("name the release as NAME@VERSION")?;
            registry::yank(&registry, name, &version.parse()?)?;
            println!("yanked {name} {version}");
        }
        RegistryCommand::Serve { dir, addr } => {
            crate::market::serve::serve(&dir, addr).await?;
        }
    }
    Ok(ExitCode::SUCCESS)
}
