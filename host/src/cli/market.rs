//! The marketplace commands: `skillbox skill keygen|pack|search|install|
//! upgrade|remove|list|sync` and `skillbox registry publish|yank|refresh|
//! serve`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Subcommand;
use serde_json::json;

use super::Places;
use super::output::{eout, outln};
use crate::api::{AdminClient, SkillChange};
use crate::egress::Egress;
use crate::market::install::{self, Agreement, Allowed, Plan, PlanSummary, Source, Upgrade};
use crate::market::lock::{Locked, Lockfile};
use crate::market::package::{Package, sha256_hex};
use crate::market::registry::{self, Listing, Release};
use crate::market::signing::KeyPair;
use crate::runtime::Runtime;
use crate::vocab::AgentId;

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
        /// Install a version older than the one installed: shown as a
        /// downgrade, and asked about like any install.
        #[arg(long)]
        allow_downgrade: bool,
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
        /// Move to an older version if that is the newest that matches:
        /// shown as a downgrade, and always asked about.
        #[arg(long)]
        allow_downgrade: bool,
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
        /// The key that signs the index anew.
        #[arg(long)]
        key: PathBuf,
    },
    /// Sign a skill's index anew, unchanged, before it expires (hosts
    /// refuse an expired index); run it at least every 30 days.
    Refresh {
        name: String,
        #[arg(long)]
        registry: PathBuf,
        #[arg(long)]
        key: PathBuf,
    },
    /// Serve a registry directory over HTTP, read-only.
    Serve {
        dir: PathBuf,
        #[arg(long, default_value = "127.0.0.1:7880")]
        addr: SocketAddr,
    },
}

/// A plan, for the person who decides: an install's review, or what an
/// upgrade or a downgrade changes.
fn show_plan(plan: &PlanSummary) {
    match &plan.from {
        None => show_install(plan),
        Some(from) => show_change(plan, from),
    }
}

fn show_install(plan: &PlanSummary) {
    outln!(
        "{} {} from {}: {}",
        plan.name,
        plan.version,
        plan.registry,
        plan.description
    );
    outln!(
        "publisher {} (key {}){}",
        plan.publisher,
        plan.key_id,
        if plan.key_is_new {
            ", a key this host did not trust before"
        } else {
            ""
        }
    );
    show_index_says(plan);
    outln!("tools:");
    for (name, description) in &plan.tools {
        outln!("  {name:<16} {description}");
    }
    outln!("capabilities:");
    for line in &plan.capabilities {
        outln!("  {line}");
    }
    match plan.limits.is_empty() {
        true => outln!("limits: within the host's defaults"),
        false => {
            outln!("limits beyond the host's defaults (agreeing grants them):");
            for line in &plan.limits {
                outln!("  {line}");
            }
        }
    }
    if !plan.left.is_empty() {
        outln!("not granted by installing (the operator grants these in the agent's file):");
        for line in &plan.left {
            outln!("  {line}");
        }
    }
}

/// A publisher name the index gives that is not the key's.
fn show_index_says(plan: &PlanSummary) {
    if let Some(claimed) = &plan.index_says {
        outln!(
            "  the index names the publisher '{claimed}', but key {} is {}'s",
            plan.key_id,
            plan.publisher
        );
    }
}

/// An upgrade's or a downgrade's plan: what changes.
fn show_change(plan: &PlanSummary, from: &semver::Version) {
    let older = match plan.version < *from {
        true => "  DOWNGRADE: an older version than installed",
        false => "",
    };
    outln!(
        "{} {from} -> {} (publisher {}, key {}){older}",
        plan.name,
        plan.version,
        plan.publisher,
        plan.key_id
    );
    show_index_says(plan);
    if let Some(was) = &plan.key_was {
        outln!("  signed by another key than {from}: was {was}");
    }
    for line in &plan.added {
        outln!("  + {line}");
    }
    for line in &plan.removed {
        outln!("  - {line}");
    }
    for tool in &plan.tools_added {
        outln!("  + tool {tool}");
    }
    for tool in &plan.tools_removed {
        outln!("  - tool {tool}");
    }
    for line in &plan.limits_added {
        outln!("  + limit {line}");
    }
    if plan.asks.is_none() {
        outln!("  nothing new it may do: no consent needed");
    }
}

/// Have a person agree to `plan` (or take `--yes`), then do it.
async fn agree_and_commit(runtime: &Runtime, plan: &Plan, yes: bool) -> anyhow::Result<()> {
    let agreement = match yes {
        true => Agreement::CommandLine,
        false => Agreement::Ask,
    };
    if agreement == Agreement::Ask && plan.asks().is_some() {
        super::attach_prompts(runtime)?;
    }
    let by = "the command line";
    install::agree(runtime.consent(), runtime.db(), plan, agreement, by).await?;
    let host = runtime.host();
    install::commit(plan, &host.dir, &host.data_dir, runtime.db(), by).await?;
    Ok(())
}

/// `skill remove`: through the running server if there is one, else in
/// the configuration directory.
async fn remove(name: &str, agent: &str, places: &Places) -> anyhow::Result<()> {
    let config = places.load_config()?;
    let version = match AdminClient::of(&config.host.data_dir) {
        Some(server) => {
            let request = json!({ "agent": agent, "name": name });
            let mut done = server.post("/v1/admin/skills/remove", &request).await?;
            let removed: Locked = serde_json::from_value(done["removed"].take())?;
            removed.version.to_string()
        }
        None => install::remove(&config.host.dir, agent, name)?
            .version
            .to_string(),
    };
    outln!("removed {name} {version} from agent '{agent}'");
    Ok(())
}

pub(super) async fn run_skill(command: MarketSkillCommand) -> anyhow::Result<ExitCode> {
    match command {
        MarketSkillCommand::Keygen { publisher, out } => {
            let pair = KeyPair::generate(&publisher)?;
            pair.write(&out)?;
            outln!(
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
            outln!(
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
        } => search(&text, &registry, &places).await?,
        MarketSkillCommand::Install {
            skill,
            agent,
            registry,
            trust_new_key,
            allow_downgrade,
            yes,
            places,
        } => {
            let allowed = Allowed {
                new_key: trust_new_key,
                downgrade: allow_downgrade,
            };
            install(&skill, &agent, &registry, allowed, yes, &places).await?
        }
        MarketSkillCommand::Upgrade {
            skill,
            agent,
            trust_new_key,
            allow_downgrade,
            yes,
            places,
        } => {
            let allowed = Allowed {
                new_key: trust_new_key,
                downgrade: allow_downgrade,
            };
            upgrade(&skill, &agent, allowed, yes, &places).await?
        }
        MarketSkillCommand::Remove {
            name,
            agent,
            places,
        } => remove(&name, &agent, &places).await?,
        MarketSkillCommand::List { agent, places } => {
            let config = places.load_config()?;
            let lock = Lockfile::read(&config.host.dir)?;
            for locked in lock.skills.iter().filter(|l| l.agent.as_str() == agent) {
                outln!(
                    "{} {}  from {}  key {}  sha256 {}",
                    locked.name,
                    locked.version,
                    locked.registry,
                    locked.key_id,
                    locked.sha256
                );
            }
        }
        MarketSkillCommand::Sync { places } => {
            // Files and the network only: it runs beside a server.
            let config = places.load_config()?;
            let egress = Egress::new(config.host.hosts.clone());
            for locked in install::missing(&config.host)? {
                install::sync(&config.host, &egress, &locked).await?;
                outln!(
                    "fetched {} {} for agent '{}'",
                    locked.name,
                    locked.version,
                    locked.agent
                );
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `skill install`: plan, show, agree, commit.
async fn install(
    skill: &str,
    agent: &str,
    registry: &url::Url,
    allowed: Allowed,
    yes: bool,
    places: &Places,
) -> anyhow::Result<()> {
    let (name, requirement) = install::parse_requirement(skill)?;
    let agent = AgentId::new(agent)?;
    let config = places.load_config()?;
    config.agent(agent.as_str())?;
    if let Some(server) = AdminClient::of(&config.host.data_dir) {
        let request = json!({
            "agent": agent, "skill": skill, "registry": registry,
            "trust_new_key": allowed.new_key, "allow_downgrade": allowed.downgrade,
        });
        let path = "/v1/admin/skills/install";
        if let SkillChange::Done(plan) = server
            .change_skill(path, request, yes, show_plan, confirmed)
            .await?
        {
            outln!("installed {name} {} for agent '{agent}'", plan.version);
        }
        return Ok(());
    }
    let runtime = super::open_runtime(&config.host)?;
    let source = Source::new(&config.host, runtime.egress(), registry, allowed)?;
    let plan = install::plan_install(&config.host, &source, &agent, &name, &requirement).await?;
    show_plan(&plan.summary());
    agree_and_commit(&runtime, &plan, yes).await?;
    let version = &plan.fetched.release.version;
    outln!("installed {name} {version} for agent '{agent}'");
    Ok(())
}

/// `skill upgrade`: plan, show what changes, agree if it grows, commit.
async fn upgrade(
    skill: &str,
    agent: &str,
    allowed: Allowed,
    yes: bool,
    places: &Places,
) -> anyhow::Result<()> {
    let (name, requirement) = install::parse_requirement(skill)?;
    let agent = AgentId::new(agent)?;
    let config = places.load_config()?;
    if let Some(server) = AdminClient::of(&config.host.data_dir) {
        let request = json!({
            "agent": agent, "skill": skill,
            "trust_new_key": allowed.new_key, "allow_downgrade": allowed.downgrade,
        });
        let path = "/v1/admin/skills/upgrade";
        match server
            .change_skill(path, request, yes, show_plan, confirmed)
            .await?
        {
            SkillChange::Done(plan) => {
                outln!("upgraded {name} to {} for agent '{agent}'", plan.version)
            }
            SkillChange::Newest => outln!("{name} is at the newest version that matches"),
        }
        return Ok(());
    }
    let runtime = super::open_runtime(&config.host)?;
    let egress = runtime.egress();
    let planned = install::plan_upgrade(&config.host, egress, &agent, &name, &requirement, allowed);
    match planned.await? {
        Upgrade::Newest(version) => outln!("{name} {version} is the newest that matches"),
        Upgrade::Plan(plan) => {
            show_plan(&plan.summary());
            agree_and_commit(&runtime, &plan, yes).await?;
            let version = &plan.fetched.release.version;
            outln!("upgraded {name} to {version} for agent '{agent}'");
        }
    }
    Ok(())
}

/// Whether the person at this terminal agrees to `what`; no when there is
/// no terminal to ask at, or it cannot be read.
fn confirmed(what: &str) -> bool {
    use std::io::{BufRead, IsTerminal};
    if !std::io::stdin().is_terminal() {
        return false;
    }
    eout!("{what}? [y/N] ");
    let mut line = String::new();
    match std::io::stdin().lock().read_line(&mut line) {
        Ok(_) => matches!(line.trim(), "y" | "Y" | "yes"),
        Err(_) => false,
    }
}

/// `skill search`: the registry's skills whose name or description holds
/// `text`, each with its publisher, and the look-alikes of each. A
/// publisher is named as this host trusts its key, or marked unverified.
async fn search(text: &str, registry: &url::Url, places: &Places) -> anyhow::Result<()> {
    let host = places.host()?;
    let trusted = crate::market::trusted_keys(&host.registries, registry.as_str());
    let publisher = |l: &Listing| registry::publisher(&l.key_id, &l.publisher, &trusted);
    let egress = Egress::new(host.hosts);
    let client = crate::market::client::RegistryClient::new(&egress, registry)?;
    let listings = client.names().await?;
    let found = registry::search(&listings, text);
    if found.is_empty() {
        outln!("no skill matches '{text}'");
    }
    for (listing, lookalikes) in found {
        outln!(
            "{} {}  {}  (publisher {}, key {})",
            listing.name,
            listing.version,
            listing.description,
            publisher(listing),
            listing.key_id
        );
        for other in lookalikes {
            outln!(
                "  looks like '{}' by {} (key {}): check the publisher",
                other.name,
                publisher(other),
                other.key_id
            );
        }
    }
    Ok(())
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
            outln!(
                "published {} signed by key {} ({}) in {}",
                release.version,
                release.key_id,
                release.publisher,
                registry.display()
            );
        }
        RegistryCommand::Yank {
            release,
            registry,
            key,
        } => {
            let (name, version) = release
                .split_once('@')
                .context("name the release as NAME@VERSION")?;
            registry::yank(&registry, name, &version.parse()?, &KeyPair::read(&key)?)?;
            outln!("yanked {name} {version}");
        }
        RegistryCommand::Refresh {
            name,
            registry,
            key,
        } => {
            let index = registry::refresh(&registry, &name, &KeyPair::read(&key)?)?;
            outln!(
                "signed the index of {name} as version {}, good until {}",
                index.version,
                humantime::format_rfc3339(index.expires)
            );
        }
        RegistryCommand::Serve { dir, addr } => {
            crate::market::serve::check_dir(&dir)?;
            let listener = tokio::net::TcpListener::bind(addr)
                .await
                .with_context(|| format!("cannot listen on {addr}"))?;
            outln!(
                "registry {} served on http://{}",
                dir.display(),
                listener.local_addr()?
            );
            crate::market::serve::serve(&dir, listener, super::stopped()).await?;
        }
    }
    Ok(ExitCode::SUCCESS)
}
