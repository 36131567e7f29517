//! Secrets: a skill asks for a secret by name, bound to hosts and a header
//! (`[capabilities.secrets]`); an agent grants it a value, from the
//! environment or a private file. A guest never sees the value: the egress
//! layer injects it into the skill's requests to those hosts, refuses any
//! other request carrying it, and masks it in answers
//! ([`crate::egress`]). So secrets have no import of their own: they reach
//! a call through its network access ([`super::http`]), and are decided
//! before every other capability, since each skill's requests are scanned
//! for every secret of its agent.

use super::{CallContext, CapError, GrantContext, HostCapability, OnInstall, Words};
use crate::config::{Capabilities, ConfigError, SecretRequest, read_secret};
use crate::egress::SecretBinding;

/// The secrets capability.
pub(crate) struct Secrets;

/// The secrets bound to a skill, with their values.
#[derive(Debug, Clone)]
pub(crate) struct SecretsGrant {
    pub bindings: Vec<SecretBinding>,
}

impl HostCapability for Secrets {
    type Grant = SecretsGrant;
    type State = ();

    fn grant(cx: &GrantContext<'_>) -> Result<Option<SecretsGrant>, ConfigError> {
        let mut bindings = Vec::new();
        for (name, source) in &cx.entry.grants.secrets {
            let field = format!("secrets.{name}");
            let Some(request) = cx.manifest.capabilities.secrets.get(name) else {
                return Err(cx.error(
                    &field,
                    source.line,
                    format!("skill '{}' does not ask for a secret {name}", cx.skill),
                ));
            };
            let value = read_secret(&source.value.source, &cx.host.dir)
                .map_err(|e| cx.error(&field, source.line, e.to_string()))?;
            bindings.push(SecretBinding {
                name: name.clone(),
                value,
                hosts: request.hosts.clone(),
                header: request.header.clone(),
                value_template: request.value_template.clone(),
                ask: source.value.ask,
            });
        }
        Ok((!bindings.is_empty()).then_some(SecretsGrant { bindings }))
    }

    fn asked(asks: &Capabilities) -> Vec<Words> {
        let words = |(name, request): (&String, &SecretRequest)| Words {
            term: format!(
                "secret {name} as header '{}' to {}",
                request.header,
                hosts(request)
            ),
            sentence: format!("may have the secret {name} sent to {}", hosts(request)),
        };
        asks.secrets.iter().map(words).collect()
    }

    fn on_install(asks: &Capabilities) -> OnInstall {
        let left = asks
            .secrets
            .keys()
            .map(|name| format!("secret {name}: add a grant naming where its value comes from"));
        match asks.secrets.is_empty() {
            true => OnInstall::Nothing,
            false => OnInstall::Left(left.collect()),
        }
    }

    fn granted(grant: &SecretsGrant) -> Vec<String> {
        let words = |secret: &SecretBinding| {
            let hosts: Vec<String> = secret.hosts.iter().map(ToString::to_string).collect();
            let ask = match secret.ask {
                true => " (each use asks a person)",
                false => "",
            };
            format!(
                "secret {} as header '{}' to {}{ask}",
                secret.name,
                secret.header,
                hosts.join(", ")
            )
        };
        grant.bindings.iter().map(words).collect()
    }

    fn not_granted(asks: &Capabilities, grant: Option<&SecretsGrant>) -> Vec<String> {
        let granted = |name: &str| grant.is_some_and(|g| g.bindings.iter().any(|b| b.name == name));
        asks.secrets
            .keys()
            .filter(|name| !granted(name))
            .map(|name| format!("secret {name}"))
            .collect()
    }

    async fn prepare(
        _grant: Option<&SecretsGrant>,
        _call: &CallContext<'_>,
    ) -> Result<(), CapError> {
        Ok(())
    }
}

fn hosts(request: &SecretRequest) -> String {
    let hosts: Vec<String> = request.hosts.iter().map(ToString::to_string).collect();
    hosts.join(", ")
}
