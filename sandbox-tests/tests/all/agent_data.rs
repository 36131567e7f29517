//! One agent's data, whole: an export re-imports to an identical agent,
//! delete leaves nothing of it in sled (checked by scanning every tree),
//! and an import goes only where the agent has nothing, only into the
//! agent's own trees.

use std::collections::BTreeMap;
use std::sync::Arc;

use sandbox_tests::{Config, answer_next, open_runtime};
use skillbox::agent_data::{self, AgentDataError};
use skillbox::usage::{self, Account, Spent};
use skillbox::{Answer, Message, PromptQueue, Role, Runtime, Scope, Session, audit, history};

/// Two agents with memory and a consent mode that asks.
fn config() -> Config {
    let config = Config::new("");
    for id in ["gone", "kept"] {
        config.agent(
            id,
            &format!(
                "id = \"{id}\"\n[consent]\nmode = \"ask\"\ntimeout = \"5s\"\n\
                 [tools]\nallow = [\"notes.*\"]\n\
                 [skills.notes]\npath = \"{{skill:notes}}\"\n\
                 [skills.notes.grants]\nmemory = true\n\
                 [skills.text]\npath = \"{{skill:text}}\"\n"
            ),
        );
    }
    config
}

/// Give `id` memory (configured and from `skill run`), a grant with its
/// audit, a conversation and usage.
async fn live(runtime: &Runtime, config: &Config, queue: &PromptQueue, id: &str) {
    let loaded = config.load();
    let agent = runtime.load_agent(&loaded.agents[id]).unwrap();
    let session = Session::new("s");
    let remember = format!(r#"{{"key":"owner","text":"{id}'s note"}}"#);
    let report = runtime
        .call(&agent, &session, "notes", "remember", &remember)
        .await;
    assert!(report.result.is_ok(), "{:?}", report.result);
    let notes = runtime
        .load_skill(&sandbox_tests::skill_dir("notes"))
        .unwrap();
    let local = runtime.local_agent(agent.id(), notes);
    let report = runtime
        .call(&local, &session, "notes", "remember", &remember)
        .await;
    assert!(report.result.is_ok(), "{:?}", report.result);

    let mut asked = queue.subscribe();
    let regex = r#"{"text":"a1","pattern":"[0-9]"}"#;
    let calling = runtime.call(&agent, &session, "text", "regex_extract", regex);
    let answering = answer_next(&mut asked, queue, Answer::new(true, Scope::Always));
    let (report, _) = tokio::join!(calling, answering);
    assert!(report.result.is_ok(), "{:?}", report.result);

    let db = runtime.db();
    let said = [Message::new(Role::User, format!("hello from {id}"))];
    history::append(db, id, "default", &said).await.unwrap();
    let account = Account {
        agent: id.to_owned(),
        day: usage::today(),
        model: Some("local/m".into()),
    };
    let spent = Spent {
        requests: 1,
        prompt_tokens: 10,
        completion_tokens: 5,
    };
    usage::add(db, &BTreeMap::from([(account, spent)])).unwrap();
}

async fn export(runtime: &Runtime, id: &str) -> Vec<String> {
    let mut out = Vec::new();
    agent_data::export(runtime.db(), id, &mut out)
        .await
        .unwrap();
    let text = String::from_utf8(out).unwrap();
    text.lines().map(str::to_owned).collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn an_export_reimports_to_the_same_agent_and_delete_leaves_nothing() {
    let config = config();
    let runtime = open_runtime(config.load().host.clone());
    let queue = Arc::new(PromptQueue::default());
    runtime.consent().attach(queue.clone());
    live(&runtime, &config, &queue, "gone").await;
    live(&runtime, &config, &queue, "kept").await;

    let exported = export(&runtime, "gone").await;
    let trees: Vec<&str> = exported[1..]
        .iter()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .map(|r| match r["tree"].as_str().unwrap() {
            "grants" => "grants",
            "audit" => "audit",
            "history" => "history",
            "usage" => "usage",
            "kv/notes" => "kv/notes",
            "local/notes" => "local/notes",
            other => panic!("an unexpected tree {other}"),
        })
        .collect();
    for tree in [
        "grants",
        "audit",
        "history",
        "usage",
        "kv/notes",
        "local/notes",
    ] {
        assert!(trees.contains(&tree), "{tree} is not in the export");
    }
    let kept = export(&runtime, "kept").await;

    // An import goes only where the agent has nothing.
    let import = |lines: &[String]| {
        let text = lines.join("\n");
        let db = runtime.db().clone();
        async move { agent_data::import(&db, "gone", text.as_bytes()).await }
    };
    let refused = import(&exported).await.unwrap_err();
    assert!(
        matches!(refused, AgentDataError::NotEmpty { .. }),
        "{refused}"
    );

    let removed = agent_data::delete(runtime.db(), "gone").await.unwrap();
    assert_eq!(removed as usize, exported.len() - 1);
    assert_eq!(agent_data::records(runtime.db(), "gone").await.unwrap(), 0);

    // Hostile imports: another agent's export, a tree outside the agent.
    let refused = import(&kept).await.unwrap_err();
    assert!(
        matches!(refused, AgentDataError::OtherAgent { .. }),
        "{refused}"
    );
    let mut smuggled = exported.clone();
    smuggled.push(r#"{"tree":"kv/../kept/notes","key":"kowner","value":"\"mine\""}"#.into());
    let refused = import(&smuggled).await.unwrap_err();
    assert!(
        matches!(refused, AgentDataError::Malformed { .. }),
        "{refused}"
    );
    assert_eq!(agent_data::records(runtime.db(), "gone").await.unwrap(), 0);

    let imported = import(&exported).await.unwrap();
    assert_eq!(imported as usize, exported.len() - 1);
    // Byte for byte what was exported, and the audit chain holds.
    assert_eq!(export(&runtime, "gone").await[1..], exported[1..]);
    let chain = audit::verify(runtime.db(), "gone").await.unwrap();
    assert!(matches!(chain, audit::Chain::Intact { .. }), "{chain:?}");
    // The agent goes on: its memory is back, and new entries extend its
    // chain.
    let loaded = config.load();
    let agent = runtime.load_agent(&loaded.agents["gone"]).unwrap();
    let recalled = runtime
        .call(
            &agent,
            &Session::new("t"),
            "notes",
            "recall",
            r#"{"key":"owner"}"#,
        )
        .await;
    assert!(recalled.result.unwrap().contains("gone's note"));
    let chain = audit::verify(runtime.db(), "gone").await.unwrap();
    assert!(matches!(chain, audit::Chain::Intact { .. }), "{chain:?}");

    // Delete, then scan every tree of the database for the agent.
    agent_data::delete(runtime.db(), "gone").await.unwrap();
    assert_eq!(export(&runtime, "kept").await[1..], kept[1..]);
    let data_dir = config.load().host.data_dir;
    drop(agent);
    drop(runtime);
    let db = sled::open(data_dir.join("db")).unwrap();
    let mut found = Vec::new();
    for name in db.tree_names() {
        let name_text = String::from_utf8_lossy(&name).into_owned();
        if name_text.contains("gone") {
            found.push(format!("tree {name_text}"));
        }
        for item in db.open_tree(&name).unwrap().iter() {
            let (key, value) = item.unwrap();
            for bytes in [&key, &value] {
                if bytes.windows(4).any(|w| w == b"gone") {
                    found.push(format!("{name_text}: {}", String::from_utf8_lossy(bytes)));
                }
            }
        }
    }
    assert!(found.is_empty(), "left of the agent:\n{}", found.join("\n"));
    // And the other agent's data is all there.
    assert!(db.tree_names().iter().any(|n| &n[..] == b"kv/kept/notes"));
}
