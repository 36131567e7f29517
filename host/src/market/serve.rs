//! `skillbox registry serve`: a registry directory over HTTP, read-only.
//! Only the files a registry has are served (`keys.json`, `names.json`,
//! `index/<name>.json`, `packages/<file>.skill`), by exact name: no
//! listing, no other path, nothing outside the directory.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::extract::{Path as UrlPath, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

/// A file name the registry may hold: letters, digits, `.`, `-`, `_`, `+`,
/// not starting with a dot.
fn plain(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with('.')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-+".contains(c))
}

async fn file(root: &Path, relative: PathBuf, content_type: &'static str) -> Response {
    match tokio::fs::read(root.join(relative)).await {
        Ok(bytes) => ([(header::CONTENT_TYPE, content_type)], bytes).into_response(),
        Err(_) => (StatusCode::NOT_FOUND, "not found").into_response(),
    }
}

pub fn router(root: PathBuf) -> axum::Router {
    let root = Arc::new(root);
    axum::Router::new()
        .route(
            "/keys.json",
            get(|State(root): State<Arc<PathBuf>>| async move {
                file(&root, "keys.json".into(), "application/json").await
            }),
        )
        .route(
            "/names.json",
            get(|State(root): State<Arc<PathBuf>>| async move {
                file(&root, "names.json".into(), "application/json").await
            }),
        )
        .route(
            "/index/{name}",
            get(
                |State(root): State<Arc<PathBuf>>, UrlPath(name): UrlPath<String>| async move {
                    if !plain(&name) || !name.ends_with(".json") {
                        return (StatusCode::NOT_FOUND, "not found").into_response();
                    }
                    file(&root, Path::new("index").join(name), "application/json").await
                },
            ),
        )
        .route(
            "/packages/{name}",
            get(
                |State(root): State<Arc<PathBuf>>, UrlPath(name): UrlPath<String>| async move {
                    if !plain(&name) || !name.ends_with(".skill") {
                        return (StatusCode::NOT_FOUND, "not found").into_response();
                    }
                    file(&root, Path::new("packages").join(name), "application/gzip").await
                },
            ),
        )
        .with_state(root)
}

/// Serve `dir` on `addr` until Ctrl-C or SIGTERM.
pub async fn serve(dir: &Path, addr: SocketAddr) -> anyhow::Result<()> {
    if !dir.join("index").is_dir() {
        anyhow::bail!("{} is not a registry: it has no index/", dir.display());
    }
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {addr}: {e}"))?;
    println!(
        "registry {} served on http://{}",
        dir.display(),
        listener.local_addr()?
    );
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    axum::serve(listener, router(dir.to_owned()))
        .with_graceful_shutdown(async move {
            tokio::select! {
                _ = terminate.recv() => {}
                _ = tokio::signal::ctrl_c() => {}
            }
        })
        .await?;
    Ok(())
}
