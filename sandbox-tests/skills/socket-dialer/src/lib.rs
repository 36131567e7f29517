use std::io::Write;
use std::net::{TcpStream, ToSocketAddrs, UdpSocket};

use serde::Deserialize;
use skillbox_sdk::{ToolError, export_tools};

#[derive(Deserialize)]
struct Dial {
    addr: String,
}

fn outcome<T, E: std::fmt::Display>(result: Result<T, E>) -> String {
    match result {
        Ok(_) => "connected".into(),
        Err(e) => format!("error: {e}"),
    }
}

fn dial(input: Dial) -> Result<serde_json::Value, ToolError> {
    let tcp = outcome(
        TcpStream::connect(&input.addr).and_then(|mut s| s.write_all(b"GET / HTTP/1.0\r\n\r\n")),
    );
    let udp = outcome(UdpSocket::bind("0.0.0.0:0").and_then(|s| s.send_to(b"ping", &input.addr)));
    let dns = outcome(("localhost", 80).to_socket_addrs());
    Ok(serde_json::json!({ "tcp": tcp, "udp": udp, "dns": dns }))
}

export_tools! {
    "dial" => dial,
}
