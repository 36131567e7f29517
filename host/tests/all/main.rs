//! The host's integration tests, in one binary: the `skillbox` command and
//! server driven as a person or a client would, and the shape of the crate.

mod admin;
mod agent_cli;
mod cli;
mod clients;
mod languages;
mod layers;
mod marketplace;
mod serve;
mod served;
mod util;
