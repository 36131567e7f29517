//! The marketplace as its users run it: a real `skillbox registry serve`
//! on 127.0.0.1, and `skillbox skill search|install|upgrade|remove|list|
//! sync` against it. The packages are the `text` skill's component under
//! manifests of several versions that ask for more or less.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Output, Stdio};

use skillbox::market::package::Package;
use skillbox::market::registry;
use skillbox::market::signing::KeyPair;

use crate::util::{repo, run, skillbox as command};

/// The `text` skill at `version`, asking for `capabilities` (TOML).
fn text(version: &str, capabilities: &str) -> Package {
    let dir = repo().join("skills/text");
    let mut package = Package::from_dir(&dir).unwrap();
    let manifest = String::from_utf8(package.manifest)
        .unwrap()
        .replace("version = \"0.1.0\"", &format!("version = \"{version}\""));
    package.manifest = format!("{manifest}\n[capabilities]\n{capabilities}\n").into_bytes();
    package
}

const NETWORK: &str = "network = [\"https://api.example.com\"]";

/// A registry directory: `text` 1.0.0 (memory and one host), 1.1.0 (memory
/// only), 1.2.0 (memory and two hosts), 1.3.0 (yanked), signed by acme.
fn registry() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let key = KeyPair::generate("acme").unwrap();
    for (version, capabilities) in [
        ("1.0.0", format!("memory = true\n{NETWORK}")),
        ("1.1.0", "memory = true".to_owned()),
        (
            "1.2.0",
            "memory = true\nnetwork = [\"https://api.example.com\", \"https://*.example.org\"]"
                .to_owned(),
        ),
        ("1.3.0", "memory = true".to_owned()),
    ] {
        let bytes = text(version, &capabilities).pack().unwrap();
        registry::publish(dir.path(), &bytes, &key).unwrap();
    }
    registry::yank(dir.path(), "text", &"1.3.0".parse().unwrap(), &key).unwrap();
    dir
}

/// `skillbox registry serve`; killed when dropped.
struct Served {
    child: Child,
    url: String,
}

impl Served {
    fn start(dir: &Path) -> Served {
        let mut child = command()
            .args(["registry", "serve"])
            .arg(dir)
            .args(["--addr", "127.0.0.1:0"])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut first = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut first)
            .unwrap();
        let url = first
            .split_whitespace()
            .find(|w| w.starts_with("http://"))
            .unwrap_or_else(|| panic!("no address in {first:?}"))
            .to_owned();
        Served { child, url }
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A configuration directory with the agent `ops`, which has no skill.
fn config() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("agents")).unwrap();
    std::fs::write(dir.path().join("agents/ops.toml"), "id = \"ops\"\n").unwrap();
    dir
}

fn skillbox(config: &Path, args: &[&str]) -> Output {
    run(command()
        .args(args)
        .arg("--config")
        .arg(config)
        .stdin(Stdio::null()))
}

fn ok(output: Output) -> String {
    assert!(
        output.status.success(),
        "failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

fn failed(output: Output) -> String {
    assert!(
        !output.status.success(),
        "succeeded: {}",
        String::from_utf8_lossy(&output.stdout)
    );
    String::from_utf8(output.stderr).unwrap()
}

fn count_words(config: &Path, extra: &[&str]) -> Output {
    let mut args = vec![
        "skill",
        "run",
        "text",
        "--tool",
        "word_count",
        "--input",
        r#"{"text":"one two three"}"#,
        "--agent",
        "ops",
    ];
    args.extend_from_slice(extra);
    skillbox(config, &args)
}

fn locked_version(config: &Path) -> Option<String> {
    let lock = skillbox::market::lock::Lockfile::read(config).unwrap();
    lock.get("ops", "text").map(|l| l.version.to_string())
}

#[test]
fn search_install_upgrade_and_remove() {
    let registry = registry();
    let served = Served::start(registry.path());
    let config = config();
    let config = config.path();
    let url = served.url.as_str();

    let found = ok(skillbox(
        config,
        &["skill", "search", "text", "--registry", url],
    ));
    assert!(
        found.contains("text 1.2.0"),
        "the newest not yanked: {found}"
    );
    assert!(found.contains("publisher acme"), "{found}");

    let shown = ok(skillbox(
        config,
        &[
            "skill",
            "install",
            "text@=1.0.0",
            "--agent",
            "ops",
            "--registry",
            url,
            "--trust-new-key",
            "--yes",
        ],
    ));
    assert!(
        shown.contains("may send HTTPS requests to api.example.com"),
        "{shown}"
    );
    assert!(
        shown.contains("may keep data in its own storage"),
        "{shown}"
    );
    assert!(shown.contains("word_count"), "{shown}");
    assert_eq!(locked_version(config).as_deref(), Some("1.0.0"));
    let agent = std::fs::read_to_string(config.join("agents/ops.toml")).unwrap();
    assert!(
        agent.contains("installed = \"1.0.0\"") && agent.contains("text.*"),
        "{agent}"
    );
    let host = std::fs::read_to_string(config.join("skillbox.toml")).unwrap();
    assert!(
        host.contains("publisher = \"acme\""),
        "the key is pinned: {host}"
    );
    assert!(ok(count_words(config, &[])).contains("\"words\":3"));
    let listed = ok(skillbox(config, &["skill", "list", "--agent", "ops"]));
    assert!(listed.starts_with("text 1.0.0"), "{listed}");

    // Fewer capabilities: no one is asked (and here, no one could be).
    let shrink = ok(skillbox(
        config,
        &["skill", "upgrade", "text@~1.1", "--agent", "ops"],
    ));
    assert!(
        shrink.contains("- may send HTTPS requests to api.example.com"),
        "{shrink}"
    );
    assert!(shrink.contains("no consent needed"), "{shrink}");
    assert_eq!(locked_version(config).as_deref(), Some("1.1.0"));

    // More: a person must agree; without one, nothing changes.
    let refused = failed(skillbox(
        config,
        &["skill", "upgrade", "text", "--agent", "ops"],
    ));
    assert!(refused.contains("not installed"), "{refused}");
    assert_eq!(locked_version(config).as_deref(), Some("1.1.0"));
    let grown = ok(skillbox(
        config,
        &["skill", "upgrade", "text", "--agent", "ops", "--yes"],
    ));
    assert!(
        grown.contains("+ may send HTTPS requests to api.example.com"),
        "{grown}"
    );
    assert!(
        grown.contains("+ may send HTTPS requests to *.example.org"),
        "{grown}"
    );
    // 1.3.0 is yanked: never chosen.
    assert_eq!(locked_version(config).as_deref(), Some("1.2.0"));
    assert!(ok(count_words(config, &[])).contains("\"words\":3"));

    ok(skillbox(
        config,
        &["skill", "remove", "text", "--agent", "ops"],
    ));
    assert_eq!(locked_version(config), None);
    let agent = std::fs::read_to_string(config.join("agents/ops.toml")).unwrap();
    assert!(!agent.contains("text"), "{agent}");
    failed(count_words(config, &[]));
}

#[test]
fn a_downgrade_is_refused_unless_allowed_and_then_shown_as_one() {
    let registry = registry();
    let served = Served::start(registry.path());
    let config = config();
    let config = config.path();
    let install = |version: &str, extra: &[&str]| {
        let skill = format!("text@={version}");
        let mut args = vec!["skill", "install", &skill, "--agent", "ops"];
        args.extend_from_slice(&["--registry", &served.url, "--trust-new-key"]);
        args.extend_from_slice(extra);
        skillbox(config, &args)
    };
    ok(install("1.2.0", &["--yes"]));

    let refused = failed(install("1.0.0", &["--yes"]));
    assert!(
        refused.contains("refused as a downgrade") && refused.contains("--allow-downgrade"),
        "{refused}"
    );
    assert_eq!(locked_version(config).as_deref(), Some("1.2.0"));
    let shown = ok(install("1.0.0", &["--allow-downgrade", "--yes"]));
    assert!(
        shown.contains("text 1.2.0 -> 1.0.0") && shown.contains("DOWNGRADE"),
        "{shown}"
    );
    assert!(
        shown.contains("- may send HTTPS requests to *.example.org"),
        "{shown}"
    );
    assert_eq!(locked_version(config).as_deref(), Some("1.0.0"));
}

#[test]
fn refresh_signs_an_index_anew_with_nothing_else_changed() {
    let work = tempfile::tempdir().unwrap();
    let (registry, key) = (work.path().join("registry"), work.path().join("key.json"));
    let pair = KeyPair::generate("acme").unwrap();
    pair.write(&key).unwrap();
    let bytes = text("1.0.0", NETWORK).pack().unwrap();
    registry::publish(&registry, &bytes, &pair).unwrap();
    let index = registry.join("index/text.json");
    let read = || -> serde_json::Value {
        serde_json::from_slice(&std::fs::read(&index).unwrap()).unwrap()
    };
    let before = read();

    let refresh = |name: &str| {
        let args = ["registry", "refresh", name, "--registry"];
        run(command().args(args).arg(&registry).arg("--key").arg(&key))
    };
    let refreshed = ok(refresh("text"));
    assert!(
        refreshed.contains("signed the index of text as version 2, good until"),
        "{refreshed}"
    );
    let after = read();
    assert_eq!(after["signed"]["versions"], before["signed"]["versions"]);
    assert_ne!(after["signature"], before["signature"]);
    let missing = failed(refresh("txet"));
    assert!(missing.contains("index/txet.json"), "{missing}");
    let outside = failed(refresh("../text"));
    assert!(
        outside.contains("'../text' is not a skill name"),
        "{outside}"
    );
}

#[test]
fn an_untrusted_key_installs_nothing() {
    let registry = registry();
    let served = Served::start(registry.path());
    let config = config();
    let before = std::fs::read_to_string(config.path().join("agents/ops.toml")).unwrap();

    let refused = failed(skillbox(
        config.path(),
        &[
            "skill",
            "install",
            "text",
            "--agent",
            "ops",
            "--registry",
            &served.url,
            "--yes",
        ],
    ));
    assert!(
        refused.contains("not trust") && refused.contains("acme"),
        "{refused}"
    );
    assert!(!config.path().join("skillbox.lock").exists());
    assert!(!config.path().join("skillbox.toml").exists());
    assert!(!config.path().join("data/store").exists());
    let after = std::fs::read_to_string(config.path().join("agents/ops.toml")).unwrap();
    assert_eq!(before, after);
}

#[test]
fn the_lockfile_is_honoured_on_a_fresh_data_dir() {
    let registry = registry();
    let served = Served::start(registry.path());
    let config = config();
    let config = config.path();
    ok(skillbox(
        config,
        &[
            "skill",
            "install",
            "text@=1.0.0",
            "--agent",
            "ops",
            "--registry",
            &served.url,
            "--trust-new-key",
            "--yes",
        ],
    ));

    let fresh = tempfile::tempdir().unwrap();
    let fresh = fresh.path().to_str().unwrap();
    let missing = failed(count_words(config, &["--data-dir", fresh]));
    assert!(missing.contains("skillbox skill sync"), "{missing}");
    let synced = ok(skillbox(config, &["skill", "sync", "--data-dir", fresh]));
    assert!(
        synced.contains("text 1.0.0"),
        "the locked version, not the newest: {synced}"
    );
    assert!(ok(count_words(config, &["--data-dir", fresh])).contains("\"words\":3"));
}

#[test]
fn a_skill_tampered_after_install_is_quarantined_and_never_run() {
    let registry = registry();
    let served = Served::start(registry.path());
    let config = config();
    let config = config.path();
    ok(skillbox(
        config,
        &[
            "skill",
            "install",
            "text@=1.0.0",
            "--agent",
            "ops",
            "--registry",
            &served.url,
            "--trust-new-key",
            "--yes",
        ],
    ));
    let lock = skillbox::market::lock::Lockfile::read(config).unwrap();
    let store = config.join("data/store").join(&lock.skills[0].sha256);
    let component = store.join("text.wasm");
    let mut bytes = std::fs::read(&component).unwrap();
    bytes.extend_from_slice(b"\0\0");
    std::fs::write(&component, bytes).unwrap();

    let refused = failed(count_words(config, &[]));
    assert!(
        refused.contains("failed its check") && refused.contains("quarantine"),
        "{refused}"
    );
    assert!(!store.exists(), "moved out of the store");
    assert_eq!(
        std::fs::read_dir(config.join("data/quarantine"))
            .unwrap()
            .count(),
        1
    );
    let audit = ok(skillbox(config, &["audit", "ops", "--json"]));
    assert!(audit.contains("quarantined"), "{audit}");
    // Still refused, not run from anywhere else.
    failed(count_words(config, &[]));
}

#[test]
fn the_first_party_skills_publish_install_and_run() {
    // What scripts/build-registry does, step by step through the CLI.
    let work = tempfile::tempdir().unwrap();
    let (registry, key) = (work.path().join("registry"), work.path().join("key.json"));
    let bare = |args: &[&str]| {
        let output = command().args(args).output().unwrap();
        ok(output)
    };
    let key_arg = key.to_str().unwrap();
    let registry_arg = registry.to_str().unwrap();
    bare(&[
        "skill",
        "keygen",
        "--publisher",
        "skillbox",
        "--out",
        key_arg,
    ]);
    let mode =
        std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&key).unwrap().permissions());
    assert_eq!(mode & 0o777, 0o600);
    for skill in ["text", "notes", "web", "files"] {
        let package = work.path().join(format!("{skill}.skill"));
        let dir = repo().join("skills").join(skill);
        bare(&[
            "skill",
            "pack",
            dir.to_str().unwrap(),
            "--out",
            package.to_str().unwrap(),
        ]);
        bare(&[
            "registry",
            "publish",
            package.to_str().unwrap(),
            "--registry",
            registry_arg,
            "--key",
            key_arg,
        ]);
    }
    let again = command()
        .args(["registry", "publish"])
        .arg(work.path().join("notes.skill"))
        .args(["--registry", registry_arg, "--key", key_arg])
        .output()
        .unwrap();
    assert!(failed(again).contains("already published"));

    let served = Served::start(&registry);
    let config = config();
    let config = config.path();
    let found = ok(skillbox(
        config,
        &["skill", "search", "", "--registry", &served.url],
    ));
    assert_eq!(
        found
            .lines()
            .filter(|l| l.contains("publisher skillbox"))
            .count(),
        4,
        "{found}"
    );
    ok(skillbox(
        config,
        &[
            "skill",
            "install",
            "notes",
            "--agent",
            "ops",
            "--registry",
            &served.url,
            "--trust-new-key",
            "--yes",
        ],
    ));
    let remember = r#"{"key":"k","text":"kept"}"#;
    ok(skillbox(
        config,
        &[
            "skill", "run", "notes", "--tool", "remember", "--input", remember, "--agent", "ops",
        ],
    ));
    let recalled = ok(skillbox(
        config,
        &[
            "skill",
            "run",
            "notes",
            "--tool",
            "recall",
            "--input",
            r#"{"key":"k"}"#,
            "--agent",
            "ops",
        ],
    ));
    assert!(recalled.contains("\"text\":\"kept\""), "{recalled}");
}

#[tokio::test(flavor = "multi_thread")]
async fn through_a_running_server_only_the_plan_a_person_agreed_to_is_made() {
    let registry = registry();
    let market = Served::start(registry.path());
    let config = config();
    let config = config.path();
    let server = crate::served::Server::start(config);
    let url = market.url.as_str();
    let install = ["skill", "install", "text@=1.0.0", "--agent", "ops"];
    let from = ["--registry", url, "--trust-new-key"];

    // No terminal to ask at, no --yes: the plan is shown, nothing is made.
    let unagreed = skillbox(config, &[&install[..], &from[..]].concat());
    assert!(!unagreed.status.success());
    let shown = String::from_utf8_lossy(&unagreed.stdout);
    assert!(
        shown.contains("may send HTTPS requests to api.example.com"),
        "{shown}"
    );
    let refused = String::from_utf8_lossy(&unagreed.stderr);
    assert!(refused.contains("no one agreed to"), "{refused}");
    assert_eq!(locked_version(config), None);

    let installed = ok(skillbox(
        config,
        &[&install[..], &from[..], &["--yes"]].concat(),
    ));
    assert!(
        installed.contains("installed text 1.0.0 for agent 'ops'"),
        "{installed}"
    );
    assert_eq!(locked_version(config).as_deref(), Some("1.0.0"));
    // The server reloaded: its agent has the skill at once.
    assert!(ok(count_words(config, &[])).contains("\"words\":3"));

    // Over HTTP, with the admin token: nobody is prompted from here, and
    // the plan agreed to must be the plan made.
    let api = crate::served::Api::new(&server);
    let admin = server.token("--admin");
    let upgrade = "/v1/admin/skills/upgrade";
    let asked = serde_json::json!({ "agent": "ops", "skill": "text", "agreement": "ask" });
    let (status, body) = api.post(upgrade, &admin, asked).await;
    assert_eq!(status, 400, "{body}");
    let request = serde_json::json!({ "agent": "ops", "skill": "text" });
    let (status, body) = api.post(upgrade, &admin, request.clone()).await;
    assert_eq!(status, 409, "{body}");
    let plan = body["plan"].clone();
    assert_eq!(plan["version"], "1.2.0");
    assert!(
        plan["sha256"].as_str().is_some_and(|s| s.len() == 64),
        "{plan}"
    );
    let mut other = plan.clone();
    other["sha256"] = "0".repeat(64).into();
    let mut agreed = request.clone();
    agreed["agreement"] = "terminal".into();
    agreed["agreed_to"] = other;
    let (status, body) = api.post(upgrade, &admin, agreed.clone()).await;
    assert_eq!(status, 409, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("changed"),
        "{body}"
    );
    assert_eq!(locked_version(config).as_deref(), Some("1.0.0"));

    agreed["agreed_to"] = plan;
    let (status, body) = api.post(upgrade, &admin, agreed).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(locked_version(config).as_deref(), Some("1.2.0"));
    let audit = ok(skillbox(config, &["audit", "ops", "--json"]));
    let entries: Vec<serde_json::Value> = audit
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let [.., agreed, upgraded] = entries.as_slice() else {
        panic!("{audit}")
    };
    assert_eq!(
        agreed["reason"], "agreed by the holder of an admin token",
        "{audit}"
    );
    assert_eq!(agreed["channel"], "api");
    assert_eq!(upgraded["event"], "install", "{audit}");
    assert_eq!(upgraded["decision"], "upgraded", "{audit}");
    assert_eq!(agreed["by"], upgraded["by"], "{audit}");

    let removed = ok(skillbox(
        config,
        &["skill", "remove", "text", "--agent", "ops"],
    ));
    assert!(removed.contains("removed text 1.2.0"), "{removed}");
    assert_eq!(locked_version(config), None);
}
