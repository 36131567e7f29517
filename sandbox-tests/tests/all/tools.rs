//! Tool allowlists: a call to a tool the agent may not call is refused
//! before any sandbox exists; deny wins over allow.

use sandbox_tests::{Config, assert_kind, session};
use skillbox::CallErrorKind;

#[tokio::test]
async fn a_tool_outside_the_allowlist_is_refused_before_any_sandbox_exists() {
    let config = Config::new("");
    config.agent(
        "narrow",
        "id = \"narrow\"\n[tools]\nallow = [\"text.*\"]\ndeny = [\"text.json_query\"]\n\
         [skills.text]\npath = \"{skill:text}\"\n\
         [skills.notes]\npath = \"{skill:notes}\"\ngrants = { memory = true }\n",
    );
    let (runtime, agent) = config.open("narrow");

    let allowed = runtime
        .call(
            &agent,
            &session(),
            "text",
            "word_count",
            r#"{"text":"a b"}"#,
        )
        .await;
    assert!(allowed.result.is_ok());
    let sandboxes = runtime.sandbox().stores_created();

    let denied = "denied for agent 'narrow' (tools.deny)";
    let unlisted = "not allowed for agent 'narrow'";
    for (skill, tool, why) in [
        ("text", "json_query", denied),
        ("notes", "recall", unlisted),
        ("notes", "remember", unlisted),
    ] {
        let report = runtime
            .call(&agent, &session(), skill, tool, r#"{"key":"x"}"#)
            .await;
        let error = report.result.unwrap_err();
        assert_eq!(
            error.to_string(),
            format!("tool '{skill}.{tool}' was denied: {why}")
        );
        assert_kind(&error, |k| *k == CallErrorKind::Denied(why.into()));
    }
    let report = runtime.call(&agent, &session(), "web", "fetch", "{}").await;
    assert_kind(&report.result.unwrap_err(), |k| {
        *k == CallErrorKind::Denied("agent 'narrow' has no skill 'web'".into())
    });
    assert_eq!(
        runtime.sandbox().stores_created(),
        sandboxes,
        "no sandbox was created"
    );

    let tools: Vec<String> = agent
        .tools()
        .iter()
        .map(|(s, t)| format!("{s}.{}", t.name))
        .collect();
    assert_eq!(tools, ["text.word_count", "text.regex_extract"]);
}

#[test]
fn a_pattern_that_matches_no_tool_is_an_error() {
    let config = Config::new("");
    config.agent(
        "typo",
        "id = \"typo\"\n[tools]\nallow = [\"text.*\", \"txt.word_count\"]\n\
         [skills.text]\npath = \"{skill:text}\"\n",
    );
    let message = config.load_error("typo");
    assert!(
        message.contains("typo.toml:3: field 'tools.allow[1]'"),
        "{message}"
    );
    assert!(
        message.contains("'txt.word_count' matches no tool"),
        "{message}"
    );
}
