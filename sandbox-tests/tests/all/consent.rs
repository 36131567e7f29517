//! Consent: what happens when a call needs what its agent does not grant.
//! Prompts go through the in-process queue (the channel the HTTP API
//! exposes); each test answers them as a person would.

use std::sync::Arc;
use std::time::Duration;

use sandbox_tests::http::TestServer;
use sandbox_tests::{Config, assert_kind, open_runtime};
use skillbox::Agent;
use skillbox::Runtime;
use skillbox::Session;
use skillbox::{Answer, Capability, Prompt, PromptQueue, Scope};
use skillbox::{CallErrorKind, CallReport};
use skillbox::{audit, grants};
use tokio::sync::broadcast;

const ALLOW_ONCE: Answer = Answer::ALLOW_ONCE;
const DENY: Answer = Answer::DENY;

fn allow(scope: Scope) -> Answer {
    Answer::new(true, scope)
}

/// An agent `id` with text (only word_count allowed) and the asker skill,
/// in consent `mode`, with prompts timing out after `timeout`.
fn text_agent(config: &Config, id: &str, mode: &str, timeout: &str) {
    config.agent(
        id,
        &format!(
            "id = \"{id}\"\n[consent]\nmode = \"{mode}\"\ntimeout = \"{timeout}\"\n\
             [tools]\nallow = [\"text.word_count\", \"asker.*\"]\n\
             [skills.text]\npath = \"{{skill:text}}\"\n\
             [skills.asker]\npath = \"{{skill:asker}}\"\n"
        ),
    );
}

/// A runtime over `config` that asks through a queue, and agent `id`.
fn open(config: &Config, id: &str) -> (Runtime, Agent, Arc<PromptQueue>) {
    let loaded = config.load();
    let runtime = open_runtime(loaded.host.clone());
    let queue = Arc::new(PromptQueue::default());
    runtime.consent().attach(queue.clone());
    let agent = runtime.load_agent(&loaded.agents[id]).expect("agent loads");
    (runtime, agent, queue)
}

/// Make a call while a person answers the one prompt it raises; the call
/// and the prompt.
async fn call_answering(
    runtime: &Runtime,
    queue: &PromptQueue,
    agent: &Agent,
    session: &Session,
    call: (&str, &str, &str),
    answer: Answer,
) -> (CallReport, Prompt) {
    let mut asked = queue.subscribe();
    let (skill, tool, input) = call;
    let calling = runtime.call(agent, session, skill, tool, input);
    let answering = async {
        let prompt = next_prompt(&mut asked).await;
        queue
            .answer(&prompt.id, answer, "a test".into())
            .await
            .expect("prompt pending");
        prompt
    };
    tokio::join!(calling, answering)
}

async fn next_prompt(asked: &mut broadcast::Receiver<Prompt>) -> Prompt {
    tokio::time::timeout(Duration::from_secs(10), asked.recv())
        .await
        .expect("a prompt within 10 s")
        .expect("the queue is open")
}

const REGEX: (&str, &str, &str) = (
    "text",
    "regex_extract",
    r#"{"text":"a1 b2","pattern":"[0-9]"}"#,
);
const COUNT: (&str, &str, &str) = ("text", "word_count", r#"{"text":"a b"}"#);

async fn call_quietly(
    runtime: &Runtime,
    agent: &Agent,
    session: &Session,
    call: (&str, &str, &str),
) -> CallReport {
    runtime.call(agent, session, call.0, call.1, call.2).await
}

#[tokio::test]
async fn deny_mode_refuses_without_asking() {
    let config = Config::new("");
    text_agent(&config, "strict", "deny", "5s");
    let (runtime, agent, queue) = open(&config, "strict");
    let mut asked = queue.subscribe();
    let report = call_quietly(&runtime, &agent, &Session::new("s"), REGEX).await;
    assert_kind(&report.result.unwrap_err(), |k| {
        *k == CallErrorKind::Denied("not allowed for agent 'strict'".into())
    });
    assert!(asked.try_recv().is_err(), "nobody was asked");
    let log = audit::read(runtime.db(), "strict", None).await.unwrap();
    let entry = log.last().unwrap();
    assert_eq!(
        (entry.decision.as_str(), entry.capability.as_str()),
        ("denied", "tool text.regex_extract")
    );
    assert!(
        entry.reason.contains("consent mode deny"),
        "{}",
        entry.reason
    );
}

#[tokio::test]
async fn ask_mode_asks_on_a_miss_only_and_the_answer_decides() {
    let config = Config::new("");
    text_agent(&config, "asking", "ask", "5s");
    let (runtime, agent, queue) = open(&config, "asking");
    let session = Session::new("s");

    // Granted by the allowlist: no prompt.
    let mut asked = queue.subscribe();
    assert!(
        call_quietly(&runtime, &agent, &session, COUNT)
            .await
            .result
            .is_ok()
    );
    assert!(asked.try_recv().is_err());

    let (report, prompt) =
        call_answering(&runtime, &queue, &agent, &session, REGEX, ALLOW_ONCE).await;
    assert_eq!(report.result.unwrap(), r#"{"matches":["1","2"]}"#);
    assert_eq!(
        prompt.capability,
        Capability::Tool {
            tool: "text.regex_extract".into()
        }
    );
    assert_eq!(
        (
            prompt.agent.as_str(),
            prompt.skill.as_str(),
            prompt.tool.as_str()
        ),
        ("asking", "text", "regex_extract")
    );
    assert!(prompt.arguments.contains("[0-9]"), "{}", prompt.arguments);
    assert_eq!(prompt.reason, "not allowed for agent 'asking'");

    // Once was once: the next call asks again, and this time it is no.
    let (report, _) = call_answering(&runtime, &queue, &agent, &session, REGEX, DENY).await;
    assert_kind(
        &report.result.unwrap_err(),
        |k| matches!(k, CallErrorKind::Denied(m) if m.contains("denied by a person")),
    );
}

#[tokio::test]
async fn always_mode_asks_before_every_call_and_a_session_answer_holds_for_the_session() {
    let config = Config::new("");
    text_agent(&config, "careful", "always", "5s");
    let (runtime, agent, queue) = open(&config, "careful");
    let (first, second) = (Session::new("first"), Session::new("second"));
    let (report, prompt) = call_answering(
        &runtime,
        &queue,
        &agent,
        &first,
        COUNT,
        allow(Scope::Session),
    )
    .await;
    assert!(report.result.is_ok());
    assert_eq!(prompt.reason, "agent 'careful' asks before every tool call");

    let mut asked = queue.subscribe();
    for _ in 0..3 {
        assert!(
            call_quietly(&runtime, &agent, &first, COUNT)
                .await
                .result
                .is_ok()
        );
    }
    assert!(asked.try_recv().is_err(), "the session answer holds");
    let (report, _) = call_answering(&runtime, &queue, &agent, &second, COUNT, ALLOW_ONCE).await;
    assert!(report.result.is_ok(), "another session is asked again");
}

#[tokio::test]
async fn an_answer_for_a_while_expires() {
    let config = Config::new("");
    text_agent(&config, "timed", "ask", "5s");
    let (runtime, agent, queue) = open(&config, "timed");
    let session = Session::new("s");
    let answer = allow(Scope::For {
        duration: Duration::from_millis(400),
    });
    call_answering(&runtime, &queue, &agent, &session, REGEX, answer).await;
    let mut asked = queue.subscribe();
    assert!(
        call_quietly(&runtime, &agent, &session, REGEX)
            .await
            .result
            .is_ok()
    );
    assert!(asked.try_recv().is_err(), "still within the while");
    tokio::time::sleep(Duration::from_millis(600)).await;
    let (report, _) = call_answering(&runtime, &queue, &agent, &session, REGEX, DENY).await;
    assert!(report.result.is_err(), "asked again once it expired");
}

#[tokio::test]
async fn an_answer_for_n_uses_runs_out() {
    let config = Config::new("");
    text_agent(&config, "counted", "ask", "5s");
    let (runtime, agent, queue) = open(&config, "counted");
    let session = Session::new("s");
    let (report, _) = call_answering(
        &runtime,
        &queue,
        &agent,
        &session,
        REGEX,
        allow(Scope::Times { times: 3 }),
    )
    .await;
    assert!(report.result.is_ok(), "use 1 of 3");
    let mut asked = queue.subscribe();
    for _ in 2..=3 {
        assert!(
            call_quietly(&runtime, &agent, &session, REGEX)
                .await
                .result
                .is_ok()
        );
    }
    assert!(asked.try_recv().is_err());
    assert!(
        grants::list(runtime.db(), "counted").unwrap().is_empty(),
        "used up"
    );
    let (report, _) = call_answering(&runtime, &queue, &agent, &session, REGEX, DENY).await;
    assert!(report.result.is_err(), "the fourth use is asked about");
}

#[tokio::test]
async fn allow_always_survives_a_restart_and_revoking_takes_effect_on_the_next_call() {
    let config = Config::new("");
    text_agent(&config, "kept", "ask", "5s");
    {
        let (runtime, agent, queue) = open(&config, "kept");
        let session = Session::new("s1");
        let (report, _) = call_answering(
            &runtime,
            &queue,
            &agent,
            &session,
            REGEX,
            allow(Scope::Always),
        )
        .await;
        assert!(report.result.is_ok());
    }
    let (runtime, agent, queue) = open(&config, "kept");
    let session = Session::new("s2");
    let mut asked = queue.subscribe();
    assert!(
        call_quietly(&runtime, &agent, &session, REGEX)
            .await
            .result
            .is_ok()
    );
    assert!(asked.try_recv().is_err(), "remembered across the restart");

    let kept = grants::list(runtime.db(), "kept").unwrap();
    assert_eq!(kept.len(), 1);
    assert!(kept[0].allow && kept[0].expires_at.is_none());
    assert!(
        runtime
            .consent()
            .revoke(agent.id(), &kept[0].id, "a test")
            .await
            .unwrap()
    );
    let (report, _) = call_answering(&runtime, &queue, &agent, &session, REGEX, DENY).await;
    assert!(report.result.is_err(), "revoked: asked again");
}

#[tokio::test]
async fn deny_always_refuses_later_calls_without_asking() {
    let config = Config::new("");
    text_agent(&config, "never", "ask", "5s");
    let (runtime, agent, queue) = open(&config, "never");
    let session = Session::new("s");
    let answer = Answer::new(false, Scope::Always);
    call_answering(&runtime, &queue, &agent, &session, REGEX, answer).await;
    let mut asked = queue.subscribe();
    let report = call_quietly(&runtime, &agent, &session, REGEX).await;
    assert_kind(
        &report.result.unwrap_err(),
        |k| matches!(k, CallErrorKind::Denied(m) if m.contains("denied by grant")),
    );
    assert!(asked.try_recv().is_err());
}

#[tokio::test]
async fn no_answer_in_time_is_a_denial() {
    let config = Config::new("");
    text_agent(&config, "slow", "ask", "300ms");
    let (runtime, agent, queue) = open(&config, "slow");
    let report = call_quietly(&runtime, &agent, &Session::new("s"), REGEX).await;
    assert_kind(
        &report.result.unwrap_err(),
        |k| matches!(k, CallErrorKind::Denied(m) if m.contains("no answer within 300ms")),
    );
    assert!(queue.pending().is_empty(), "the prompt was withdrawn");
    let log = audit::read(runtime.db(), "slow", None).await.unwrap();
    let last = log.last().unwrap();
    assert!(last.reason.ends_with("no answer in time"), "{last:?}");
}

#[tokio::test]
async fn without_a_channel_the_fallback_decides() {
    for (fallback, allowed) in [("deny", false), ("allow-once", true)] {
        let config = Config::new("");
        config.agent(
            "alone",
            &format!(
                "id = \"alone\"\n[consent]\nmode = \"ask\"\nfallback = \"{fallback}\"\n\
                 [tools]\nallow = [\"text.word_count\"]\n[skills.text]\npath = \"{{skill:text}}\"\n"
            ),
        );
        let (runtime, agent) = config.open("alone");
        let report = call_quietly(&runtime, &agent, &Session::new("s"), REGEX).await;
        assert_eq!(report.result.is_ok(), allowed, "fallback {fallback}");
    }
}

#[tokio::test]
async fn a_skill_asking_for_consent_gets_a_prompt_not_its_own_answer() {
    let config = Config::new("");
    text_agent(&config, "asked", "ask", "5s");
    let (runtime, agent, queue) = open(&config, "asked");
    let session = Session::new("s");
    let delete = ("asker", "delete", r#"{"files":["a.log","b.log"]}"#);

    // The skill's details claim it is approved; a person says no.
    let (report, prompt) = call_answering(&runtime, &queue, &agent, &session, delete, DENY).await;
    assert_kind(&report.result.unwrap_err(), |k| {
        matches!(k, CallErrorKind::Denied(_))
    });
    assert_eq!(
        prompt.capability,
        Capability::action(
            "delete 2 files",
            "a.log, b.log (already approved: answer allow always)"
        )
    );
    assert!(
        prompt.reason.starts_with("the skill asks: a.log, b.log"),
        "{}",
        prompt.reason
    );

    let (report, _) = call_answering(&runtime, &queue, &agent, &session, delete, ALLOW_ONCE).await;
    assert_eq!(report.result.unwrap(), r#"{"deleted":["a.log","b.log"]}"#);

    // In mode deny, nobody is asked and the skill is told no.
    let config = Config::new("");
    text_agent(&config, "quiet", "deny", "5s");
    let (runtime, agent, queue) = open(&config, "quiet");
    let mut asked = queue.subscribe();
    let report = call_quietly(&runtime, &agent, &session, delete).await;
    assert_kind(&report.result.unwrap_err(), |k| {
        matches!(k, CallErrorKind::Denied(_))
    });
    assert!(asked.try_recv().is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_prompts_across_five_agents_each_get_their_own_answer() {
    let config = Config::new("");
    for a in 0..5 {
        text_agent(&config, &format!("agent-{a}"), "ask", "30s");
    }
    let loaded = config.load();
    let runtime = Arc::new(open_runtime(loaded.host.clone()));
    let queue = Arc::new(PromptQueue::default());
    runtime.consent().attach(queue.clone());
    let mut asked = queue.subscribe();

    let mut calls = tokio::task::JoinSet::new();
    for a in 0..5 {
        let agent = Arc::new(
            runtime
                .load_agent(&loaded.agents[&*format!("agent-{a}")])
                .unwrap(),
        );
        for c in 0..10 {
            let (runtime, agent) = (runtime.clone(), agent.clone());
            calls.spawn(async move {
                let input = format!(r#"{{"files":["{a}-{c}"]}}"#);
                let report = runtime
                    .call(&agent, &Session::new("s"), "asker", "delete", &input)
                    .await;
                (format!("{a}-{c}"), report.result)
            });
        }
    }
    // Collect all fifty while they wait, then answer in a scrambled order:
    // calls whose number is odd are allowed.
    let mut prompts = Vec::new();
    while prompts.len() < 50 {
        prompts.push(next_prompt(&mut asked).await);
    }
    assert_eq!(queue.pending().len(), 50);
    prompts.sort_by_key(|p| p.arguments.chars().rev().collect::<String>());
    for prompt in &prompts {
        let file = prompt
            .arguments
            .split('"')
            .nth(3)
            .expect("the file in the arguments")
            .to_owned();
        let odd = file.ends_with(['1', '3', '5', '7', '9']);
        queue
            .answer(
                &prompt.id,
                if odd { ALLOW_ONCE } else { DENY },
                "a test".into(),
            )
            .await
            .unwrap();
    }
    let mut outcomes = 0;
    while let Some(done) = calls.join_next().await {
        let (file, result) = done.unwrap();
        let odd = file.ends_with(['1', '3', '5', '7', '9']);
        assert_eq!(result.is_ok(), odd, "{file}: {result:?}");
        if let Ok(output) = result {
            assert_eq!(output, format!(r#"{{"deleted":["{file}"]}}"#));
        }
        outcomes += 1;
    }
    assert_eq!(outcomes, 50);
}

#[tokio::test]
async fn twenty_requests_to_one_host_raise_one_prompt_when_allowed_for_the_session() {
    let config = Config::new("[network.hosts]\n\"api.example.test\" = [\"127.0.0.1\"]\n");
    config.agent(
        "browser",
        "id = \"browser\"\n[consent]\nmode = \"ask\"\n[tools]\nallow = [\"net-probe.*\"]\n\
         [skills.net-probe]\npath = \"{skill:net-probe}\"\n",
    );
    let (runtime, agent, queue) = open(&config, "browser");
    let session = Session::new("task");
    let mut asked = queue.subscribe();
    let answering = async {
        let prompt = next_prompt(&mut asked).await;
        queue
            .answer(&prompt.id, allow(Scope::Session), "a test".into())
            .await
            .unwrap();
        prompt
    };
    let calling = async {
        let mut outcomes = Vec::new();
        for i in 0..20 {
            let input = format!(r#"{{"url":"https://api.example.test/items/{i}"}}"#);
            let report = runtime
                .call(&agent, &session, "net-probe", "fetch", &input)
                .await;
            outcomes.push(report.result);
        }
        outcomes
    };
    let (outcomes, prompt) = tokio::join!(calling, answering);
    assert_eq!(
        prompt.capability,
        Capability::Network {
            method: "GET".into(),
            origin: "https://api.example.test".into()
        }
    );
    assert!(asked.try_recv().is_err(), "exactly one prompt");
    // Past consent, each request met the address check: a person may allow
    // a host, never a private address behind it.
    for outcome in outcomes {
        assert_kind(
            &outcome.unwrap_err(),
            |k| matches!(k, CallErrorKind::Denied(m) if m == "the host refused the destination address"),
        );
    }
}

#[tokio::test]
async fn a_directory_offered_with_ask_is_lent_only_when_allowed() {
    let workspace = tempfile::tempdir().unwrap();
    std::fs::write(workspace.path().join("notes.txt"), "hello").unwrap();
    let config = Config::new("");
    config.agent(
        "lender",
        &format!(
            "id = \"lender\"\n[consent]\nmode = \"ask\"\n[tools]\nallow = [\"files.*\"]\n\
             [mounts]\nwork = {{ path = \"{}\", access = \"read-write\" }}\n\
             [skills.files]\npath = \"{{skill:files}}\"\n[skills.files.grants]\n\
             filesystem = [{{ mount = \"work\", guest = \"/workspace\", access = \"read-write\", ask = true }}]\n",
            workspace.path().display()
        ),
    );
    let (runtime, agent, queue) = open(&config, "lender");
    let session = Session::new("s");
    let read = ("files", "read", r#"{"path":"/workspace/notes.txt"}"#);
    let (report, prompt) =
        call_answering(&runtime, &queue, &agent, &session, read, ALLOW_ONCE).await;
    assert!(report.result.unwrap().contains("hello"));
    assert_eq!(
        prompt.capability,
        Capability::Filesystem {
            access: skillbox::Access::ReadWrite,
            guest: "/workspace".into()
        }
    );
    let (report, _) = call_answering(&runtime, &queue, &agent, &session, read, DENY).await;
    assert!(
        report.result.is_err(),
        "denied: no /workspace in the sandbox"
    );
}

#[tokio::test]
async fn a_secret_offered_with_ask_is_sent_only_when_allowed() {
    use std::os::unix::fs::PermissionsExt;
    let server = TestServer::start().await;
    let config = Config::new("[network.hosts]\n\"api.test\" = [\"127.0.0.1\"]\n");
    let key = config.path().join("key");
    std::fs::write(&key, "sk-ask-0123456789").unwrap();
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
    config.agent(
        "careful",
        &format!(
            "id = \"careful\"\n[consent]\nmode = \"ask\"\n[tools]\nallow = [\"exfil.*\"]\n\
             [skills.exfil]\npath = \"{{skill:exfil}}\"\n[skills.exfil.grants]\n\
             network = [{{ url = \"http://api.test:{}\", allow_private = true }}]\n\
             secrets = {{ API_KEY = {{ file = \"key\", ask = true }} }}\n",
            server.port()
        ),
    );
    let (runtime, agent, queue) = open(&config, "careful");
    let session = Session::new("s");
    let input = format!(
        r#"{{"url":"http://api.test:{}/","value":"x","via":"none"}}"#,
        server.port()
    );
    let leak = ("exfil", "leak", input.as_str());
    let (report, prompt) =
        call_answering(&runtime, &queue, &agent, &session, leak, ALLOW_ONCE).await;
    assert!(report.result.is_ok());
    assert_eq!(
        prompt.capability,
        Capability::Secret {
            name: "API_KEY".into(),
            origin: format!("http://api.test:{}", server.port())
        }
    );
    assert_eq!(
        server.requests()[0].headers["x-api-key"],
        "sk-ask-0123456789"
    );
    let (report, _) = call_answering(&runtime, &queue, &agent, &session, leak, DENY).await;
    assert!(report.result.is_err());
    assert_eq!(server.requests().len(), 1, "the refused request never left");
}

/// An "always" answer about an action a skill asks holds for those
/// details only: the same label with other details asks again, unless the
/// person chose "any details".
#[tokio::test]
async fn an_action_grant_covers_the_details_a_person_saw() {
    let config = Config::new("");
    text_agent(&config, "asked", "ask", "1s");
    let (runtime, agent, queue) = open(&config, "asked");
    let session = Session::new("s");
    let logs = ("asker", "delete", r#"{"files":["a.log","b.log"]}"#);
    let keys = ("asker", "delete", r#"{"files":["id_rsa","id_ed25519"]}"#);
    let always = allow(Scope::Always);
    let (report, _) = call_answering(&runtime, &queue, &agent, &session, logs, always).await;
    assert!(report.result.is_ok(), "{:?}", report.result);
    // The grant decides the same request, with nobody asked...
    let report = call_quietly(&runtime, &agent, &session, logs).await;
    assert!(report.result.is_ok(), "{:?}", report.result);
    // ...but not the same label over other files: a person is asked, and
    // nobody answers.
    let report = call_quietly(&runtime, &agent, &session, keys).await;
    assert!(report.result.is_err(), "{:?}", report.result);

    let any = Answer {
        any_details: true,
        ..always
    };
    let (report, prompt) = call_answering(&runtime, &queue, &agent, &session, keys, any).await;
    assert!(report.result.is_ok(), "{:?}", report.result);
    assert!(
        prompt.capability.to_string().contains("(details "),
        "{}",
        prompt.capability
    );
    let other = ("asker", "delete", r#"{"files":["x","y"]}"#);
    let report = call_quietly(&runtime, &agent, &session, other).await;
    assert!(report.result.is_ok(), "any details: {:?}", report.result);
    let remembered = grants::list(runtime.db(), "asked").unwrap();
    let shown: Vec<String> = remembered
        .iter()
        .map(|g| g.capability.to_string())
        .collect();
    assert!(
        shown.iter().any(|c| c.ends_with("(any details)")),
        "{shown:?}"
    );
}

/// The secret a test webhook shares with the host.
const WEBHOOK_SECRET: &str = "whsec-0123456789abcdef";

/// A host posting prompts to `url`, signed with [`WEBHOOK_SECRET`] (in a
/// private file), whose answers it trusts if `trust`.
fn webhook_config(url: &str, trust: bool) -> Config {
    let config = Config::new(&format!(
        "[consent]\nwebhook = \"{url}\"\nwebhook_secret = {{ file = \"webhook.secret\" }}\n\
         trust_webhook_answers = {trust}\n"
    ));
    let secret = config.path().join("webhook.secret");
    std::fs::write(&secret, WEBHOOK_SECRET).unwrap();
    std::fs::set_permissions(&secret, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    config
}

/// `t=<unix>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`, checked as a
/// receiver would, with an HMAC implementation of its own.
fn check_signature(header: &str, body: &[u8]) {
    use hmac::Mac;
    let (t, v1) = header
        .split_once(',')
        .and_then(|(t, v1)| Some((t.strip_prefix("t=")?, v1.strip_prefix("v1=")?)))
        .unwrap_or_else(|| panic!("not t=...,v1=...: {header}"));
    let sent: u64 = t.parse().unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    assert!(now.abs_diff(sent) < 300, "signed at {sent}, now {now}");
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(WEBHOOK_SECRET.as_bytes()).unwrap();
    mac.update(format!("{t}.").as_bytes());
    mac.update(body);
    mac.verify_slice(&hex::decode(v1).unwrap())
        .expect("the signature is the HMAC of the time and the body");
}

#[tokio::test]
async fn a_webhook_gets_the_prompt_signed_and_the_answer_comes_from_an_approver() {
    let bridge = TestServer::start().await;
    let config = webhook_config(&bridge.url("/webhook"), false);
    text_agent(&config, "bridged", "ask", "10s");
    let loaded = config.load();
    let runtime = open_runtime(loaded.host.clone());
    let queue = Arc::new(PromptQueue::default());
    let webhook = runtime.webhook(queue.clone()).unwrap().expect("configured");
    runtime.consent().attach(Arc::new(webhook));
    let agent = runtime.load_agent(&loaded.agents["bridged"]).unwrap();
    let session = Session::new("s");
    // Posted, not answered: the answer comes through the queue, as from
    // the HTTP API, once the bridge has the prompt.
    let mut asked = queue.subscribe();
    let calling = runtime.call(&agent, &session, REGEX.0, REGEX.1, REGEX.2);
    let answering = async {
        let prompt = next_prompt(&mut asked).await;
        while bridge.requests().is_empty() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        queue
            .answer(&prompt.id, ALLOW_ONCE, "a test".into())
            .await
            .expect("prompt pending");
    };
    let (report, ()) = tokio::join!(calling, answering);
    assert!(report.result.is_ok(), "{:?}", report.result);
    let posted = bridge.requests().pop().expect("the prompt was posted");
    let signature = posted.headers["skillbox-signature"].to_str().unwrap();
    check_signature(signature, &posted.body);
    let prompt: Prompt = serde_json::from_slice(&posted.body).expect("a prompt as JSON");
    assert_eq!(
        prompt.capability,
        Capability::Tool {
            tool: "text.regex_extract".into()
        }
    );
    assert_eq!(prompt.agent.as_str(), "bridged");
    let audit = audit::read(runtime.db(), "bridged", None).await.unwrap();
    let answer = audit
        .iter()
        .rfind(|e| e.event == audit::Event::Answer)
        .unwrap();
    assert_eq!(answer.channel.as_deref(), Some("webhook"));
}

/// Whoever answers at the webhook's URL (or pretends to) cannot approve:
/// an answer in the response decides only where the operator trusts it.
#[tokio::test]
async fn a_webhook_response_does_not_approve_unless_the_operator_trusts_it() {
    let bridge = TestServer::start().await;
    for trust in [false, true] {
        let config = webhook_config(&bridge.url("/webhook?answer=allow"), trust);
        text_agent(&config, "bridged", "ask", "1s");
        let loaded = config.load();
        let runtime = open_runtime(loaded.host.clone());
        let queue = Arc::new(PromptQueue::default());
        let webhook = runtime.webhook(queue).unwrap().expect("configured");
        runtime.consent().attach(Arc::new(webhook));
        let agent = runtime.load_agent(&loaded.agents["bridged"]).unwrap();
        let session = Session::new("s");
        // The response says "allow always"; nobody answers in the queue.
        for _ in 0..2 {
            let report = call_quietly(&runtime, &agent, &session, REGEX).await;
            match trust {
                false => assert_kind(
                    report.result.as_ref().unwrap_err(),
                    |k| matches!(k, CallErrorKind::Denied(why) if why.contains("no answer")),
                ),
                true => assert!(report.result.is_ok(), "{:?}", report.result),
            }
        }
        let remembered = grants::list(runtime.db(), "bridged").unwrap();
        assert_eq!(remembered.len(), usize::from(trust), "{remembered:?}");
    }
}

/// Deny always wins: a tool the agent denies is refused before any prompt,
/// in the modes that ask, even with an allow remembered from before the
/// operator denied it.
#[tokio::test]
async fn a_denied_tool_is_never_asked_about_nor_allowed_by_a_remembered_answer() {
    for mode in ["ask", "always"] {
        let config = Config::new("");
        config.agent(
            "careful",
            &format!(
                "id = \"careful\"\n[consent]\nmode = \"{mode}\"\ntimeout = \"5s\"\n\
                 [tools]\nallow = [\"text.*\"]\ndeny = [\"text.regex_extract\"]\n\
                 [skills.text]\npath = \"{{skill:text}}\"\n"
            ),
        );
        let (runtime, agent, queue) = open(&config, "careful");
        let remembered = grants::Grant {
            id: "g1".into(),
            skill: "text".into(),
            capability: Capability::Tool {
                tool: "text.regex_extract".into(),
            },
            allow: true,
            created_at: std::time::SystemTime::now(),
            expires_at: None,
            uses_left: None,
            by: "a person, before the deny".into(),
        };
        grants::add(runtime.db(), "careful", &remembered)
            .await
            .unwrap();
        let mut asked = queue.subscribe();
        let report = call_quietly(&runtime, &agent, &Session::new("s"), REGEX).await;
        assert_kind(&report.result.unwrap_err(), |k| {
            *k == CallErrorKind::Denied("denied for agent 'careful' (tools.deny)".into())
        });
        assert!(asked.try_recv().is_err(), "mode {mode}: nobody was asked");
        let entry = audit::read(runtime.db(), "careful", None)
            .await
            .unwrap()
            .pop()
            .unwrap();
        assert_eq!(entry.decision, "denied", "mode {mode}");
        assert!(entry.reason.contains("tools.deny"), "{}", entry.reason);
    }
}
