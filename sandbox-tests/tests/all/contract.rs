//! Skills and inputs that break the contract: each ends in a clear error
//! naming what is wrong, before or instead of running guest code.

use sandbox_tests::{Host, assert_kind, skill_dir};
use skillbox::LoadError;
use skillbox::{CallErrorKind, PrepareError};

#[tokio::test]
async fn input_that_fails_the_schema_is_refused_before_the_guest_runs() {
    let host = Host::new();
    let echo = host.load("echo");
    let report = host.call(&echo, "echo", r#"{"message": 5}"#).await;
    let error = report.result.unwrap_err();
    assert_kind(
        &error,
        |k| matches!(k, CallErrorKind::InvalidInput(m) if m.contains("/message")),
    );
    assert!(
        error
            .to_string()
            .starts_with("invalid input for tool 'echo.echo'"),
        "{error}"
    );

    for bad in ["not json", r#"{"other": "x"}"#, ""] {
        let error = host.fail(&echo, "echo", bad).await;
        assert_kind(&error, |k| matches!(k, CallErrorKind::InvalidInput(_)));
    }
    let error = host.fail(&echo, "shout", "{}").await;
    assert_eq!(
        error.to_string(),
        "skill 'echo' has no tool 'shout' (it has: echo)"
    );
    host.still_serves().await;
}

#[tokio::test]
async fn oversized_input_is_refused() {
    let host = Host::new();
    let echo = host.load("echo");
    let input = format!(r#"{{"message":"{}"}}"#, "x".repeat(2 << 20));
    let error = host.fail(&echo, "echo", &input).await;
    assert_kind(
        &error,
        |k| matches!(k, CallErrorKind::InvalidInput(m) if m.contains("input limit")),
    );
}

#[test]
fn a_component_that_does_not_implement_the_world_is_refused_at_load() {
    let host = Host::new();
    for (name, why) in [
        (
            "not-a-skill",
            "does not export skillbox:skill/tools@0.1.0 (its exports: none)",
        ),
        ("wrong-signature", "has the wrong signature"),
    ] {
        let error = host
            .runtime
            .load_skill(&skill_dir(name))
            .err()
            .expect("load fails");
        assert!(
            matches!(
                &error,
                LoadError::Component {
                    error: PrepareError::NotASkill { .. },
                    ..
                }
            ),
            "{error:?}"
        );
        let message = error.to_string();
        assert!(
            message.starts_with(&format!("skill '{name}': ")),
            "{message}"
        );
        assert!(message.contains(why), "{message}");
    }
}

#[test]
fn a_file_that_is_not_a_component_is_refused_at_load() {
    let host = Host::new();
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(
        skill_dir("echo").join("skill.toml"),
        dir.path().join("skill.toml"),
    )
    .unwrap();
    std::fs::write(dir.path().join("echo.wasm"), b"\0asm\x01\0\0\0garbage").unwrap();
    let error = host
        .runtime
        .load_skill(dir.path())
        .err()
        .expect("load fails");
    assert!(
        error
            .to_string()
            .contains("is not a valid WebAssembly component"),
        "{error}"
    );
}

/// The manifest error that loading the skill in `dir` ends in.
fn manifest_error(host: &Host, dir: &std::path::Path) -> skillbox::ConfigError {
    match host.runtime.load_skill(dir).err().expect("load fails") {
        LoadError::Manifest(error) => error,
        error => panic!("expected a manifest error, got {error}"),
    }
}

#[test]
fn a_malformed_manifest_names_file_field_and_line() {
    let host = Host::new();
    let dir = tempfile::tempdir().unwrap();
    let manifest = dir.path().join("skill.toml");
    let cases = [
        ("[skill]\nname = \"x\"\nversion = 1\n", "skill.version", 3),
        ("[skill\nname = \"x\"\n", "", 1),
        (
            "[skill]\nname = \"Bad Name\"\nversion = \"0.1.0\"\ndescription = \"d\"\ncomponent = \"x.wasm\"\n",
            "skill.name",
            2,
        ),
    ];
    for (text, field, line) in cases {
        std::fs::write(&manifest, text).unwrap();
        let error = manifest_error(&host, dir.path());
        assert_eq!(error.file, manifest);
        assert_eq!(error.field, field, "{error}");
        assert_eq!(error.line, Some(line), "{error}");
        assert!(
            error
                .to_string()
                .starts_with(&manifest.display().to_string())
        );
    }
}

/// A skill directory for the echo component whose tool's schema has
/// `levels` definitions, each all of the next one twice: a few hundred
/// bytes that unfold into 2^levels subschemas.
fn echo_with_doubling_schema(levels: usize) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let echo = skill_dir("echo");
    std::fs::copy(echo.join("echo.wasm"), dir.path().join("echo.wasm")).unwrap();
    let mut toml = "[skill]\nname = \"echo\"\nversion = \"0.1.0\"\n\
                    description = \"d\"\ncomponent = \"echo.wasm\"\n\n\
                    [[tool]]\nname = \"echo\"\ndescription = \"d\"\n\
                    [tool.input_schema]\ntype = \"object\"\n\
                    properties = { message = { \"$ref\" = \"#/$defs/d0\" } }\n"
        .to_owned();
    for i in 0..levels {
        let next = format!("{{ \"$ref\" = \"#/$defs/d{}\" }}", i + 1);
        toml.push_str(&format!(
            "[tool.input_schema.\"$defs\".d{i}]\nallOf = [{next}, {next}]\n"
        ));
    }
    toml.push_str(&format!("[tool.input_schema.\"$defs\".d{levels}]\n"));
    std::fs::write(dir.path().join("skill.toml"), toml).unwrap();
    dir
}

#[test]
fn a_schema_that_unfolds_exponentially_is_refused_at_load() {
    let host = Host::new();
    let dir = echo_with_doubling_schema(30);
    let error = manifest_error(&host, dir.path());
    assert_eq!(error.field, "tool[0].input_schema", "{error}");
    assert!(error.to_string().contains("subschemas"), "{error}");
}

#[tokio::test]
async fn input_too_costly_to_check_is_refused_before_any_work() {
    let host = Host::new();
    // Within the bounds at load: a few thousand subschemas.
    let dir = echo_with_doubling_schema(8);
    let skill = host.runtime.load_skill(dir.path()).unwrap();
    let input = serde_json::json!({ "message": vec!["a"; 20_000] }).to_string();
    let error = skill
        .check_input("echo", &input, &skillbox::Limits::DEFAULT)
        .unwrap_err();
    assert!(
        matches!(&error, CallErrorKind::InvalidInput(m) if m.contains("more work")),
        "{error:?}"
    );
}

#[tokio::test]
async fn output_that_is_not_json_is_refused() {
    let host = Host::new();
    let liar = host.load("liar");
    let error = host.fail(&liar, "not_json", "{}").await;
    assert_kind(&error, |k| matches!(k, CallErrorKind::InvalidOutput(_)));
    host.still_serves().await;
}

#[tokio::test]
async fn a_panic_is_reported_with_its_message() {
    let host = Host::new();
    let liar = host.load("liar");
    let error = host.fail(&liar, "panic", "{}").await;
    assert_kind(
        &error,
        |k| matches!(k, CallErrorKind::Crashed(m) if m.contains("the liar panicked on purpose")),
    );
    assert!(
        error
            .to_string()
            .starts_with("skill 'liar' crashed on tool 'panic'"),
        "{error}"
    );
    host.still_serves().await;
}

#[tokio::test]
async fn memory_a_skill_did_not_ask_for_is_denied() {
    let host = Host::new();
    let liar = host.load("liar");
    let error = host.fail(&liar, "use_memory", "{}").await;
    assert_kind(
        &error,
        |k| matches!(k, CallErrorKind::Denied(m) if m.contains("memory is not granted to skill 'liar'")),
    );
}
