//! Summaries written by the agent's model, through the `inference` import:
//! metered to the agent, within the tokens its grant allows a call.

use serde::{Deserialize, Serialize};
use skillbox_sdk::inference::Chat;
use skillbox_sdk::{ToolError, export_tools};

#[derive(Deserialize)]
struct Summarize {
    text: String,
    #[serde(default = "default_words")]
    words: u32,
}

fn default_words() -> u32 {
    50
}

#[derive(Serialize)]
struct Summary {
    summary: String,
    tokens: u32,
}

fn summarize(input: Summarize) -> Result<Summary, ToolError> {
    let reply = Chat::new()
        .system(&format!(
            "Summarize the user's text in at most {} words. Answer with the summary only.",
            input.words
        ))
        .user(&input.text)
        // About two tokens a word leaves room to finish the last sentence.
        .max_tokens(input.words * 2)
        .send()?;
    Ok(Summary {
        summary: reply.content.trim().to_owned(),
        tokens: reply.prompt_tokens + reply.completion_tokens,
    })
}

export_tools! {
    "summarize" => summarize,
}
