//! Host bindings generated from `wit/skill.wit`. WASI types come from
//! wasmtime-wasi and wasmtime-wasi-http, so that their implementations apply.

wasmtime::component::bindgen!({
    path: "../wit",
    world: "skill",
    imports: { default: async | trappable },
    with: {
        "wasi:io": wasmtime_wasi::p2::bindings::io,
        "wasi:clocks": wasmtime_wasi::p2::bindings::clocks,
        "wasi:filesystem": wasmtime_wasi::p2::bindings::filesystem,
        "wasi:random": wasmtime_wasi::p2::bindings::random,
        "wasi:http": wasmtime_wasi_http::p2::bindings::http,
    },
});
