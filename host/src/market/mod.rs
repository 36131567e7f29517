//! The skill marketplace: signed packages ([`package`], [`signing`]) in
//! static registries ([`registry`]), and what a host needs to install them.

pub mod client;
pub mod install;
pub mod lock;
pub mod package;
pub mod registry;
pub mod serve;
pub mod signing;
pub mod store;
