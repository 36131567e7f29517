//! Files from the hostile side: a skill sees only the directories its agent
//! lends it, at the guest path it asked for, read-only unless granted
//! read-write, and nothing outside them by any path.

use std::os::unix::fs::symlink;

use sandbox_tests::{Config, assert_kind};
use skillbox::Agent;
use skillbox::CallErrorKind;
use skillbox::Runtime;

/// A workspace with a file, a directory beside it holding a secret, and a
/// symlink in the workspace pointing at the secret.
struct Tree {
    root: tempfile::TempDir,
}

impl Tree {
    fn new() -> Tree {
        let root = tempfile::tempdir().unwrap();
        let workspace = root.path().join("workspace");
        std::fs::create_dir_all(workspace.join("notes")).unwrap();
        std::fs::write(workspace.join("notes/todo.txt"), "buy milk\ncall Bob\n").unwrap();
        std::fs::create_dir(root.path().join("outside")).unwrap();
        std::fs::write(root.path().join("outside/secret.txt"), "the secret").unwrap();
        symlink(
            root.path().join("outside/secret.txt"),
            workspace.join("link"),
        )
        .unwrap();
        symlink(root.path().join("outside"), workspace.join("dirlink")).unwrap();
        Tree { root }
    }

    fn workspace(&self) -> std::path::PathBuf {
        self.root.path().join("workspace")
    }
}

/// An agent lending the workspace (read-write) to `skill` at /workspace
/// with `access`.
fn agent_with(tree: &Tree, skill: &str, access: &str) -> (Config, Runtime, Agent) {
    let config = Config::new("");
    config.agent(
        "worker",
        &format!(
            "id = \"worker\"\n[tools]\nallow = [\"*\"]\n\
             [mounts]\nworkspace = {{ path = \"{}\", access = \"read-write\" }}\n\
             [skills.{skill}]\npath = \"{{skill:{skill}}}\"\n\
             [skills.{skill}.grants]\n\
             filesystem = [{{ mount = \"workspace\", guest = \"/workspace\", access = \"{access}\" }}]\n",
            tree.workspace().display()
        ),
    );
    let (runtime, agent) = config.open("worker");
    (config, runtime, agent)
}

async fn call(
    runtime: &Runtime,
    agent: &Agent,
    tool: &str,
    input: serde_json::Value,
) -> Result<String, skillbox::CallError> {
    sandbox_tests::call(runtime, agent, tool, &input.to_string())
        .await
        .result
}

#[tokio::test]
async fn the_files_skill_works_inside_its_mount() {
    let tree = Tree::new();
    let (_config, runtime, agent) = agent_with(&tree, "files", "read-write");
    let read = call(
        &runtime,
        &agent,
        "read",
        serde_json::json!({ "path": "/workspace/notes/todo.txt" }),
    )
    .await
    .unwrap();
    assert!(read.contains("buy milk"));
    call(
        &runtime,
        &agent,
        "write",
        serde_json::json!({ "path": "/workspace/notes/new.txt", "content": "hello" }),
    )
    .await
    .unwrap();
    assert_eq!(
        std::fs::read_to_string(tree.workspace().join("notes/new.txt")).unwrap(),
        "hello"
    );
    let listed = call(
        &runtime,
        &agent,
        "list",
        serde_json::json!({ "path": "/workspace/notes" }),
    )
    .await
    .unwrap();
    assert!(
        listed.contains("\"new.txt\"") && listed.contains("\"todo.txt\""),
        "{listed}"
    );
    let found = call(
        &runtime,
        &agent,
        "search",
        serde_json::json!({ "path": "/workspace/notes", "text": "Bob" }),
    )
    .await
    .unwrap();
    assert_eq!(
        found,
        r#"[{"path":"/workspace/notes/todo.txt","line":2,"text":"call Bob"}]"#
    );
    call(
        &runtime,
        &agent,
        "delete",
        serde_json::json!({ "path": "/workspace/notes/new.txt" }),
    )
    .await
    .unwrap();
    assert!(!tree.workspace().join("notes/new.txt").exists());
}

#[tokio::test]
async fn paths_out_of_the_mount_are_refused() {
    let tree = Tree::new();
    let (_config, runtime, agent) = agent_with(&tree, "fs-escape", "read-only");
    let secret_on_host = tree.root.path().join("outside/secret.txt");
    for path in [
        "/workspace/../outside/secret.txt".to_owned(),
        "/workspace/notes/../../outside/secret.txt".to_owned(),
        secret_on_host.display().to_string(),
        "/etc/passwd".to_owned(),
        "/workspace/link".to_owned(),
        "/workspace/dirlink/secret.txt".to_owned(),
    ] {
        let error = call(
            &runtime,
            &agent,
            "read",
            serde_json::json!({ "path": path }),
        )
        .await
        .unwrap_err();
        assert_kind(&error, |k| matches!(k, CallErrorKind::Denied(_)));
        assert!(!error.to_string().contains("the secret"), "{error}");
    }
    let climbed = call(&runtime, &agent, "climb", serde_json::json!({}))
        .await
        .unwrap();
    assert_eq!(climbed, "[]", "nothing above /workspace is visible");
    // The way in works: the refusals above are about the paths.
    let inside = call(
        &runtime,
        &agent,
        "read",
        serde_json::json!({ "path": "/workspace/notes/todo.txt" }),
    )
    .await
    .unwrap();
    assert!(inside.contains("buy milk"));
}

#[tokio::test]
async fn a_read_only_grant_refuses_every_write() {
    let tree = Tree::new();
    // fs-writer asks for read-write; the agent grants read-only.
    let (_config, runtime, agent) = agent_with(&tree, "fs-writer", "read-only");
    let input =
        serde_json::json!({ "dir": "/workspace/notes", "existing": "/workspace/notes/todo.txt" });
    let outcome = call(&runtime, &agent, "write_all_ways", input)
        .await
        .unwrap();
    let outcome: serde_json::Value = serde_json::from_str(&outcome).unwrap();
    for (attempt, result) in outcome.as_object().unwrap() {
        assert!(
            result.as_str().unwrap().starts_with("error"),
            "{attempt} succeeded"
        );
    }
    assert_eq!(
        std::fs::read_to_string(tree.workspace().join("notes/todo.txt")).unwrap(),
        "buy milk\ncall Bob\n"
    );
    let names: Vec<_> = std::fs::read_dir(tree.workspace().join("notes"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, ["todo.txt"]);

    // Granted read-write, the same skill changes the directory.
    let (_config, runtime, agent) = agent_with(&tree, "fs-writer", "read-write");
    let input =
        serde_json::json!({ "dir": "/workspace/notes", "existing": "/workspace/notes/todo.txt" });
    let outcome = call(&runtime, &agent, "write_all_ways", input)
        .await
        .unwrap();
    assert!(outcome.contains(r#""create":"done""#), "{outcome}");
}

#[tokio::test]
async fn a_symlink_is_created_only_where_the_grant_allows_it() {
    let tree = Tree::new();
    let link = tree.workspace().join("notes/escape");
    // Out of the mount, to the host's secrets.
    let input =
        serde_json::json!({ "target": "../../../../../etc/passwd", "link": "notes/escape" });
    let (_config, runtime, agent) = agent_with(&tree, "fs-writer", "read-write");
    let outcome = call(&runtime, &agent, "link", input.clone()).await.unwrap();
    assert!(outcome.starts_with("\"error"), "{outcome}");
    assert!(
        std::fs::symlink_metadata(&link).is_err(),
        "a link was left on the host"
    );

    // Granted with `symlinks = true`, the same skill may make one.
    let config = Config::new("");
    config.agent(
        "linker",
        &format!(
            "id = \"linker\"\n[tools]\nallow = [\"*\"]\n\
             [mounts]\nworkspace = {{ path = \"{}\", access = \"read-write\" }}\n\
             [skills.fs-writer]\npath = \"{{skill:fs-writer}}\"\n\
             [skills.fs-writer.grants]\n\
             filesystem = [{{ mount = \"workspace\", guest = \"/workspace\", \
                             access = \"read-write\", symlinks = true }}]\n",
            tree.workspace().display()
        ),
    );
    let (runtime, agent) = config.open("linker");
    let outcome = call(&runtime, &agent, "link", input).await.unwrap();
    assert_eq!(outcome, "\"done\"");
    assert!(std::fs::symlink_metadata(&link).unwrap().is_symlink());
}

#[test]
fn grants_that_widen_the_manifest_are_refused_at_load() {
    let tree = Tree::new();
    let workspace = tree.workspace();
    let cases = [
        // fs-escape asks for read-only at /workspace.
        (
            "fs-escape",
            "filesystem = [{ mount = \"workspace\", guest = \"/workspace\", access = \"read-write\" }]",
            "grants read-write at /workspace, but skill 'fs-escape' asks for read-only only",
        ),
        (
            "fs-escape",
            "filesystem = [{ mount = \"workspace\", guest = \"/home\", access = \"read-only\" }]",
            "does not ask for a directory at /home",
        ),
        (
            "fs-escape",
            "filesystem = [{ mount = \"elsewhere\", guest = \"/workspace\", access = \"read-only\" }]",
            "no mount 'elsewhere'",
        ),
        // fs-writer asks for read-write, but the mount is lent read-only.
        (
            "fs-writer",
            "filesystem = [{ mount = \"workspace\", guest = \"/workspace\", access = \"read-write\" }]",
            "grants read-write on mount 'workspace', which is read-only",
        ),
        (
            "notes",
            "network = [\"https://api.github.com\"]",
            "which skill 'notes' does not ask for",
        ),
        (
            "text",
            "memory = true",
            "grants memory, which skill 'text' does not ask for",
        ),
    ];
    for (skill, grant, expected) in cases {
        let config = Config::new("");
        config.agent(
            "wide",
            &format!(
                "id = \"wide\"\n[mounts]\nworkspace = {{ path = \"{}\", access = \"read-only\" }}\n\
                 [skills.{skill}]\npath = \"{{skill:{skill}}}\"\n[skills.{skill}.grants]\n{grant}\n",
                workspace.display()
            ),
        );
        let message = config.load_error("wide");
        assert!(message.contains("wide.toml:"), "{message}");
        assert!(
            message.contains(&format!("field 'skills.{skill}.grants.")),
            "{message}"
        );
        assert!(message.contains(expected), "{message}");
    }
}
