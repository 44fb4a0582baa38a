//! How a client talks to a server. A transport only moves bytes
//! ([`Exchange`]); what the statuses and bodies mean is decided here, once,
//! for every transport ([`Transport`]).

use async_trait::async_trait;
use serde::de::DeserializeOwned;

use crate::pull::PullFrom;
use crate::timestamp::Timestamp;
use crate::wire::{
    ErrorBody, LoginRequest, LoginResponse, SyncPullResponse, SyncPushRequest, SyncPushResponse,
};

/// An HTTP-shaped request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExchangeRequest {
    /// `GET` or `POST`.
    pub method: &'static str,
    /// Path and query, e.g. `/sync/pull?cursor=r42&limit=100`.
    pub path: String,
    /// The bearer token, if any.
    pub token: Option<String>,
    /// A JSON body, if any.
    pub body: Option<Vec<u8>>,
}

/// An HTTP-shaped answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExchangeResponse {
    /// The status code.
    pub status: u16,
    /// The body (decompressed).
    pub body: Vec<u8>,
}

/// Why an exchange did not get an answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct NetworkError(pub String);

/// Moves one request to a server and its answer back.
#[async_trait]
pub trait Exchange: Send + Sync {
    /// Sends `request`; an error only when no answer came (connection
    /// refused, reset, timed out).
    async fn exchange(&self, request: ExchangeRequest) -> Result<ExchangeResponse, NetworkError>;
}

/// What can go wrong talking to the server.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TransportError {
    /// No answer: the network or the server is down.
    #[error("no answer from the server: {0}")]
    Network(String),
    /// The token is missing, expired or refused (401): log in again.
    #[error("not authorised: {0}")]
    Unauthorized(String),
    /// The server could not serve the request (5xx); nothing was applied.
    #[error("server error {status}: {message}")]
    Server {
        /// The status.
        status: u16,
        /// Its message.
        message: String,
    },
    /// The server refused the request as sent (4xx other than 401/409).
    #[error("refused ({status} {code}): {message}")]
    Refused {
        /// The status.
        status: u16,
        /// The short code.
        code: String,
        /// What went wrong.
        message: String,
    },
    /// An answer this client cannot read.
    #[error("unreadable answer: {0}")]
    Decode(String),
}

impl TransportError {
    /// Whether trying again later may succeed (network, 5xx).
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            TransportError::Network(_) | TransportError::Server { .. }
        )
    }
}

fn decode<T: DeserializeOwned>(body: &[u8]) -> Result<T, TransportError> {
    serde_json::from_slice(body).map_err(|error| TransportError::Decode(error.to_string()))
}

fn failure(response: &ExchangeResponse) -> TransportError {
    let error: Option<ErrorBody> = serde_json::from_slice(&response.body).ok();
    let (code, message) = error.map_or_else(
        || {
            (
                String::new(),
                String::from_utf8_lossy(&response.body)
                    .chars()
                    .take(200)
                    .collect(),
            )
        },
        |body| (body.error, body.message),
    );
    match response.status {
        401 => TransportError::Unauthorized(message),
        status @ 500..=599 => TransportError::Server { status, message },
        status => TransportError::Refused {
            status,
            code,
            message,
        },
    }
}

/// The protocol as a client sees it, on top of any [`Exchange`].
#[async_trait]
pub trait Transport: Send + Sync {
    /// `POST /auth/login`.
    async fn login(&self, username: &str, password: &str) -> Result<LoginResponse, TransportError>;
    /// `POST /sync/push`; a 409 is a normal answer (some changes wait).
    async fn push(
        &self,
        token: &str,
        request: &SyncPushRequest,
    ) -> Result<SyncPushResponse, TransportError>;
    /// `GET /sync/pull`.
    async fn pull(
        &self,
        token: &str,
        from: PullFrom,
        limit: usize,
    ) -> Result<SyncPullResponse, TransportError>;
}

#[async_trait]
impl<E: Exchange + ?Sized> Transport for E {
    async fn login(&self, username: &str, password: &str) -> Result<LoginResponse, TransportError> {
        let body = serde_json::to_vec(&LoginRequest {
            username: username.to_owned(),
            password: password.to_owned(),
        })
        .expect("a log-in request serialises");
        let response = self
            .exchange(ExchangeRequest {
                method: "POST",
                path: "/auth/login".into(),
                token: None,
                body: Some(body),
            })
            .await
            .map_err(|error| TransportError::Network(error.0))?;
        match response.status {
            200 => decode(&response.body),
            _ => Err(failure(&response)),
        }
    }

    async fn push(
        &self,
        token: &str,
        request: &SyncPushRequest,
    ) -> Result<SyncPushResponse, TransportError> {
        let body = serde_json::to_vec(request).expect("a push request serialises");
        let response = self
            .exchange(ExchangeRequest {
                method: "POST",
                path: "/sync/push".into(),
                token: Some(token.to_owned()),
                body: Some(body),
            })
            .await
            .map_err(|error| TransportError::Network(error.0))?;
        match response.status {
            200 | 409 => decode(&response.body),
            _ => Err(failure(&response)),
        }
    }

    async fn pull(
        &self,
        token: &str,
        from: PullFrom,
        limit: usize,
    ) -> Result<SyncPullResponse, TransportError> {
        let path = match from {
            PullFrom::Cursor(None) => format!("/sync/pull?limit={limit}"),
            PullFrom::Cursor(Some(seq)) => {
                format!(
                    "/sync/pull?cursor={}&limit={limit}",
                    crate::pull::encode_cursor(seq)
                )
            }
            PullFrom::LastSync { last_sync, offset } => {
                format!("/sync/pull?last_sync={last_sync}&limit={limit}&offset={offset}")
            }
        };
        let response = self
            .exchange(ExchangeRequest {
                method: "GET",
                path,
                token: Some(token.to_owned()),
                body: None,
            })
            .await
            .map_err(|error| TransportError::Network(error.0))?;
        match response.status {
            200 => decode(&response.body),
            _ => Err(failure(&response)),
        }
    }
}

/// The server's clock as an answer revealed it, with the local clock
/// around the exchange (for the hybrid clock's offset).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServerTime {
    /// `server_timestamp`.
    pub server: Timestamp,
    /// Local wall clock when the request was sent.
    pub sent: Timestamp,
    /// Local wall clock when the answer came.
    pub received: Timestamp,
}
