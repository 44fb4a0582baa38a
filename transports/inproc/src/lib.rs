//! # jcselect-transport-inproc
//!
//! An [`Exchange`] that hands each request to a server's own request
//! handling — any `tower` service taking HTTP requests, such as the
//! server's router — without sockets. The same protocol code as over HTTP
//! runs on top, so one test suite covers both. A switch simulates the
//! network going down.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use async_trait::async_trait;
use http_body_util::{BodyExt, Full};
use jcselect_sync::transport::{Exchange, ExchangeRequest, ExchangeResponse, NetworkError};
use tower::{Service, ServiceExt};

/// A server in this process.
pub struct InProcessTransport<S> {
    service: S,
    online: Arc<AtomicBool>,
}

impl<S: Clone> Clone for InProcessTransport<S> {
    fn clone(&self) -> Self {
        InProcessTransport {
            service: self.service.clone(),
            online: self.online.clone(),
        }
    }
}

impl<S> InProcessTransport<S> {
    /// Requests go to `service`.
    pub fn new(service: S) -> Self {
        InProcessTransport {
            service,
            online: Arc::new(AtomicBool::new(true)),
        }
    }

    /// A switch that cuts (`false`) or restores (`true`) the "network":
    /// while cut, every exchange fails as an unreachable server would.
    pub fn network(&self) -> Arc<AtomicBool> {
        self.online.clone()
    }
}

#[async_trait]
impl<S, B> Exchange for InProcessTransport<S>
where
    S: Service<http::Request<Full<bytes::Bytes>>, Response = http::Response<B>>
        + Clone
        + Send
        + Sync
        + 'static,
    S::Future: Send,
    S::Error: std::fmt::Display,
    B: http_body::Body + Send + 'static,
    B::Data: Send,
    B::Error: std::fmt::Display,
{
    async fn exchange(&self, request: ExchangeRequest) -> Result<ExchangeResponse, NetworkError> {
        if !self.online.load(Ordering::SeqCst) {
            return Err(NetworkError(
                "connection refused (network switched off)".into(),
            ));
        }
        let mut builder = http::Request::builder()
            .method(request.method)
            .uri(&request.path)
            .header("content-type", "application/json");
        if let Some(token) = &request.token {
            builder = builder.header("authorization", format!("Bearer {token}"));
        }
        if let Some(station) = &request.station {
            builder = builder.header(jcselect_sync::wire::STATION_HEADER, station);
        }
        let body = Full::new(bytes::Bytes::from(request.body.unwrap_or_default()));
        let http_request = builder
            .body(body)
            .map_err(|error| NetworkError(error.to_string()))?;
        let response = self
            .service
            .clone()
            .oneshot(http_request)
            .await
            .map_err(|error| NetworkError(error.to_string()))?;
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get(http::header::RETRY_AFTER)
            .and_then(|value| value.to_str().ok())
            .and_then(|text| text.trim().parse::<u64>().ok());
        let body = response
            .into_body()
            .collect()
            .await
            .map_err(|error| NetworkError(error.to_string()))?
            .to_bytes();
        Ok(ExchangeResponse {
            status,
            body: body.to_vec(),
            retry_after,
        })
    }
}
