//! `scripted-model [ADDR]`: serve the demo script (see [`scripted_model::demo`])
//! on ADDR, 127.0.0.1:8766 unless given, until stopped.

use std::net::SocketAddr;

#[tokio::main]
async fn main() {
    let addr: SocketAddr = match std::env::args().nth(1) {
        Some(addr) => addr.parse().unwrap_or_else(|e| {
            eprintln!("error: '{addr}' is not an address like 127.0.0.1:8766: {e}");
            std::process::exit(2)
        }),
        None => SocketAddr::from(([127, 0, 0, 1], 8766)),
    };
    let model = match scripted_model::ScriptedModel::start_on(addr, scripted_model::demo).await {
        Ok(model) => model,
        Err(e) => {
            eprintln!("error: cannot listen on {addr}: {e}");
            std::process::exit(1)
        }
    };
    eprintln!(
        "scripted model (OpenAI API at {}) ready",
        model.openai_url()
    );
    std::future::pending::<()>().await;
}
