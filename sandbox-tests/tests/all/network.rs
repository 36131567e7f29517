//! Outgoing HTTP from the hostile side: every request goes only where the
//! agent granted, to public addresses unless a grant names the host, one
//! hop at a time, within bounds. The test servers are real servers on
//! 127.0.0.1 that record what reaches them.

use sandbox_tests::http::TestServer;
use sandbox_tests::{Config, Host, assert_kind, call, fail};
use skillbox::Agent;
use skillbox::CallErrorKind;
use skillbox::Runtime;

/// `allowed.test` and `rebound.test` both point at the test servers.
const HOSTS: &str = "[network.hosts]\n\"allowed.test\" = [\"127.0.0.1\"]\n\
                     \"rebound.test\" = [\"127.0.0.1\"]\n";

/// A runtime whose agent `prober` holds `skill` with these network grants.
fn agent_with(skill: &str, grants: &str) -> (Config, Runtime, Agent) {
    agent_with_limits(skill, grants, "")
}

fn agent_with_limits(skill: &str, grants: &str, limits: &str) -> (Config, Runtime, Agent) {
    let config = Config::new(HOSTS);
    config.agent(
        "prober",
        &format!(
            "id = \"prober\"\n[tools]\nallow = [\"*\"]\n[skills.{skill}]\npath = \"{{skill:{skill}}}\"\n\
             [skills.{skill}.grants]\nnetwork = [{grants}]\n[limits]\n{limits}\n"
        ),
    );
    let (runtime, agent) = config.open("prober");
    (config, runtime, agent)
}

/// A grant of `allowed.test` on the server's port, private address allowed.
fn allowed(server: &TestServer) -> String {
    format!(
        "{{ url = \"http://allowed.test:{}\", allow_private = true }}",
        server.port()
    )
}

fn fetch(url: &str) -> String {
    serde_json::json!({ "url": url }).to_string()
}

#[track_caller]
fn assert_denied(error: &skillbox::CallError, how: &str) {
    assert_kind(
        error,
        |k| matches!(k, CallErrorKind::Denied(m) if m.contains(how)),
    );
}

#[tokio::test]
async fn a_granted_host_is_reached() {
    let server = TestServer::start().await;
    let (_config, runtime, agent) = agent_with("net-probe", &allowed(&server));
    let url = format!("http://allowed.test:{}/hello", server.port());
    let report = call(&runtime, &agent, "fetch", &fetch(&url)).await;
    assert_eq!(report.result.unwrap(), r#"{"bytes":2,"status":200}"#);
    assert_eq!(server.requests().len(), 1);
    assert_eq!(server.requests()[0].uri.path(), "/hello");
}

#[tokio::test]
async fn allow_private_holds_only_for_the_grant_that_says_so() {
    let (granted, other) = (TestServer::start().await, TestServer::start().await);
    // allowed.test may reach its private address on `granted`'s port only;
    // the wildcard grant matches the other port, but never privately.
    let grants = format!("{}, \"http://*:*\"", allowed(&granted));
    let (_config, runtime, agent) = agent_with("net-probe", &grants);
    let url = |port: u16| format!("http://allowed.test:{port}/");
    assert!(
        call(&runtime, &agent, "fetch", &fetch(&url(granted.port())))
            .await
            .result
            .is_ok()
    );
    let error = fail(&runtime, &agent, "fetch", &fetch(&url(other.port()))).await;
    assert_denied(&error, "the host refused the destination address");
    assert_eq!(granted.requests().len(), 1);
    assert!(other.requests().is_empty());
}

#[tokio::test]
async fn a_grant_naming_an_address_wins_over_a_wildcard() {
    let server = TestServer::start().await;
    let grants = format!("\"http://*:*\", \"http://127.0.0.1:{}\"", server.port());
    let (_config, runtime, agent) = agent_with("net-probe", &grants);
    let report = call(&runtime, &agent, "fetch", &fetch(&server.url("/"))).await;
    assert!(report.result.is_ok(), "{:?}", report.result);
}

#[tokio::test]
async fn request_bodies_are_bounded_by_the_calls_memory() {
    let server = TestServer::start().await;
    // 32 MiB of memory: the request bodies the host holds for the call share
    // it with the guest's own memory and the reserve for its handles, so
    // fewer than eight 4 MB bodies go out and the rest are refused.
    let (_config, runtime, agent) =
        agent_with_limits("net-flood", &allowed(&server), "memory = \"32MiB\"");
    let url = format!("http://allowed.test:{}/", server.port());
    let input = serde_json::json!({ "url": url, "times": 12, "body_bytes": 4_000_000 }).to_string();
    let report = call(&runtime, &agent, "flood", &input).await;
    let outcome: serde_json::Value = serde_json::from_str(&report.result.unwrap()).unwrap();
    let sent = outcome["sent"].as_u64().unwrap();
    assert_eq!(outcome["denied"], 0);
    assert_eq!(sent + outcome["failed"].as_u64().unwrap(), 12);
    assert!((1..8).contains(&sent), "{outcome}");
    assert_eq!(server.requests().len() as u64, sent);
}

#[tokio::test]
async fn hosts_ports_and_schemes_not_granted_are_refused() {
    let server = TestServer::start().await;
    let (_config, runtime, agent) = agent_with("net-probe", &allowed(&server));
    let port = server.port();
    for url in [
        format!("http://other.test:{port}/"),
        format!("http://allowed.test:{}/", port + 1),
        format!("https://allowed.test:{port}/"),
        format!("http://sub.allowed.test:{port}/"),
    ] {
        let error = fail(&runtime, &agent, "fetch", &fetch(&url)).await;
        assert_denied(&error, "the host refused the request");
    }
    assert!(server.requests().is_empty());
}

#[tokio::test]
async fn an_ip_literal_is_refused_even_under_a_wildcard_grant() {
    let server = TestServer::start().await;
    // "Any host on this port" still never reaches an address that is not
    // public: only a grant naming the address could.
    let (_config, runtime, agent) =
        agent_with("net-probe", &format!("\"http://*:{}\"", server.port()));
    let url = server.url("/");
    let error = fail(&runtime, &agent, "fetch", &fetch(&url)).await;
    assert_denied(&error, "the host refused the request");
    assert!(server.requests().is_empty());

    // The same address, named by the grant, is reached.
    let (_config, runtime, agent) = agent_with(
        "net-probe",
        &format!("\"http://127.0.0.1:{}\"", server.port()),
    );
    assert!(
        call(&runtime, &agent, "fetch", &fetch(&url))
            .await
            .result
            .is_ok()
    );
    assert_eq!(server.requests().len(), 1);
}

#[tokio::test]
async fn loopback_and_cloud_metadata_are_refused() {
    let server = TestServer::start().await;
    let (_config, runtime, agent) = agent_with("net-probe", "\"http://*:*\"");
    for url in [
        server.url("/"),
        format!("http://localhost:{}/", server.port()),
        format!("http://[::ffff:127.0.0.1]:{}/", server.port()),
        "http://169.254.169.254/latest/meta-data/".to_owned(),
        "http://[fd00:ec2::254]/latest/meta-data/".to_owned(),
        "http://100.100.100.200/latest/meta-data/".to_owned(),
    ] {
        let error = fail(&runtime, &agent, "fetch", &fetch(&url)).await;
        assert_kind(
            &error,
            |k| matches!(k, CallErrorKind::Denied(m) if m.starts_with("the host refused")),
        );
    }
    assert!(server.requests().is_empty());
}

#[tokio::test]
async fn dns_pointing_a_granted_name_at_loopback_is_refused() {
    let server = TestServer::start().await;
    // rebound.test is granted by name, without allow_private, and resolves
    // to 127.0.0.1: the check at connect time refuses it.
    let grant = format!("\"http://rebound.test:{}\"", server.port());
    let (_config, runtime, agent) = agent_with("net-probe", &grant);
    let url = format!("http://rebound.test:{}/", server.port());
    let error = fail(&runtime, &agent, "fetch", &fetch(&url)).await;
    assert_denied(&error, "the host refused the destination address");
    assert!(server.requests().is_empty());
}

#[tokio::test]
async fn a_redirect_to_a_host_not_granted_is_refused() {
    let (first, second) = (TestServer::start().await, TestServer::start().await);
    let (_config, runtime, agent) = agent_with("net-probe", &allowed(&first));
    let target = second.url("/secret");
    let url = format!("http://allowed.test:{}/redirect?to={target}", first.port());
    let input = serde_json::json!({ "url": url, "follow": true }).to_string();
    let error = fail(&runtime, &agent, "fetch", &input).await;
    assert_denied(&error, "the host refused the request");
    assert_eq!(first.requests().len(), 1, "the first hop is granted");
    assert!(second.requests().is_empty(), "the second hop never left");
}

#[tokio::test]
async fn a_huge_response_is_cut_off_at_the_limit() {
    let server = TestServer::start().await;
    let (_config, runtime, agent) = agent_with("net-hog", &allowed(&server));
    let url = format!("http://allowed.test:{}/bytes?n=100000000", server.port());
    let error = fail(&runtime, &agent, "download", &fetch(&url)).await;
    let CallErrorKind::Failed(message) = &error.kind else {
        panic!("unexpected error: {error}");
    };
    assert!(
        message.contains("response body size exceeds limit"),
        "{message}"
    );
    let read: u64 = message
        .trim_start_matches("stopped after ")
        .split(' ')
        .next()
        .and_then(|n| n.parse().ok())
        .expect("a byte count");
    assert!(
        read <= 4 << 20,
        "read {read} bytes, more than the 4 MiB limit"
    );
}

#[tokio::test]
async fn a_slow_response_times_out() {
    let server = TestServer::start().await;
    let (_config, runtime, agent) =
        agent_with_limits("net-probe", &allowed(&server), "http_timeout = \"300ms\"");
    let url = format!("http://allowed.test:{}/slow?ms=5000", server.port());
    let started = std::time::Instant::now();
    let error = fail(&runtime, &agent, "fetch", &fetch(&url)).await;
    assert_kind(
        &error,
        |k| matches!(k, CallErrorKind::Failed(m) if m == "the connection timed out"),
    );
    assert!(started.elapsed() < std::time::Duration::from_secs(3));
}

#[tokio::test]
async fn too_many_requests_in_one_call_are_refused() {
    let server = TestServer::start().await;
    let (_config, runtime, agent) = agent_with("net-flood", &allowed(&server));
    let url = format!("http://allowed.test:{}/", server.port());
    let input = serde_json::json!({ "url": url, "times": 30 }).to_string();
    let report = call(&runtime, &agent, "flood", &input).await;
    assert_eq!(
        report.result.unwrap(),
        r#"{"denied":10,"failed":0,"sent":20}"#
    );
    assert_eq!(server.requests().len(), 20);
}

#[tokio::test]
async fn a_skill_without_a_network_grant_is_refused() {
    let server = TestServer::start().await;
    let host = Host::new();
    let probe = host.load("net-probe");
    let error = host.fail(&probe, "fetch", &fetch(&server.url("/"))).await;
    assert_denied(&error, "the host refused the request");
    assert!(server.requests().is_empty());
}

#[tokio::test]
async fn raw_sockets_are_refused() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let host = Host::new();
    let dialer = host.load("socket-dialer");
    let input = serde_json::json!({ "addr": addr }).to_string();
    let report = host.call(&dialer, "dial", &input).await;
    let outcome: serde_json::Value = serde_json::from_str(&report.result.unwrap()).unwrap();
    for (attempt, result) in outcome.as_object().unwrap() {
        assert!(
            result.as_str().unwrap().starts_with("error"),
            "{attempt}: {result}"
        );
    }
    assert!(
        matches!(listener.accept(), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock),
        "no connection may arrive"
    );
}
