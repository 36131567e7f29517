//! Skills in every language, from source to a call, through the CLI as an
//! author uses it: `skill new`, `skill build`, `skill run`, `skill check`.
//! The toolchains come from scripts/toolchains (the test script puts them
//! on PATH); the examples in skills/ are built by scripts/build-skills.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::process::Output;

use crate::util::{repo, run, skillbox as command};

/// Run skillbox with its own data directory (so memory persists across
/// the calls of one test and no further).
fn skillbox(data_dir: &Path, args: &[&str]) -> Output {
    run(command()
        .args(args)
        .env("SKILLBOX_DATA_DIR", data_dir)
        // The Rust template builds in the shared target directory.
        .env(
            "CARGO_TARGET_DIR",
            std::env::var_os("CARGO_TARGET_DIR").unwrap_or_else(|| repo().join("target").into()),
        ))
}

fn succeeded(output: &Output) -> String {
    assert!(
        output.status.success(),
        "failed: {}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn json(output: &Output) -> serde_json::Value {
    let stdout = succeeded(output);
    serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {stdout}"))
}

/// `skill new` in `lang`, then build, run `hello`, and check.
fn template_round_trip(lang: &str, expected: serde_json::Value) {
    let work = tempfile::tempdir().unwrap();
    let dir = work.path().join("greeter");
    let dir_arg = dir.to_str().unwrap();
    let data = work.path().join("data");
    succeeded(&skillbox(
        &data,
        &["skill", "new", "greeter", "--lang", lang, "--dir", dir_arg],
    ));
    let manifest = std::fs::read_to_string(dir.join("skill.toml")).unwrap();
    assert!(manifest.contains("name = \"greeter\""), "{manifest}");
    assert!(dir.join("README.md").is_file());

    let built = succeeded(&skillbox(&data, &["skill", "build", dir_arg]));
    assert!(built.starts_with("built "), "{built}");
    let ran = skillbox(
        &data,
        &[
            "skill",
            "run",
            dir_arg,
            "--tool",
            "hello",
            "--input",
            r#"{"name":"Ada"}"#,
        ],
    );
    assert_eq!(json(&ran), expected);
    if lang != "wat" {
        let log = String::from_utf8_lossy(&ran.stderr);
        assert!(log.contains("[greeter] info: greeting Ada"), "{log}");
    }
    let checked = succeeded(&skillbox(&data, &["skill", "check", dir_arg]));
    assert!(checked.contains("ok: the skill loads"), "{checked}");

    // A second `new` into the same place refuses rather than overwrite.
    let again = skillbox(
        &data,
        &["skill", "new", "greeter", "--lang", lang, "--dir", dir_arg],
    );
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("already exists"));
}

fn greeting(text: &str) -> serde_json::Value {
    serde_json::json!({ "greeting": text })
}

#[test]
fn the_wat_template_runs() {
    template_round_trip("wat", greeting("hello from WAT"));
}

#[test]
fn the_c_template_builds_and_runs() {
    template_round_trip("c", greeting("hello, Ada"));
}

#[test]
fn the_python_template_builds_and_runs() {
    template_round_trip("python", greeting("hello, Ada"));
}

#[test]
fn the_js_template_builds_and_runs() {
    template_round_trip("js", greeting("hello, Ada"));
}

#[test]
fn the_rust_template_builds_and_runs() {
    template_round_trip("rust", greeting("hello, Ada"));
}

fn example(name: &str) -> String {
    repo().join("skills").join(name).display().to_string()
}

#[test]
fn c_hash_computes_sha256_and_crc32() {
    let data = tempfile::tempdir().unwrap();
    let hash = example("hash");
    let run = |tool: &str, text: &str| {
        let input = serde_json::json!({ "text": text }).to_string();
        json(&skillbox(
            data.path(),
            &["skill", "run", &hash, "--tool", tool, "--input", &input],
        ))
    };
    // FIPS 180-4 test vectors, and one that spans blocks and escapes.
    assert_eq!(
        run("sha256", "abc")["sha256"],
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    );
    assert_eq!(
        run("sha256", "")["sha256"],
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    );
    assert_eq!(
        run(
            "sha256",
            "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"
        )["sha256"],
        "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"
    );
    // Escapes, UTF-8 and several blocks, against the sha2 crate.
    let text = format!("\"quoted\" é\n{}", "0123456789".repeat(100));
    let unicode = run("sha256", &text);
    assert_eq!(
        unicode["sha256"],
        hex::encode(<sha2::Sha256 as sha2::Digest>::digest(text.as_bytes()))
    );
    assert_eq!(unicode["bytes"], 1012);
    let crc = run("crc32", "The quick brown fox jumps over the lazy dog");
    assert_eq!(crc["crc32"], "414fa339");
    assert_eq!(crc["value"], 0x414f_a339_u32);
}

#[test]
fn python_csv_stats_summarises_and_remembers_across_processes() {
    let data = tempfile::tempdir().unwrap();
    let csv_stats = example("csv-stats");
    let input = serde_json::json!({
        "csv": "city,population,area\nAlba,120,3.5\nBree,80,\nCorin,100,2.5\n",
        "save_as": "towns",
    })
    .to_string();
    let summary = json(&skillbox(
        data.path(),
        &[
            "skill",
            "run",
            &csv_stats,
            "--tool",
            "summarize",
            "--input",
            &input,
        ],
    ));
    assert_eq!(summary["rows"], 3);
    let population = &summary["columns"]["population"];
    assert_eq!(population["count"], 3);
    assert_eq!(population["sum"], 300.0);
    assert_eq!(population["mean"], 100.0);
    assert_eq!(population["median"], 100.0);
    assert_eq!(summary["columns"]["area"]["count"], 2);
    assert_eq!(summary["columns"]["area"]["max"], 3.5);
    assert!(
        summary["columns"].get("city").is_none(),
        "text is not summarised"
    );

    // Another process, the same agent's memory.
    let recalled = json(&skillbox(
        data.path(),
        &[
            "skill",
            "run",
            &csv_stats,
            "--tool",
            "recall",
            "--input",
            r#"{"name":"towns"}"#,
        ],
    ));
    assert_eq!(recalled["found"], true);
    assert_eq!(recalled["summary"], summary);
    let missing = json(&skillbox(
        data.path(),
        &[
            "skill",
            "run",
            &csv_stats,
            "--tool",
            "recall",
            "--input",
            r#"{"name":"cities"}"#,
        ],
    ));
    assert_eq!(missing["found"], false);
}

/// A server on 127.0.0.1 that answers every request with `body`, and counts.
fn serve_markdown(body: &'static str) -> (u16, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let served = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let count = served.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut request = [0u8; 4096];
            let _ = stream.read(&mut request);
            count.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let _ = write!(
                stream,
                "HTTP/1.1 200 OK\r\ncontent-type: text/markdown\r\ncontent-length: {}\r\n\
                 connection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    (port, served)
}

#[test]
fn js_markdown_renders_and_fetches_only_through_the_allowlist() {
    let work = tempfile::tempdir().unwrap();
    let data = work.path().join("data");
    let markdown = example("markdown");
    let rendered = json(&skillbox(
        &data,
        &[
            "skill",
            "run",
            &markdown,
            "--tool",
            "render",
            "--input",
            r##"{"text":"# Notes\n\nSee *this* and `a<b`:\n\n- [docs](https://docs.example/x)\n- two"}"##,
        ],
    ));
    assert_eq!(
        rendered["html"],
        "<h1>Notes</h1>\n<p>See <em>this</em> and <code>a&lt;b</code>:</p>\n\
         <ul><li><a href=\"https://docs.example/x\">docs</a></li><li>two</li></ul>"
    );

    // An agent that grants the skill one host, docs.test, which the host
    // configuration resolves to a local server.
    let (port, served) = serve_markdown("[home](https://home.example) and ![logo](/logo.png)");
    let config = work.path().join("config");
    std::fs::create_dir_all(config.join("agents")).unwrap();
    std::fs::write(
        config.join("skillbox.toml"),
        "[network.hosts]\n\"docs.test\" = [\"127.0.0.1\"]\n",
    )
    .unwrap();
    std::fs::write(
        config.join("agents/reader.toml"),
        format!(
            "id = \"reader\"\n[tools]\nallow = [\"markdown.*\"]\n[skills.markdown]\npath = \"{markdown}\"\n\
             [skills.markdown.grants]\nnetwork = [{{ url = \"http://docs.test:{port}\", allow_private = true }}]\n"
        ),
    )
    .unwrap();
    let as_reader = |url: String| {
        let input = serde_json::json!({ "url": url }).to_string();
        let config = config.to_str().unwrap();
        skillbox(
            &data,
            &[
                "skill", "run", "markdown", "--tool", "links", "--input", &input, "--agent",
                "reader", "--config", config,
            ],
        )
    };
    let links = json(&as_reader(format!("http://docs.test:{port}/readme.md")));
    assert_eq!(
        links["links"],
        serde_json::json!([
            { "text": "home", "url": "https://home.example", "image": false },
            { "text": "logo", "url": "/logo.png", "image": true },
        ])
    );
    assert_eq!(served.load(std::sync::atomic::Ordering::SeqCst), 1);

    // The same server by its address is not the granted host: denied
    // before anything is sent.
    let denied = as_reader(format!("http://127.0.0.1:{port}/readme.md"));
    assert!(!denied.status.success());
    let stderr = String::from_utf8_lossy(&denied.stderr);
    assert!(
        stderr.contains("tool 'markdown.links' was denied"),
        "{stderr}"
    );
    assert_eq!(served.load(std::sync::atomic::Ordering::SeqCst), 1);
}

#[test]
fn skill_build_names_the_missing_toolchain_in_one_line() {
    let work = tempfile::tempdir().unwrap();
    let dir = work.path().join("py");
    let dir_arg = dir.to_str().unwrap();
    let data = work.path().join("data");
    succeeded(&skillbox(
        &data,
        &["skill", "new", "py", "--lang", "python", "--dir", dir_arg],
    ));
    let output = command()
        .args(["skill", "build", dir_arg])
        .env("PATH", work.path())
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert_eq!(
        String::from_utf8_lossy(&output.stderr).trim(),
        "error: componentize-py not found; to install it: pip install componentize-py==0.25.1"
    );
}

#[test]
fn skill_check_reports_a_missing_export_and_imports_that_will_be_denied() {
    let work = tempfile::tempdir().unwrap();
    let data = work.path().join("data");
    // Not a skill: a component that exports nothing.
    let empty = work.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    std::fs::write(empty.join("component.wat"), "(component)").unwrap();
    std::fs::write(
        empty.join("skill.toml"),
        "[skill]\nname = \"empty\"\nversion = \"0.1.0\"\ndescription = \"d\"\ncomponent = \"component.wat\"\n\
         [[tool]]\nname = \"t\"\ndescription = \"d\"\ninput_schema = { type = \"object\" }\n",
    )
    .unwrap();
    let checked = skillbox(&data, &["skill", "check", empty.to_str().unwrap()]);
    assert!(!checked.status.success());
    let report = String::from_utf8_lossy(&checked.stdout);
    assert!(
        report.contains("problem: ")
            && report.contains("does not export skillbox:skill/tools@0.1.0"),
        "{report}"
    );

    // csv-stats asks for memory and nothing else; its runtime imports
    // wasi:http and the filesystem, which will be denied.
    let checked = succeeded(&skillbox(&data, &["skill", "check", &example("csv-stats")]));
    assert!(
        checked.contains("imports skillbox:skill/memory@0.1.0\n"),
        "{checked}"
    );
    assert!(
        checked.contains("warning: imports wasi:http/outgoing-handler@0.2.12, but skill.toml asks for no network hosts"),
        "{checked}"
    );
    assert!(checked.contains("MiB)"), "the size is reported: {checked}");
}
