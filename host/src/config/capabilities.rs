//! What a skill may ask for (`[capabilities]` in `skill.toml`), as written
//! and validated. Whether an agent's grant is covered by a request is
//! decided by each capability (`caps/`).

use std::collections::BTreeMap;

use serde::Deserialize;
use toml::Spanned;

use super::toml_file::{ConfigError, TomlFile};
use crate::vocab::{Access, HostPattern, NetPattern, is_host_controlled_header, is_secret_name};

/// A directory a skill asks to see, at `guest` inside the sandbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FsRequest {
    pub guest: String,
    pub access: Access,
}

/// A secret a skill asks the host to inject into its requests to `hosts`,
/// as the header `name: value` with the secret in place of `{}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretRequest {
    pub hosts: Vec<NetPattern>,
    pub header: http::HeaderName,
    pub value_template: String,
}

impl SecretRequest {
    /// The header value carrying `secret`.
    pub fn header_value(&self, secret: &str) -> String {
        self.value_template.replacen("{}", secret, 1)
    }
}

/// `[capabilities]` of a manifest: deny by default, whatever is absent.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Capabilities {
    /// Durable key/value storage (the `memory` import).
    pub memory: bool,
    /// Chat completions through the shared backend (the `inference` import).
    pub inference: bool,
    /// Hosts the skill may send HTTP requests to.
    pub network: Vec<NetPattern>,
    /// Directories the skill may see.
    pub filesystem: Vec<FsRequest>,
    /// Secrets the host injects into requests, by name.
    pub secrets: BTreeMap<String, SecretRequest>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawCapabilities {
    #[serde(default)]
    memory: bool,
    #[serde(default)]
    inference: bool,
    #[serde(default)]
    network: Vec<Spanned<String>>,
    #[serde(default)]
    filesystem: Vec<Spanned<RawFsRequest>>,
    #[serde(default)]
    secrets: BTreeMap<String, Spanned<RawSecretRequest>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFsRequest {
    guest: String,
    access: Access,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSecretRequest {
    hosts: Vec<Spanned<String>>,
    header: Spanned<String>,
}

impl RawCapabilities {
    pub(super) fn validate(self, file: &TomlFile) -> Result<Capabilities, ConfigError> {
        let network = self
            .network
            .iter()
            .enumerate()
            .map(|(i, p)| parse_pattern(file, &format!("capabilities.network[{i}]"), p))
            .collect::<Result<_, _>>()?;

        let mut filesystem: Vec<FsRequest> = Vec::new();
        for (i, request) in self.filesystem.into_iter().enumerate() {
            let span = request.span();
            let RawFsRequest { guest, access } = request.into_inner();
            let field = format!("capabilities.filesystem[{i}].guest");
            check_guest_path(&guest).map_err(|m| file.error(&field, Some(span.clone()), m))?;
            if filesystem.iter().any(|r| r.guest == guest) {
                return Err(file.error(field, Some(span), format!("'{guest}' is asked for twice")));
            }
            filesystem.push(FsRequest { guest, access });
        }

        let mut secrets = BTreeMap::new();
        for (name, request) in self.secrets {
            let span = request.span();
            let field = format!("capabilities.secrets.{name}");
            if !is_secret_name(&name) {
                return Err(file.error(
                    &field,
                    Some(span),
                    format!("'{name}' is not a secret name: use A-Z, 0-9 and '_', starting with a letter"),
                ));
            }
            let raw = request.into_inner();
            if raw.hosts.is_empty() {
                return Err(file.error(
                    format!("{field}.hosts"),
                    Some(span),
                    "name at least one host the secret may be sent to",
                ));
            }
            let mut hosts = Vec::new();
            for (i, host) in raw.hosts.iter().enumerate() {
                let at = format!("{field}.hosts[{i}]");
                let pattern = parse_pattern(file, &at, host)?;
                // A secret goes to hosts its skill names, never to any host.
                if pattern.host == HostPattern::Any {
                    return Err(file.error(
                        at,
                        Some(host.span()),
                        "a secret's hosts must be named (a host or *.domain), not '*'",
                    ));
                }
                hosts.push(pattern);
            }
            let (header, value_template) = parse_header_template(raw.header.get_ref())
                .map_err(|m| file.error(format!("{field}.header"), Some(raw.header.span()), m))?;
            secrets.insert(
                name,
                SecretRequest {
                    hosts,
                    header,
                    value_template,
                },
            );
        }

        Ok(Capabilities {
            memory: self.memory,
            inference: self.inference,
            network,
            filesystem,
            secrets,
        })
    }
}

pub(super) fn parse_pattern(
    file: &TomlFile,
    field: &str,
    text: &Spanned<String>,
) -> Result<NetPattern, ConfigError> {
    NetPattern::parse(text.get_ref())
        .map_err(|e| file.error(field, Some(text.span()), e.to_string()))
}

/// An absolute path of plain components: `/workspace`, `/data/in`.
pub(super) fn check_guest_path(guest: &str) -> Result<(), String> {
    let plain = guest.strip_prefix('/').is_some_and(|rest| {
        rest.split('/')
            .all(|part| !part.is_empty() && part != "." && part != "..")
    });
    if plain {
        Ok(())
    } else {
        Err(format!(
            "'{guest}' is not a guest path: use an absolute path without '.' or '..', e.g. /workspace"
        ))
    }
}

/// `Authorization: Bearer {}` → (`authorization`, `Bearer {}`).
fn parse_header_template(text: &str) -> Result<(http::HeaderName, String), String> {
    let bad = |why: &str| format!("'{text}' is not a header template: {why}");
    let (name, value) = text
        .split_once(':')
        .ok_or_else(|| bad("write Name: value, with {} where the secret goes"))?;
    let name =
        http::HeaderName::from_bytes(name.trim().as_bytes()).map_err(|_| bad("bad header name"))?;
    let value = value.trim().to_owned();
    if value.matches("{}").count() != 1 {
        return Err(bad("the value must hold {} exactly once"));
    }
    if is_host_controlled_header(&name) {
        return Err(bad("the host sets this header itself"));
    }
    Ok((name, value))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guest_paths() {
        for good in ["/workspace", "/data/in"] {
            assert!(check_guest_path(good).is_ok(), "{good}");
        }
        for bad in ["workspace", "/", "/a/../b", "/a/./b", "/a/", ""] {
            assert!(check_guest_path(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn header_templates() {
        let (name, value) = parse_header_template("Authorization: Bearer {}").unwrap();
        assert_eq!(name, http::header::AUTHORIZATION);
        assert_eq!(value, "Bearer {}");
        assert!(parse_header_template("X-Key {}").is_err());
        assert!(parse_header_template("X-Key: {} {}").is_err());
        assert!(parse_header_template("X-Key: none").is_err());
        assert!(parse_header_template("Host: {}").is_err());
    }
}
