//! The channels prompts travel through to a person: the terminal, an
//! in-process queue that the HTTP API exposes, and a webhook.

mod queue;
mod terminal;
mod webhook;

pub use queue::PromptQueue;
pub(crate) use terminal::{Terminal, hold_screen};
pub(crate) use webhook::Webhook;
