//! Secrets, enforced on every request: a secret goes only to the hosts it is
//! bound to, as the header it is bound to, injected here (after a person's
//! consent when it is only offered); a request carrying a secret's value
//! anywhere else is refused (see [`allow`](super::allow) and the body check
//! in [`EgressSession::send`]); and what a host that received a secret
//! answers is masked before the guest reads it.

use bytes::Bytes;
use http::HeaderMap;
use http_body_util::BodyExt;
use url::Url;

use super::{BodyError, EgressError, EgressSession, Response, origin};
use crate::consent::Verdict;
use crate::redact::Mask;
use crate::vocab::{Capability, NetPattern};

/// One secret bound to a skill: its value goes into `header` on requests
/// to `hosts`.
#[derive(Clone)]
pub struct SecretBinding {
    pub name: String,
    pub value: String,
    pub hosts: Vec<NetPattern>,
    pub header: http::HeaderName,
    pub value_template: String,
    /// Offered, not given: each use needs a person's consent.
    pub ask: bool,
}

impl SecretBinding {
    pub fn header_value(&self) -> String {
        self.value_template.replacen("{}", &self.value, 1)
    }
}

impl std::fmt::Debug for SecretBinding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SecretBinding")
            .field("name", &self.name)
            .field("value", &"<redacted>")
            .field("hosts", &self.hosts)
            .field("header", &self.header)
            .finish()
    }
}

impl EgressSession {
    /// Put the secrets bound to `url`'s host into `headers`, after asking a
    /// person about those only offered; the secrets injected.
    pub(super) async fn inject(
        &self,
        url: &Url,
        headers: &mut HeaderMap,
    ) -> Result<Vec<&SecretBinding>, EgressError> {
        let bound = self.access.rules.secrets.iter();
        let injected: Vec<&SecretBinding> = bound
            .filter(|s| s.hosts.iter().any(|h| h.matches(url)))
            .collect();
        for secret in &injected {
            if secret.ask {
                let capability = Capability::Secret {
                    name: secret.name.clone(),
                    origin: origin(url),
                };
                let reason = "the agent lends this secret only with a person's consent";
                if let Verdict::Denied(why) = self.decide(capability, reason).await {
                    return Err(self.log_refusal(url, why));
                }
            }
            let value = http::HeaderValue::from_str(&secret.header_value()).map_err(|_| {
                EgressError::Denied(format!(
                    "secret {} is not a valid header value",
                    secret.name
                ))
            })?;
            headers.insert(secret.header.clone(), value);
        }
        Ok(injected)
    }
}

/// `response` as the guest may read it: a host that received a secret may
/// echo it, in a header or the body; the guest never sees it.
pub(super) fn masked<B>(injected: &[&SecretBinding], response: http::Response<B>) -> Response
where
    B: http_body::Body<Data = Bytes, Error = BodyError> + Send + Sync + Unpin + 'static,
{
    match Mask::new(injected.iter().map(|s| s.value.as_str())) {
        Some(mask) => {
            let (mut parts, body) = response.into_parts();
            mask.headers(&mut parts.headers);
            http::Response::from_parts(parts, mask.body(body).boxed())
        }
        None => response.map(|body| body.boxed()),
    }
}

/// `response` to a request that carried a secret, with a body the host
/// can read: asked for plainly, but a server may compress all the same.
/// gzip and deflate are decoded here (within `max` bytes); any other
/// encoding is refused, since the secret could pass through it unseen.
pub(super) async fn plain<B>(
    response: http::Response<B>,
    max: usize,
) -> Result<Response, EgressError>
where
    B: http_body::Body<Data = Bytes, Error = BodyError> + Send + Sync + Unpin + 'static,
{
    let encoding = response
        .headers()
        .get(http::header::CONTENT_ENCODING)
        .map(|v| {
            v.to_str()
                .unwrap_or("unreadable")
                .trim()
                .to_ascii_lowercase()
        });
    let decoder = match encoding.as_deref() {
        None | Some("identity") => return Ok(response.map(|body| body.boxed())),
        Some("gzip" | "x-gzip") => decode_gzip,
        Some("deflate") => decode_deflate,
        Some(other) => {
            return Err(EgressError::Protocol(format!(
                "the answer to a request carrying a secret is encoded as '{other}', which \
                 the host cannot inspect"
            )));
        }
    };
    let (mut parts, body) = response.into_parts();
    let compressed = body
        .collect()
        .await
        .map_err(|e| EgressError::Protocol(format!("reading the answer: {e}")))?
        .to_bytes();
    let plain = decoder(&compressed, max)?;
    parts.headers.remove(http::header::CONTENT_ENCODING);
    parts.headers.remove(http::header::CONTENT_LENGTH);
    let body = http_body_util::Full::new(Bytes::from(plain)).map_err(|never| match never {});
    Ok(http::Response::from_parts(parts, body.boxed()))
}

fn decode_gzip(bytes: &[u8], max: usize) -> Result<Vec<u8>, EgressError> {
    read_at_most(flate2::read::MultiGzDecoder::new(bytes), max)
}

/// HTTP's deflate is zlib-wrapped, though some servers send it raw.
fn decode_deflate(bytes: &[u8], max: usize) -> Result<Vec<u8>, EgressError> {
    read_at_most(flate2::read::ZlibDecoder::new(bytes), max)
        .or_else(|_| read_at_most(flate2::read::DeflateDecoder::new(bytes), max))
}

fn read_at_most(reader: impl std::io::Read, max: usize) -> Result<Vec<u8>, EgressError> {
    use std::io::Read;
    let mut plain = Vec::new();
    reader
        .take(max as u64 + 1)
        .read_to_end(&mut plain)
        .map_err(|e| EgressError::Protocol(format!("decoding the answer: {e}")))?;
    if plain.len() > max {
        return Err(EgressError::Protocol(format!(
            "the answer decodes to over {max} bytes"
        )));
    }
    Ok(plain)
}
