//! Outbound HTTP from guests (`wasi:http/client.send`): requests to
//! destinations outside the component's `allowed_outbound_hosts` fail with
//! `HTTP-request-denied` before any connection is made, as on Spin; allowed
//! ones go out through wasmtime-wasi-http's default client.

use std::future::Future;
use std::sync::Arc;

use http_body_util::BodyExt;
use wasmtime_wasi_http::{default_send_request, Error, RequestOptions, WasiBody, WasiHttpHooks};

use crate::outbound::{default_port, AllowedHosts};

type SendFuture = Box<
    dyn Future<Output = Result<(http::Response<WasiBody>, Box<dyn Future<Output = Result<(), Error>> + Send>), Error>>
        + Send,
>;

/// The `wasi:http` hooks of one store.
pub struct OutboundHttp {
    allowed: Arc<AllowedHosts>,
}

impl OutboundHttp {
    pub fn new(allowed: Arc<AllowedHosts>) -> OutboundHttp {
        OutboundHttp { allowed }
    }

    fn permits(&self, uri: &http::Uri) -> bool {
        let (Some(scheme), Some(host)) = (uri.scheme_str(), uri.host()) else { return false };
        let Some(port) = uri.port_u16().or_else(|| default_port(scheme)) else { return false };
        self.allowed.allows(scheme, host.trim_start_matches('[').trim_end_matches(']'), port)
    }
}

impl WasiHttpHooks for OutboundHttp {
    fn send_request(
        &mut self,
        request: http::Request<WasiBody>,
        options: Option<RequestOptions>,
        fut: Box<dyn Future<Output = Result<(), Error>> + Send>,
    ) -> SendFuture {
        drop(fut);
        if !self.permits(request.uri()) {
            return Box::new(async { Err(Error::HttpRequestDenied) });
        }
        Box::new(async move {
            let (response, io) = default_send_request(request, options).await?;
            Ok((response.map(BodyExt::boxed_unsync), Box::new(io) as Box<dyn Future<Output = _> + Send>))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_allowed_destinations_are_permitted() {
        let allowed = AllowedHosts::parse("c", &["http://127.0.0.1:54321".to_owned(), "https://api.example.com".to_owned()]).unwrap();
        let hooks = OutboundHttp::new(Arc::new(allowed));
        for (uri, expected) in [
            ("http://127.0.0.1:54321/storage/v1/object", true),
            ("https://api.example.com/x", true),
            ("http://api.example.com/x", false),
            ("http://127.0.0.1:9/x", false),
            ("/relative", false),
        ] {
            assert_eq!(hooks.permits(&uri.parse().unwrap()), expected, "{uri}");
        }
    }
}
