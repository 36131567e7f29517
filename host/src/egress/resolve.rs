//! Name resolution for outgoing requests, checked where it is used: the
//! addresses returned here are the ones the connection is made to, so there
//! is no gap between checking an address and connecting to it.

use std::collections::{BTreeMap, HashSet};
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use reqwest::dns::{Addrs, Name, Resolve, Resolving};

use super::addr::is_public;

/// Resolves through the host's static table, then DNS, and drops every
/// address that is not public unless the name was granted with
/// `allow_private`.
pub(super) struct GuardedResolver {
    pub static_hosts: Arc<BTreeMap<String, Vec<IpAddr>>>,
    pub private_ok: HashSet<String>,
}

/// A name that resolved only to addresses the grant does not allow.
#[derive(Debug)]
pub(crate) struct AddressRefused {
    pub name: String,
    pub addresses: Vec<IpAddr>,
}

impl fmt::Display for AddressRefused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let addresses: Vec<String> = self.addresses.iter().map(ToString::to_string).collect();
        write!(
            f,
            "{} resolves only to addresses that are not public ({}); a grant must name it with \
             allow_private to reach them",
            self.name,
            addresses.join(", ")
        )
    }
}

impl std::error::Error for AddressRefused {}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        // `host.` and `host` are the same name.
        let name = name.as_str().trim_end_matches('.').to_ascii_lowercase();
        let fixed = self.static_hosts.get(&name).cloned();
        let private_ok = self.private_ok.contains(&name);
        Box::pin(async move {
            let addresses: Vec<IpAddr> = match fixed {
                Some(addresses) => addresses,
                None => tokio::net::lookup_host((name.as_str(), 0))
                    .await?
                    .map(|a| a.ip())
                    .collect(),
            };
            let allowed: Vec<SocketAddr> = addresses
                .iter()
                .filter(|ip| private_ok || is_public(**ip))
                .map(|ip| SocketAddr::new(*ip, 0))
                .collect();
            if allowed.is_empty() {
                return Err(Box::new(AddressRefused { name, addresses }) as _);
            }
            Ok(Box::new(allowed.into_iter()) as Addrs)
        })
    }
}
