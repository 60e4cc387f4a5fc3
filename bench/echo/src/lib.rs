//! bench-echo: the smallest useful spin-sdk 7 component — answers a fixed
//! JSON body — so a load test measures the host, not the guest. It imports
//! only standard WASI (no spin:postgres), so `wasmtime serve` can run it too.

use spin_sdk::http::{Request, Response};
use spin_sdk::http_service;

#[http_service]
async fn handle(_req: Request) -> Response<String> {
    Response::builder()
        .status(200)
        .header("content-type", "application/json")
        .body(r#"{"ok":true}"#.to_string())
        .unwrap_or_else(|_| Response::new(String::new()))
}
