//! `skillbox agent ask`, `chat`, `history` and `usage`, run as a user runs
//! them, against a scripted model server: answers, traces, and a
//! conversation that outlives a process killed with SIGKILL. The model is
//! the demo script of `scripted-model`.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use scripted_model::ScriptedModel;

use crate::util::{repo, run, skillbox as command};

/// A configuration directory whose agent `ops` talks to `model` and may
/// count words.
fn config(model: &ScriptedModel) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("agents")).unwrap();
    std::fs::write(
        dir.path().join("skillbox.toml"),
        format!(
            "[inference.backends.local]\nkind = \"openai\"\nurl = \"{}\"\n",
            model.openai_url()
        ),
    )
    .unwrap();
    std::fs::write(
        dir.path().join("agents/ops.toml"),
        format!(
            "id = \"ops\"\n[tools]\nallow = [\"text.word_count\"]\n\
             [skills.text]\npath = \"{}\"\n[inference]\nmodel = \"local/m\"\n",
            repo().join("skills/text").display()
        ),
    )
    .unwrap();
    dir
}

fn skillbox(config: &Path, args: &[&str]) -> Output {
    let output = run(command().args(args).arg("--config").arg(config));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "skillbox failed: {stderr}");
    output
}

fn stdout(output: &Output) -> String {
    String::from_utf8(output.stdout.clone()).unwrap()
}

/// A runtime serving the scripted model while the test runs commands.
fn serve() -> (tokio::runtime::Runtime, ScriptedModel) {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let model = runtime.block_on(ScriptedModel::start(scripted_model::demo));
    (runtime, model)
}

#[test]
fn ask_prints_the_answer_and_with_json_the_whole_turn() {
    let (_runtime, model) = serve();
    let config = config(&model);

    let answer = skillbox(
        config.path(),
        &["agent", "ask", "ops", "How many words in 'one two three'?"],
    );
    assert_eq!(stdout(&answer), "That is 3 words.\n");

    let trace = skillbox(
        config.path(),
        &[
            "agent",
            "ask",
            "ops",
            "And in 'a b'?",
            "--json",
            "--conversation",
            "t",
        ],
    );
    let trace: serde_json::Value = serde_json::from_str(&stdout(&trace)).unwrap();
    assert_eq!(trace["answer"], "That is 2 words.");
    assert_eq!(trace["conversation"], "t");
    let call = &trace["steps"][0]["tool_calls"][0];
    assert_eq!(call["tool"], "text.word_count");
    assert_eq!(call["arguments"], r#"{"text":"a b"}"#);
    assert_eq!(call["ok"], true);
    assert_eq!(trace["steps"][1]["model"], "local/m");

    let usage = stdout(&skillbox(config.path(), &["agent", "usage", "ops"]));
    assert!(usage.contains("\tlocal/m\t4\t40\t20"), "{usage}");
}

#[test]
fn a_conversation_outlives_a_killed_chat() {
    let (_runtime, model) = serve();
    let config = config(&model);
    let mut chat = command()
        .args(["agent", "chat", "ops", "--config"])
        .arg(config.path())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut input = chat.stdin.take().unwrap();
    let output = BufReader::new(chat.stdout.take().unwrap());
    let (lines, received) = mpsc::channel();
    std::thread::spawn(move || {
        for line in output.lines() {
            if lines.send(line.unwrap()).is_err() {
                break;
            }
        }
    });
    let wait_for = |expected: &str| loop {
        let line = received
            .recv_timeout(Duration::from_secs(30))
            .unwrap_or_else(|_| panic!("no line '{expected}' from chat"));
        if line == expected {
            break;
        }
    };

    writeln!(input, "How many words in 'to be or not'?").unwrap();
    wait_for("  ← text.word_count {\"words\":4,\"lines\":1,\"chars\":12}");
    wait_for("That is 4 words.");
    writeln!(input, "My name is Ada.").unwrap();
    wait_for("Noted: My name is Ada.");
    // Answered means kept: killed right after, nothing is lost.
    chat.kill().unwrap();
    chat.wait().unwrap();

    let answer = skillbox(config.path(), &["agent", "ask", "ops", "What is my name?"]);
    assert_eq!(stdout(&answer), "You are Ada.\n");
    let sent = model.exchanges().last().unwrap().messages().len();
    // System, then two turns (4 + 2 messages), then the question.
    assert_eq!(sent, 1 + 6 + 1);

    let history = stdout(&skillbox(
        config.path(),
        &["agent", "history", "ops", "--conversation", "default"],
    ));
    assert!(
        history.starts_with("user: How many words in 'to be or not'?\n"),
        "{history}"
    );
    assert!(history.contains("assistant: calls text_word_count {\"text\":\"to be or not\"}\n"));
    assert!(
        history.ends_with("user: What is my name?\nassistant: You are Ada.\n"),
        "{history}"
    );
    let listed = stdout(&skillbox(config.path(), &["agent", "history", "ops"]));
    assert_eq!(listed, "default\t8 messages\n");
}

#[test]
fn ask_without_a_model_or_backend_fails_clearly() {
    let (_runtime, model) = serve();
    let config = config(&model);
    std::fs::write(config.path().join("agents/quiet.toml"), "id = \"quiet\"\n").unwrap();
    let quiet = command()
        .args(["agent", "ask", "quiet", "Hello", "--config"])
        .arg(config.path())
        .output()
        .unwrap();
    assert!(!quiet.status.success());
    let stderr = String::from_utf8_lossy(&quiet.stderr);
    assert!(stderr.contains("agent 'quiet' has no model"), "{stderr}");

    drop(model);
    // Let the server's task end and its port close.
    std::thread::sleep(Duration::from_millis(200));
    let down = command()
        .args(["agent", "ask", "ops", "Hello", "--config"])
        .arg(config.path())
        .output()
        .unwrap();
    assert!(!down.status.success());
    let stderr = String::from_utf8_lossy(&down.stderr);
    assert!(
        stderr.contains("no model answered: local/m: cannot connect"),
        "{stderr}"
    );
}
