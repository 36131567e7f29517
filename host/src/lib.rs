//! skillbox hosts many AI agents on one machine and runs every skill they use
//! as a capability-restricted WebAssembly component.
//!
//! The data flow follows the modules: [`config`] reads manifests and
//! configuration, [`policy`] decides what a skill may use in an [`agent`],
//! [`sandbox`] runs a call under limits, [`caps`] implements each host
//! capability, [`egress`] is the one way out to the network, [`inference`]
//! shares the model backends among agents, [`db`] keeps durable state, and
//! [`runtime`] ties them together for the [`cli`], where [`agent`] runs
//! conversations.

pub mod agent;
pub mod api;
pub mod authoring;
pub mod caps;
pub mod cli;
pub mod config;
pub mod db;
pub mod egress;
pub mod inference;
pub mod market;
pub mod metrics;
pub mod policy;
pub mod prompt;
pub mod runtime;
pub mod sandbox;
pub mod skill;

pub use runtime::Runtime;
