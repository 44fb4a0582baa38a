//! # jcselect-transport-http
//!
//! The client side of the HTTP API: an [`Exchange`] over reqwest, with
//! pooled keep-alive connections, gzip answers, a connect time-out and a
//! request time-out that grows with the body (a slow link still finishes). What statuses mean (409 is a normal answer) is decided once in
//! [`jcselect_sync::transport`].

use std::time::Duration;

use async_trait::async_trait;
use jcselect_sync::transport::{Exchange, ExchangeRequest, ExchangeResponse, NetworkError};

/// Time-outs of an [`HttpTransport`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// Longest wait for a TCP (and TLS) connection.
    pub connect: Duration,
    /// Longest wait for a request with no body and its answer; a request
    /// with a body gets this plus the time its body takes at
    /// `slowest_link_bytes_per_second`.
    pub request: Duration,
    /// The slowest upload the client waits for, in bytes per second.
    pub slowest_link_bytes_per_second: u64,
}

impl Timeouts {
    /// The time allowed for a request whose body is `body_bytes` long.
    pub fn for_body(&self, body_bytes: usize) -> Duration {
        let upload = body_bytes as f64 / self.slowest_link_bytes_per_second.max(1) as f64;
        self.request + Duration::from_secs_f64(upload)
    }
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            connect: Duration::from_secs(10),
            request: Duration::from_secs(120),
            slowest_link_bytes_per_second: 2048,
        }
    }
}

/// A server reached over HTTP(S).
#[derive(Debug, Clone)]
pub struct HttpTransport {
    base: String,
    client: reqwest::Client,
    timeouts: Timeouts,
}

impl HttpTransport {
    /// A transport to the server at `base_url` (`http://host:port`).
    pub fn new(base_url: &str, timeouts: Timeouts) -> Result<Self, NetworkError> {
        let client = reqwest::Client::builder()
            .connect_timeout(timeouts.connect)
            .pool_idle_timeout(Duration::from_secs(90))
            .tcp_nodelay(true)
            .gzip(true)
            .user_agent(concat!("jcselect-sync/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|error| NetworkError(error.to_string()))?;
        Ok(HttpTransport {
            base: base_url.trim_end_matches('/').to_owned(),
            client,
            timeouts,
        })
    }
}

#[async_trait]
impl Exchange for HttpTransport {
    async fn exchange(&self, request: ExchangeRequest) -> Result<ExchangeResponse, NetworkError> {
        let url = format!("{}{}", self.base, request.path);
        let mut builder = match request.method {
            "POST" => self.client.post(&url),
            _ => self.client.get(&url),
        };
        if let Some(token) = &request.token {
            builder = builder.bearer_auth(token);
        }
        if let Some(station) = &request.station {
            builder = builder.header(jcselect_sync::wire::STATION_HEADER, station);
        }
        let body_bytes = request.body.as_ref().map_or(0, Vec::len);
        builder = builder.timeout(self.timeouts.for_body(body_bytes));
        if let Some(body) = request.body {
            builder = builder
                .header("content-type", "application/json")
                .body(body);
        }
        let response = builder.send().await.map_err(|error| {
            tracing::debug!(%url, %error, "request failed");
            NetworkError(error.to_string())
        })?;
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|value| value.to_str().ok())
            .and_then(|text| text.trim().parse::<u64>().ok());
        let body = response
            .bytes()
            .await
            .map_err(|error| NetworkError(format!("reading the answer: {error}")))?;
        Ok(ExchangeResponse {
            status,
            body: body.to_vec(),
            retry_after,
        })
    }
}
