//! The `skillbox` binary, run as a user runs it.

use std::path::Path;
use std::process::Output;

use crate::util::{repo, run, skillbox as command};

fn skillbox(data_dir: &Path, args: &[&str]) -> Output {
    run(command()
        .args(args)
        .arg("--data-dir")
        .arg(data_dir)
        .current_dir(repo()))
}

fn stdout_json(output: &Output) -> serde_json::Value {
    assert!(
        output.status.success(),
        "skillbox failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("stdout is JSON")
}

#[test]
fn word_count_prints_its_json_result() {
    let data = tempfile::tempdir().unwrap();
    let output = skillbox(
        data.path(),
        &[
            "skill",
            "run",
            "skills/text",
            "--tool",
            "word_count",
            "--input",
            r#"{"text":"a b c"}"#,
        ],
    );
    assert_eq!(
        stdout_json(&output),
        serde_json::json!({"words": 3, "lines": 1, "chars": 5})
    );
}

#[test]
fn notes_remember_in_one_process_and_recall_in_the_next() {
    let data = tempfile::tempdir().unwrap();
    let remember = skillbox(
        data.path(),
        &[
            "skill",
            "run",
            "skills/notes",
            "--tool",
            "remember",
            "--input",
            r#"{"key":"door","text":"code 4711"}"#,
        ],
    );
    assert_eq!(
        stdout_json(&remember),
        serde_json::json!({"remembered": "door"})
    );
    assert!(String::from_utf8_lossy(&remember.stderr).contains("[notes] info: remembered 'door'"));

    let recall = skillbox(
        data.path(),
        &[
            "skill",
            "run",
            "skills/notes",
            "--tool",
            "recall",
            "--input",
            r#"{"key":"door"}"#,
        ],
    );
    assert_eq!(
        stdout_json(&recall),
        serde_json::json!({"key": "door", "found": true, "text": "code 4711"})
    );

    // Another agent's namespace is empty.
    let other = skillbox(
        data.path(),
        &[
            "skill",
            "run",
            "skills/notes",
            "--tool",
            "recall",
            "--input",
            r#"{"key":"door"}"#,
            "--agent",
            "someone-else",
        ],
    );
    assert_eq!(stdout_json(&other)["found"], false);
}

#[test]
fn an_agents_data_is_exported_deleted_and_imported_back() {
    let data = tempfile::tempdir().unwrap();
    let notes = |tool: &str, input: &str| {
        let args = [
            "skill",
            "run",
            "skills/notes",
            "--tool",
            tool,
            "--input",
            input,
        ];
        stdout_json(&skillbox(data.path(), &args))
    };
    notes("remember", r#"{"key":"door","text":"code 4711"}"#);
    let export = data.path().join("default.jsonl");
    let exported = skillbox(
        data.path(),
        &[
            "agent",
            "export",
            "default",
            "--out",
            export.to_str().unwrap(),
        ],
    );
    let said = String::from_utf8_lossy(&exported.stderr);
    // The note, its namespace's usage, and the call on the audit.
    let records: usize = said
        .strip_prefix("exported ")
        .and_then(|rest| rest.split_whitespace().next()?.parse().ok())
        .unwrap_or_else(|| panic!("{said}"));
    assert!(records >= 3, "{said}");
    let lines = std::fs::read_to_string(&export).unwrap().lines().count();
    assert_eq!(lines, records + 1, "a header, then a line per record");
    let n_records = format!("{records} records");

    let unsure = skillbox(data.path(), &["agent", "delete", "default"]);
    assert!(!unsure.status.success());
    let said = String::from_utf8_lossy(&unsure.stderr);
    assert!(
        said.contains(&n_records) && said.contains("--yes"),
        "{said}"
    );

    let deleted = skillbox(data.path(), &["agent", "delete", "default", "--yes"]);
    let said = String::from_utf8_lossy(&deleted.stdout);
    assert!(said.contains(&format!("deleted {n_records}")), "{said}");
    let gone = skillbox(data.path(), &["agent", "delete", "default"]);
    let said = String::from_utf8_lossy(&gone.stderr);
    assert!(said.contains("deletes 0 records"), "{said}");

    let import = ["agent", "import", "default", export.to_str().unwrap()];
    let imported = skillbox(data.path(), &import);
    let said = String::from_utf8_lossy(&imported.stdout);
    assert!(said.contains(&format!("imported {n_records}")), "{said}");
    assert_eq!(notes("recall", r#"{"key":"door"}"#)["text"], "code 4711");
    // Not over what is there.
    let again = skillbox(data.path(), &import);
    assert!(!again.status.success());
    let said = String::from_utf8_lossy(&again.stderr);
    assert!(said.contains("already holds"), "{said}");
}

#[test]
fn a_trap_or_bad_input_exits_non_zero_with_a_clear_error() {
    let data = tempfile::tempdir().unwrap();
    let spin = skillbox(
        data.path(),
        &[
            "skill",
            "run",
            "sandbox-tests/skills/spin",
            "--tool",
            "spin",
        ],
    );
    assert!(!spin.status.success());
    assert!(spin.stdout.is_empty());
    assert!(
        String::from_utf8_lossy(&spin.stderr)
            .contains("error: skill 'spin' exceeded its 1s deadline on tool 'spin'")
    );

    let bad = skillbox(
        data.path(),
        &[
            "skill",
            "run",
            "skills/text",
            "--tool",
            "word_count",
            "--input",
            r#"{"text":1}"#,
        ],
    );
    assert!(!bad.status.success());
    assert!(
        String::from_utf8_lossy(&bad.stderr)
            .contains("error: invalid input for tool 'text.word_count'")
    );

    let missing = skillbox(data.path(), &["skill", "run", "skills/nope", "--tool", "x"]);
    assert!(!missing.status.success());
    assert!(String::from_utf8_lossy(&missing.stderr).contains("skills/nope/skill.toml"));

    let agent = skillbox(
        data.path(),
        &[
            "skill",
            "run",
            "skills/text",
            "--tool",
            "word_count",
            "--agent",
            "../etc",
        ],
    );
    assert!(!agent.status.success());
    assert!(String::from_utf8_lossy(&agent.stderr).contains("is not an agent id"));
}

#[test]
fn inspect_shows_manifest_tools_and_component_world() {
    let data = tempfile::tempdir().unwrap();
    let output = skillbox(data.path(), &["skill", "inspect", "skills/notes"]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let text = String::from_utf8(output.stdout).unwrap();
    for expected in [
        "skill       notes 0.1.0",
        "asks for    memory",
        "timeout 5s",
        "  remember — Remember a text under a key",
        "\"required\": [",
        "  skillbox:skill/memory@0.1.0 { get, set, delete, list-keys }",
        "  skillbox:skill/tools@0.1.0 { call }",
    ] {
        assert!(text.contains(expected), "missing {expected:?} in:\n{text}");
    }
}

/// The example configuration in docs/examples/config.
const EXAMPLE: &str = "docs/examples/config";

#[test]
fn agent_tools_lists_exactly_the_allowed_tools() {
    let data = tempfile::tempdir().unwrap();
    let output = skillbox(data.path(), &["agent", "tools", "ops", "--config", EXAMPLE]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let tools: Vec<String> = String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .map(|l| l.split(' ').next().unwrap().to_owned())
        .collect();
    assert_eq!(
        tools,
        [
            "files.read",
            "files.write",
            "files.list",
            "files.search",
            "text.word_count",
            "text.regex_extract",
            "text.json_query",
            "web.fetch",
        ]
    );
}

#[test]
fn agent_explain_shows_grants_limits_and_what_is_not_granted() {
    let data = tempfile::tempdir().unwrap();
    let output = skillbox(
        data.path(),
        &["agent", "explain", "ops", "--config", EXAMPLE],
    );
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let text = String::from_utf8(output.stdout).unwrap();
    for expected in [
        "skill files 0.1.0",
        "  tools        read, write, list, search, delete (denied)",
        "  not granted  filesystem read-write /workspace (granted read-only)",
        "  granted      network https://api.github.com",
        "               network http://127.0.0.1:8765",
        "timeout 30s",
        "http: 20 requests a call",
    ] {
        assert!(text.contains(expected), "missing {expected:?} in:\n{text}");
    }
    let missing = skillbox(
        data.path(),
        &["agent", "explain", "nobody", "--config", EXAMPLE],
    );
    assert!(!missing.status.success());
    assert!(String::from_utf8_lossy(&missing.stderr).contains("no agent 'nobody'"));
}

#[test]
fn skill_run_as_an_agent_applies_its_grants() {
    let data = tempfile::tempdir().unwrap();
    let as_ops = |tool: &str, input: &str| {
        skillbox(
            data.path(),
            &[
                "skill", "run", "files", "--tool", tool, "--input", input, "--config", EXAMPLE,
                "--agent", "ops",
            ],
        )
    };
    let read = as_ops("read", r#"{"path":"/workspace/runbook.md"}"#);
    assert!(
        stdout_json(&read)["content"]
            .as_str()
            .unwrap()
            .starts_with("# Runbook")
    );
    for (tool, input, error) in [
        (
            "write",
            r#"{"path":"/workspace/x.md","content":"x"}"#,
            "error: tool 'files.write' was denied",
        ),
        (
            "delete",
            r#"{"path":"/workspace/runbook.md"}"#,
            "denied for agent 'ops' (tools.deny)",
        ),
    ] {
        let output = as_ops(tool, input);
        assert!(!output.status.success());
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains(error), "{stderr}");
    }
    let workspace = repo().join(EXAMPLE).join("workspace");
    assert!(workspace.join("runbook.md").exists() && !workspace.join("x.md").exists());
}

/// A configuration with one agent, `asking`, in consent mode ask, that may
/// call text.word_count and must ask for the rest of text.
fn asking_config() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("agents")).unwrap();
    std::fs::write(
        dir.path().join("agents/asking.toml"),
        format!(
            "id = \"asking\"\n[consent]\nmode = \"ask\"\ntimeout = \"20s\"\n\
             [tools]\nallow = [\"text.word_count\"]\n[skills.text]\npath = \"{}\"\n",
            repo().join("skills/text").display()
        ),
    )
    .unwrap();
    dir
}

const REGEX_INPUT: &str = r#"{"text":"a1 b2","pattern":"[0-9]"}"#;

#[test]
fn a_terminal_prompt_is_answered_with_one_key() {
    let config = asking_config();
    let mut command = command();
    command.args([
        "skill",
        "run",
        "text",
        "--tool",
        "regex_extract",
        "--input",
        REGEX_INPUT,
    ]);
    command
        .arg("--config")
        .arg(config.path())
        .args(["--agent", "asking"]);
    let mut terminal =
        rexpect::session::spawn_command(command, Some(30_000)).expect("spawn in a pty");
    terminal.exp_string("agent 'asking'").unwrap();
    terminal
        .exp_string("wants      tool text.regex_extract")
        .unwrap();
    terminal.exp_string("[s] for this session").unwrap();
    terminal.send("a").unwrap();
    terminal.flush().unwrap();
    terminal.exp_string("allow always").unwrap();
    terminal.exp_string(r#"{"matches":["1","2"]}"#).unwrap();
    terminal.exp_eof().unwrap();

    // Remembered: the next run asks nobody, and the grant is listed.
    let data = config.path().join("data");
    let again = skillbox(
        &data,
        &[
            "skill",
            "run",
            "text",
            "--tool",
            "regex_extract",
            "--input",
            REGEX_INPUT,
            "--config",
            config.path().to_str().unwrap(),
            "--agent",
            "asking",
        ],
    );
    assert_eq!(
        stdout_json(&again),
        serde_json::json!({"matches": ["1", "2"]})
    );
    let listed = skillbox(
        &data,
        &[
            "grants",
            "list",
            "asking",
            "--config",
            config.path().to_str().unwrap(),
        ],
    );
    let listed = String::from_utf8(listed.stdout).unwrap();
    assert!(
        listed.contains("allow tool text.regex_extract to skill 'text', always (by the terminal)"),
        "{listed}"
    );

    let id = listed.split_whitespace().next().unwrap().to_owned();
    let revoked = skillbox(
        &data,
        &[
            "grants",
            "revoke",
            "asking",
            &id,
            "--config",
            config.path().to_str().unwrap(),
        ],
    );
    assert!(revoked.status.success());
    // Without a terminal and a grant, nobody can be asked: denied.
    let denied = skillbox(
        &data,
        &[
            "skill",
            "run",
            "text",
            "--tool",
            "regex_extract",
            "--input",
            REGEX_INPUT,
            "--config",
            config.path().to_str().unwrap(),
            "--agent",
            "asking",
        ],
    );
    assert!(!denied.status.success());
    assert!(String::from_utf8_lossy(&denied.stderr).contains("no one to ask"));

    let audit = skillbox(
        &data,
        &[
            "audit",
            "asking",
            "--json",
            "--config",
            config.path().to_str().unwrap(),
        ],
    );
    let entries: Vec<serde_json::Value> = String::from_utf8(audit.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON object per line"))
        .collect();
    let events: Vec<(&str, &str)> = entries
        .iter()
        .map(|e| {
            (
                e["event"].as_str().unwrap(),
                e["decision"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        events,
        [
            ("prompt", "asked"),
            ("answer", "allowed"),
            ("grant", "allowed"),
            ("grant-used", "allowed"),
            ("revoke", "revoked"),
            ("decision", "denied"),
        ]
    );
    let reason = |n: usize| entries[n]["reason"].as_str().unwrap();
    assert!(reason(1).ends_with("allow always"), "{}", reason(1));
    assert_eq!(entries[1]["by"], "the terminal");
    assert_eq!(entries[1]["channel"], "terminal");
    assert_eq!(entries[4]["by"], "the command line");
    assert!(reason(5).contains("no one to ask"), "{}", reason(5));
    let recent = skillbox(
        &data,
        &[
            "audit",
            "asking",
            "--since",
            "1h",
            "--config",
            config.path().to_str().unwrap(),
        ],
    );
    assert_eq!(String::from_utf8(recent.stdout).unwrap().lines().count(), 6);
    let verified = skillbox(
        &data,
        &[
            "audit",
            "verify",
            "asking",
            "--config",
            config.path().to_str().unwrap(),
        ],
    );
    let said = String::from_utf8(verified.stdout).unwrap();
    assert!(verified.status.success(), "{said}");
    assert!(said.contains("6 entries, every link holds"), "{said}");
}
