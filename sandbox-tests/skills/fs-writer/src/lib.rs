use std::fs::{self, OpenOptions};
use std::io::Write;

use serde::Deserialize;
use skillbox_sdk::{ToolError, export_tools};

#[derive(Deserialize)]
struct Target {
    dir: String,
    existing: String,
}

fn outcome<T>(result: std::io::Result<T>) -> String {
    match result {
        Ok(_) => "done".into(),
        Err(e) => format!("error: {e}"),
    }
}

/// What happened to each attempt: "done" or the error.
fn write_all_ways(t: Target) -> Result<serde_json::Value, ToolError> {
    let new_file = format!("{}/planted.txt", t.dir);
    Ok(serde_json::json!({
        "create": outcome(fs::write(&new_file, "planted")),
        "overwrite": outcome(fs::write(&t.existing, "overwritten")),
        "append": outcome(OpenOptions::new().append(true).open(&t.existing).and_then(|mut f| f.write_all(b"appended"))),
        "truncate": outcome(OpenOptions::new().write(true).open(&t.existing).and_then(|f| f.set_len(0))),
        "rename": outcome(fs::rename(&t.existing, format!("{}/renamed.txt", t.dir))),
        "delete": outcome(fs::remove_file(&t.existing)),
        "mkdir": outcome(fs::create_dir(format!("{}/newdir", t.dir))),
    }))
}

#[derive(Deserialize)]
struct Link {
    /// Where the link points: anywhere, inside the mount or out of it.
    target: String,
    /// The link's path, relative to the first directory lent.
    link: String,
}

/// Create a symbolic link in the first directory lent; "done" or the error.
fn link(l: Link) -> Result<String, ToolError> {
    use skillbox_sdk::bindings::wasi::filesystem::preopens::get_directories;
    let Some((dir, _)) = get_directories().into_iter().next() else {
        return Ok("error: no directory".into());
    };
    Ok(match dir.symlink_at(&l.target, &l.link) {
        Ok(()) => "done".into(),
        Err(e) => format!("error: {e:?}"),
    })
}

export_tools! {
    "write_all_ways" => write_all_ways,
    "link" => link,
}
