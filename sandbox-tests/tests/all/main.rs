//! The containment tests, in one binary: hostile skills, registries,
//! models and configurations against a real runtime, each case contained
//! with a clear error while the host keeps serving. Shared set-up is in
//! `sandbox-tests/src`.

mod agent_data;
mod agent_loop;
mod audit;
mod authority;
mod consent;
mod contract;
mod filesystem;
mod inference;
mod isolation;
mod limits;
mod marketplace;
mod memory;
mod network;
mod secrets;
mod terminal;
mod tools;
