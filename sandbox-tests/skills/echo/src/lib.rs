use serde::{Deserialize, Serialize};
use skillbox_sdk::{ToolError, export_tools};

#[derive(Deserialize, Serialize)]
struct Message {
    message: String,
}

fn echo(input: Message) -> Result<Message, ToolError> {
    Ok(input)
}

export_tools! {
    "echo" => echo,
}
