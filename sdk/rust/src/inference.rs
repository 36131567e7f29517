//! Chat completions through the host's shared model backend, metered to the
//! calling agent.
//!
//! Needs `inference = true` under `[capabilities]` in `skill.toml` and a
//! grant from the agent; the grant caps the tokens one tool call may spend.
//!
//! ```ignore
//! use skillbox_sdk::inference::Chat;
//!
//! let reply = Chat::new()
//!     .system("Answer in one sentence.")
//!     .user("What is WebAssembly?")
//!     .max_tokens(100)
//!     .send()?;
//! ```

use crate::Error;
use crate::bindings::skillbox::skill::inference as host;

/// A model's answer and what it cost.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub content: String,
    pub prompt_tokens: u32,
    pub completion_tokens: u32,
}

/// A chat request, built message by message.
#[derive(Debug, Clone, Default)]
pub struct Chat {
    request: Request,
}

#[derive(Debug, Clone, Default)]
struct Request {
    model: Option<String>,
    messages: Vec<host::Message>,
    max_tokens: Option<u32>,
    temperature: Option<f32>,
}

impl Chat {
    pub fn new() -> Chat {
        Chat::default()
    }

    pub fn system(self, content: &str) -> Chat {
        self.message("system", content)
    }

    pub fn user(self, content: &str) -> Chat {
        self.message("user", content)
    }

    pub fn assistant(self, content: &str) -> Chat {
        self.message("assistant", content)
    }

    fn message(mut self, role: &str, content: &str) -> Chat {
        self.request.messages.push(host::Message {
            role: role.to_owned(),
            content: content.to_owned(),
        });
        self
    }

    /// One of the agent's models, by name; the agent's first if not set.
    pub fn model(mut self, model: &str) -> Chat {
        self.request.model = Some(model.to_owned());
        self
    }

    /// At most this many tokens in the answer (the host may cap it lower).
    pub fn max_tokens(mut self, max: u32) -> Chat {
        self.request.max_tokens = Some(max);
        self
    }

    pub fn temperature(mut self, temperature: f32) -> Chat {
        self.request.temperature = Some(temperature);
        self
    }

    pub fn send(self) -> Result<Reply, Error> {
        let request = self.request;
        let reply = host::chat(&host::ChatRequest {
            model: request.model,
            messages: request.messages,
            max_tokens: request.max_tokens,
            temperature: request.temperature,
        })?;
        Ok(Reply {
            content: reply.content,
            prompt_tokens: reply.prompt_tokens,
            completion_tokens: reply.completion_tokens,
        })
    }
}
