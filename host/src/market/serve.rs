//! `skillbox registry serve`: a registry directory over HTTP, read-only.
//! Only the files a registry has are served (`keys.json`, `names.json`,
//! `index/<name>.json`, `packages/<file>.skill`), by exact name: no
//! listing, no other path, nothing outside the directory.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::extract::{Path as UrlPath, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use super::MarketError;

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

/// Whether `dir` is a registry directory.
pub fn check_dir(dir: &Path) -> Result<(), MarketError> {
    match dir.join("index").is_dir() {
        true => Ok(()),
        false => Err(MarketError::NotARegistry(dir.to_owned())),
    }
}

/// Serve the registry `dir` (see [`check_dir`]) on `listener` until
/// `shutdown` completes.
pub async fn serve(
    dir: &Path,
    listener: tokio::net::TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), MarketError> {
    axum::serve(listener, router(dir.to_owned()))
        .with_graceful_shutdown(shutdown)
        .await
        .map_err(MarketError::io(dir))
}
