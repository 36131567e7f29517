//! Reading a registry over HTTP, through the egress layer like every other
//! request the host makes: only the registry's own origin is allowed (a
//! redirect elsewhere is refused, not followed), and every answer is
//! bounded in size and time.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::BodyExt;
use serde::de::DeserializeOwned;

use super::MarketError;
use super::package::MAX_PACKAGE;
use super::registry::{Keys, Listing, Release, SignedIndex};
use crate::config::NetGrant;
use crate::egress::{Egress, EgressRules, NetworkAccess};
use crate::redact::SecretScanner;
use crate::vocab::{AgentId, Limits, NetPattern, is_skill_name};

/// Most of an index or key list.
const MAX_INDEX: u64 = 4 << 20;

pub struct RegistryClient {
    base: url::Url,
    network: Arc<NetworkAccess>,
}

impl RegistryClient {
    /// A client of the registry at `base`. The operator named it, so it may
    /// be a local or private address.
    pub fn new(egress: &Egress, base: &url::Url) -> Result<RegistryClient, MarketError> {
        let mut base = base.clone();
        if !base.path().ends_with('/') {
            base.set_path(&format!("{}/", base.path()));
        }
        let pattern = NetPattern::parse(&base.origin().ascii_serialization()).map_err(|e| {
            MarketError::Registry {
                url: base.to_string(),
                why: e.to_string(),
            }
        })?;
        let network = egress.network_access(EgressRules {
            agent: AgentId::new("host").expect("a valid id"),
            skill: "registry".into(),
            allow: vec![NetGrant {
                pattern,
                allow_private: true,
            }],
            requested: Vec::new(),
            secrets: Vec::new(),
            scanner: Arc::new(SecretScanner::new([])),
        });
        Ok(RegistryClient {
            base,
            network: Arc::new(network),
        })
    }

    pub fn url(&self) -> &url::Url {
        &self.base
    }

    /// The file at `path` under the registry, at most `cap` bytes.
    async fn fetch(&self, path: &str, cap: u64) -> Result<Bytes, MarketError> {
        let refused = |url: &dyn std::fmt::Display, why: String| MarketError::Registry {
            url: url.to_string(),
            why,
        };
        let url = self
            .base
            .join(path)
            .map_err(|e| refused(&self.base, e.to_string()))?;
        let limits = Limits {
            http_requests: 1,
            http_response: bytesize::ByteSize::b(cap),
            http_timeout: Duration::from_secs(60),
            ..Limits::DEFAULT
        };
        let request = http::Request::get(url.as_str())
            .body(http_body_util::Empty::<Bytes>::new())
            .expect("a valid request");
        let response = self
            .network
            .host_session(&limits)
            .send(request)
            .await
            .map_err(|e| refused(&url, e.to_string()))?;
        let status = response.status();
        if status.is_redirection() {
            let to = response
                .headers()
                .get(http::header::LOCATION)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("?");
            let why = format!("the registry redirects to {to}; redirects are not followed");
            return Err(refused(&url, why));
        }
        if status == http::StatusCode::NOT_FOUND {
            return Err(refused(&url, "not found".into()));
        }
        if !status.is_success() {
            return Err(refused(&url, format!("the registry answered {status}")));
        }
        let body = http_body_util::Limited::new(response.into_body(), cap as usize)
            .collect()
            .await
            .map_err(|e| refused(&url, e.to_string()))?;
        Ok(body.to_bytes())
    }

    async fn json<T: DeserializeOwned>(&self, path: &str) -> Result<T, MarketError> {
        let bytes = self.fetch(path, MAX_INDEX).await?;
        serde_json::from_slice(&bytes).map_err(|e| MarketError::Registry {
            url: format!("{}{path}", self.base),
            why: e.to_string(),
        })
    }

    /// The index of `name`, as served: the caller checks its signature.
    pub async fn index(&self, name: &str) -> Result<SignedIndex, MarketError> {
        if !is_skill_name(name) {
            return Err(MarketError::BadName(name.to_owned()));
        }
        self.json(&format!("index/{name}.json")).await
    }

    pub async fn keys(&self) -> Result<Keys, MarketError> {
        self.json("keys.json").await
    }

    /// Every skill of the registry, newest versions (`names.json`).
    pub async fn names(&self) -> Result<Vec<Listing>, MarketError> {
        self.json("names.json").await
    }

    /// The package file of `release` of `name`.
    pub async fn package(&self, name: &str, release: &Release) -> Result<Bytes, MarketError> {
        self.fetch(
            &format!("packages/{}", Release::file_name(name, &release.version)),
            MAX_PACKAGE,
        )
        .await
    }
}
