//! The audit log from the hostile side: every decision is on it, and an
//! entry changed or removed on disk is found by `verify`.

use std::sync::Arc;

use sandbox_tests::{Config, answer_next, open_runtime};
use skillbox::audit::{self, AuditEntry, Chain, Event};
use skillbox::{Answer, PromptQueue, Scope, Session};

const AGENT: &str = "watched";

/// An agent that may count words, and is asked about everything else.
fn config() -> Config {
    let config = Config::new("");
    config.agent(
        AGENT,
        "id = \"watched\"\n[consent]\nmode = \"ask\"\ntimeout = \"5s\"\n\
         [tools]\nallow = [\"text.word_count\"]\ndeny = [\"text.json_query\"]\n\
         [skills.text]\npath = \"{skill:text}\"\n",
    );
    config
}

/// A call allowed by configuration, one denied, one asked about and
/// allowed always by a person, the grant used, then revoked.
async fn decisions(config: &Config) {
    let loaded = config.load();
    let runtime = open_runtime(loaded.host.clone());
    let queue = Arc::new(PromptQueue::default());
    runtime.consent().attach(queue.clone());
    let agent = runtime.load_agent(&loaded.agents[AGENT]).unwrap();
    let session = Session::new("s");
    let count = r#"{"text":"a b"}"#;
    let regex = r#"{"text":"a1","pattern":"[0-9]"}"#;
    let call = |tool: &'static str, input: &'static str| {
        runtime.call(&agent, &session, "text", tool, input)
    };
    assert!(call("word_count", count).await.result.is_ok());
    assert!(call("json_query", "{}").await.result.is_err());
    let mut asked = queue.subscribe();
    let always = Answer::new(true, Scope::Always);
    let answering = answer_next(&mut asked, &queue, always);
    let (asked_about, _) = tokio::join!(call("regex_extract", regex), answering);
    assert!(asked_about.result.is_ok(), "{:?}", asked_about.result);
    assert!(call("regex_extract", regex).await.result.is_ok());
    let grant = skillbox::grants::list(runtime.db(), AGENT).unwrap()[0]
        .id
        .clone();
    let revoked = runtime
        .consent()
        .revoke(agent.id(), &grant, "token t2 (admin)")
        .await
        .unwrap();
    assert!(revoked);
}

async fn read(config: &Config) -> (Vec<AuditEntry>, Chain) {
    let runtime = open_runtime(config.load().host.clone());
    let entries = audit::read(runtime.db(), AGENT, None).await.unwrap();
    let chain = audit::verify(runtime.db(), AGENT).await.unwrap();
    (entries, chain)
}

/// Change the stored bytes of entry `seq` with the runtime closed, as
/// someone with the data directory could.
fn tamper(config: &Config, seq: u64, change: impl FnOnce(Option<Vec<u8>>) -> Option<Vec<u8>>) {
    let db = sled::open(config.load().host.data_dir.join("db")).unwrap();
    let tree = db.open_tree(format!("audit/{AGENT}")).unwrap();
    let key = seq.to_be_bytes();
    let old = tree.get(key).unwrap().map(|v| v.to_vec());
    match change(old) {
        Some(new) => tree.insert(key, new).unwrap(),
        None => tree.remove(key).unwrap(),
    };
    db.flush().unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn every_decision_is_on_record_in_a_chain_that_holds() {
    let config = config();
    decisions(&config).await;
    let (entries, chain) = read(&config).await;
    let seen: Vec<(Event, &str, &str)> = entries
        .iter()
        .map(|e| (e.event, e.decision.as_str(), e.tool.as_str()))
        .collect();
    let expected = [
        (Event::Decision, "allowed", "word_count"),
        (Event::Decision, "denied", "json_query"),
        (Event::Prompt, "asked", "regex_extract"),
        (Event::Answer, "allowed", "regex_extract"),
        (Event::Grant, "allowed", "regex_extract"),
        (Event::GrantUsed, "allowed", "regex_extract"),
        (Event::Revoke, "revoked", ""),
    ];
    assert_eq!(seen, expected, "{entries:#?}");
    assert_eq!(entries[3].by.as_deref(), Some("a test"));
    assert_eq!(entries[4].by.as_deref(), Some("a test"));
    assert_eq!(entries[6].by.as_deref(), Some("token t2 (admin)"));
    assert!(entries.iter().zip(0..).all(|(e, n)| e.seq == n));
    assert!(
        matches!(chain, Chain::Intact { entries: 7, .. }),
        "{chain:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_entry_changed_on_disk_is_found() {
    let config = config();
    decisions(&config).await;
    // The denial rewritten as an allow.
    tamper(&config, 1, |old| {
        let text = String::from_utf8(old.unwrap()).unwrap();
        assert!(text.contains("\"denied\""), "{text}");
        Some(text.replace("\"denied\"", "\"allowed\"").into_bytes())
    });
    let (entries, chain) = read(&config).await;
    assert_eq!(entries[1].decision, "allowed", "the edit is on disk");
    let Chain::Broken { at, why } = chain else {
        panic!("the edit went unseen: {chain:?}")
    };
    assert_eq!(at, 1, "{why}");
    assert!(why.contains("changed"), "{why}");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_entry_removed_or_the_last_changed_is_found() {
    let config = config();
    decisions(&config).await;
    // The prompt taken out of the middle.
    tamper(&config, 2, |_| None);
    let Chain::Broken { at, why } = read(&config).await.1 else {
        panic!("a removed entry went unseen")
    };
    assert_eq!(at, 2, "{why}");

    let config = self::config();
    decisions(&config).await;
    // The revocation, the last entry, rewritten: no later entry links to
    // it, but the head does.
    tamper(&config, 6, |old| {
        let text = String::from_utf8(old.unwrap()).unwrap();
        Some(
            text.replace("token t2 (admin)", "token t9 (admin)")
                .into_bytes(),
        )
    });
    let Chain::Broken { at, why } = read(&config).await.1 else {
        panic!("a changed last entry went unseen")
    };
    assert_eq!(at, 6, "{why}");
}

/// Calls allowed by configuration are counted, each of them: a run of them
/// to one tool may share an entry, which says how many.
#[tokio::test(flavor = "multi_thread")]
async fn every_call_allowed_by_configuration_is_counted() {
    let config = config();
    let loaded = config.load();
    let runtime = open_runtime(loaded.host.clone());
    let agent = runtime.load_agent(&loaded.agents[AGENT]).unwrap();
    let session = Session::new("s");
    for _ in 0..25 {
        let call = runtime.call(&agent, &session, "text", "word_count", r#"{"text":"a"}"#);
        assert!(call.await.result.is_ok());
    }
    // Counted by a loaded agent, and by one gone before the log was read.
    drop(agent);
    let entries = audit::read(runtime.db(), AGENT, None).await.unwrap();
    let counted: u64 = entries
        .iter()
        .filter(|e| e.decision == "allowed" && e.tool == "word_count")
        .map(|e| e.count)
        .sum();
    assert_eq!(counted, 25, "{entries:#?}");
    assert!(entries.iter().all(|e| e.count == 1 || e.until.is_some()));
}
