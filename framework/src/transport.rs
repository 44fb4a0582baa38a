//! How a client talks to a server. A transport only moves bytes
//! ([`Exchange`]); what the statuses and bodies mean is decided here, once,
//! for every transport ([`Transport`]).

use async_trait::async_trait;
use serde::de::DeserializeOwned;

use crate::pull::PullFrom;
use crate::timestamp::Timestamp;
use crate::wire::{
    ErrorBody, LoginRequest, LoginResponse, RefreshRequest, StationReport, SyncPullResponse,
    SyncPushRequest, SyncPushResponse,
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
    /// The station's report for the [`STATION_HEADER`](crate::wire::STATION_HEADER)
    /// header (JSON), if it sends one.
    pub station: Option<String>,
}

/// An HTTP-shaped answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExchangeResponse {
    /// The status code.
    pub status: u16,
    /// The body (decompressed).
    pub body: Vec<u8>,
    /// The `Retry-After` header in seconds, when the answer had one.
    pub retry_after: Option<u64>,
}

impl ExchangeResponse {
    /// An answer without a `Retry-After` header.
    pub fn new(status: u16, body: Vec<u8>) -> Self {
        ExchangeResponse {
            status,
            body,
            retry_after: None,
        }
    }
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

/// What can go wrong talking to the server. Only a jcselect server's own
/// answer is ever read as a verdict; everything else is
/// [`Transient`](TransportError::Transient) (PROTOCOL.md §5).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TransportError {
    /// No answer: the network or the server is down, or the link timed out.
    #[error("no answer from the server: {0}")]
    Network(String),
    /// An answer that says "not now": 408, 429, a 5xx, a redirect, or any
    /// answer that is not a jcselect server's (a captive portal's page, a
    /// proxy's 403 or 404, a truncated body). Nothing was applied that the
    /// client needs to know of; try again later.
    #[error("the server could not take the request now ({status}): {message}")]
    Transient {
        /// The status (0 when a success status came with a body that
        /// could not be read).
        status: u16,
        /// What came back, shortened.
        message: String,
        /// Seconds the answer asked us to wait (`Retry-After`).
        retry_after: Option<u64>,
    },
    /// The token is missing, expired or refused (401): log in again.
    #[error("not authorised: {0}")]
    Unauthorized(String),
    /// The request body was larger than the server (or a proxy) takes
    /// (413): send fewer changes at a time.
    #[error("request too large: {0}")]
    TooLarge(String),
    /// The jcselect server refused the request as a whole (a 4xx with its
    /// own JSON error body): no change in it was judged, none is parked.
    #[error("refused ({status} {code}): {message}")]
    Refused {
        /// The status.
        status: u16,
        /// The short code.
        code: String,
        /// What went wrong.
        message: String,
    },
}

impl TransportError {
    /// Whether trying again later may succeed without anything changing
    /// here (no answer, or a transient one).
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            TransportError::Network(_)
                | TransportError::Transient { .. }
                | TransportError::TooLarge(_)
        )
    }

    /// How long the answer asked the client to wait, in seconds.
    pub fn retry_after(&self) -> Option<u64> {
        match self {
            TransportError::Transient { retry_after, .. } => *retry_after,
            _ => None,
        }
    }

    /// Whether the link was too slow for the request (a time-out on either
    /// side): the client sends less per request next time.
    pub fn is_slow_link(&self) -> bool {
        match self {
            TransportError::Transient { status, .. } => *status == 408 || *status == 504,
            TransportError::Network(message) => message.contains("timed out"),
            _ => false,
        }
    }
}

/// A body is a jcselect server's own error only when it is a JSON object
/// with a string `error` and a string `message`.
fn jcselect_error(body: &[u8]) -> Option<ErrorBody> {
    serde_json::from_slice::<ErrorBody>(body)
        .ok()
        .filter(|error| !error.error.is_empty())
}

/// The start of a body, for a person reading a log line.
fn excerpt(body: &[u8]) -> String {
    let text: String = String::from_utf8_lossy(body)
        .chars()
        .filter(|c| !c.is_control() || *c == ' ')
        .take(120)
        .collect();
    if text.is_empty() {
        "(empty body)".into()
    } else {
        text
    }
}

/// What an answer that is not a success means. The one table of who may
/// give a verdict (PROTOCOL.md §5):
///
/// | status | body | meaning |
/// |---|---|---|
/// | 401 | any | [`Unauthorized`](TransportError::Unauthorized): log in again, retry |
/// | 413 | any | [`TooLarge`](TransportError::TooLarge): smaller batches |
/// | 408, 429, 3xx, 5xx | any | [`Transient`](TransportError::Transient) (429 and 503 honour `Retry-After`) |
/// | other 4xx | jcselect `{"error","message"}` | [`Refused`](TransportError::Refused): the request, not a change |
/// | other 4xx | anything else (HTML, empty, truncated) | [`Transient`](TransportError::Transient): a middlebox answered |
/// | anything else | any | [`Transient`](TransportError::Transient) |
///
/// A change is parked only on an entry of `failed_changes` or a dependency
/// conflict past its retries, which only a readable push response holds.
pub fn classify(response: &ExchangeResponse) -> TransportError {
    let own = jcselect_error(&response.body);
    let message = own
        .as_ref()
        .map_or_else(|| excerpt(&response.body), |body| body.message.clone());
    let transient = |message: String| TransportError::Transient {
        status: response.status,
        message,
        retry_after: response.retry_after,
    };
    match (response.status, own) {
        (401, _) => TransportError::Unauthorized(message),
        (413, _) => TransportError::TooLarge(message),
        (408 | 429 | 300..=399 | 500..=599, _) => transient(message),
        (status @ 400..=499, Some(body)) => TransportError::Refused {
            status,
            code: body.error,
            message: body.message,
        },
        (400..=499, None) => transient(format!(
            "not a jcselect answer (a proxy or captive portal?): {message}"
        )),
        _ => transient(format!("unexpected answer: {message}")),
    }
}

/// A success answer's body; one that cannot be read (cut off on the way,
/// or not from a jcselect server) is transient.
fn decode<T: DeserializeOwned>(response: &ExchangeResponse) -> Result<T, TransportError> {
    serde_json::from_slice(&response.body).map_err(|error| TransportError::Transient {
        status: response.status,
        message: format!("unreadable answer ({error}): {}", excerpt(&response.body)),
        retry_after: None,
    })
}

/// The protocol as a client sees it, on top of any [`Exchange`].
#[async_trait]
pub trait Transport: Send + Sync {
    /// `POST /auth/login`.
    async fn login(&self, username: &str, password: &str) -> Result<LoginResponse, TransportError>;
    /// `POST /auth/refresh`: a new access token (and the next refresh
    /// token) without the password.
    async fn refresh(&self, refresh_token: &str) -> Result<LoginResponse, TransportError>;
    /// `POST /sync/push`; a 409 is a normal answer (some changes wait).
    /// `station`: the report sent along, if any.
    async fn push(
        &self,
        token: &str,
        request: &SyncPushRequest,
        station: Option<&StationReport>,
    ) -> Result<SyncPushResponse, TransportError>;
    /// `GET /sync/pull`; `station`: the report sent along, if any.
    async fn pull(
        &self,
        token: &str,
        from: PullFrom,
        limit: usize,
        station: Option<&StationReport>,
    ) -> Result<SyncPullResponse, TransportError>;
}

fn station_header(station: Option<&StationReport>) -> Option<String> {
    station.map(StationReport::header_value)
}

/// Sends one request and reads its answer: a success status among
/// `expected` decodes as `T`, anything else goes through [`classify`].
async fn call<E: Exchange + ?Sized, T: DeserializeOwned>(
    exchange: &E,
    request: ExchangeRequest,
    expected: &[u16],
) -> Result<T, TransportError> {
    let response = exchange
        .exchange(request)
        .await
        .map_err(|error| TransportError::Network(error.0))?;
    if expected.contains(&response.status) {
        decode(&response)
    } else {
        Err(classify(&response))
    }
}

/// A `POST` of `body` as JSON.
fn post(path: &str, token: Option<&str>, body: &impl serde::Serialize) -> ExchangeRequest {
    ExchangeRequest {
        method: "POST",
        path: path.to_owned(),
        token: token.map(str::to_owned),
        body: Some(serde_json::to_vec(body).expect("wire types serialise")),
        station: None,
    }
}

#[async_trait]
impl<E: Exchange + ?Sized> Transport for E {
    async fn login(&self, username: &str, password: &str) -> Result<LoginResponse, TransportError> {
        let body = LoginRequest {
            username: username.to_owned(),
            password: password.to_owned(),
        };
        call(self, post("/auth/login", None, &body), &[200]).await
    }

    async fn refresh(&self, refresh_token: &str) -> Result<LoginResponse, TransportError> {
        let body = RefreshRequest {
            refresh_token: refresh_token.to_owned(),
        };
        call(self, post("/auth/refresh", None, &body), &[200]).await
    }

    async fn push(
        &self,
        token: &str,
        request: &SyncPushRequest,
        station: Option<&StationReport>,
    ) -> Result<SyncPushResponse, TransportError> {
        let mut exchange = post("/sync/push", Some(token), request);
        exchange.station = station_header(station);
        // a 409 is a normal answer: some changes wait for a parent
        call(self, exchange, &[200, 409]).await
    }

    async fn pull(
        &self,
        token: &str,
        from: PullFrom,
        limit: usize,
        station: Option<&StationReport>,
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
        let request = ExchangeRequest {
            method: "GET",
            path,
            token: Some(token.to_owned()),
            body: None,
            station: station_header(station),
        };
        call(self, request, &[200]).await
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
