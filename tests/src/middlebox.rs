//! What stands between a station and the centre on a real link: a layer
//! in front of the server's router that answers as a captive portal, a
//! proxy or an overloaded gateway would, and a TCP proxy that passes a
//! request body at a few kilobytes per second.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// An answer something other than the server's handler gives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// The server's own 408 (`{"error","message"}`), as a slow upload got.
    Timeout408,
    /// 429 with `Retry-After: 1`.
    TooMany429,
    /// A captive portal's 403 HTML page.
    Portal403,
    /// A reverse proxy's bare 404 (empty body).
    BareProxy404,
    /// An HTML 502 from a gateway.
    Gateway502,
    /// A redirect to a log-in page.
    Redirect302,
    /// The server's answer cut off half-way (after it applied the push).
    Truncated,
}

impl Fault {
    /// Every fault.
    pub const ALL: [Fault; 7] = [
        Fault::Timeout408,
        Fault::TooMany429,
        Fault::Portal403,
        Fault::BareProxy404,
        Fault::Gateway502,
        Fault::Redirect302,
        Fault::Truncated,
    ];
}

/// The fault answered to `/sync/*` requests while set.
pub type FaultSlot = Arc<Mutex<Option<Fault>>>;

/// The middleware: passes requests to the server unless a fault is set.
pub async fn answer_with_fault(
    State(slot): State<FaultSlot>,
    request: Request,
    next: Next,
) -> Response {
    let fault = *slot.lock().unwrap();
    let Some(fault) = fault.filter(|_| request.uri().path().starts_with("/sync/")) else {
        return next.run(request).await;
    };
    let html = |status: StatusCode, text: &'static str| {
        let mut response = (status, text).into_response();
        response
            .headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html"));
        response
    };
    match fault {
        Fault::Timeout408 => (
            StatusCode::REQUEST_TIMEOUT,
            [(header::CONTENT_TYPE, "application/json")],
            r#"{"error":"request_timeout","message":"request timed out"}"#,
        )
            .into_response(),
        Fault::TooMany429 => (
            StatusCode::TOO_MANY_REQUESTS,
            [(header::RETRY_AFTER, "1")],
            "slow down",
        )
            .into_response(),
        Fault::Portal403 => html(
            StatusCode::FORBIDDEN,
            "<html><body><h1>Hotel Wi-Fi</h1>Please accept the terms.</body></html>",
        ),
        Fault::BareProxy404 => StatusCode::NOT_FOUND.into_response(),
        Fault::Gateway502 => html(StatusCode::BAD_GATEWAY, "<html>502 Bad Gateway</html>"),
        Fault::Redirect302 => (
            StatusCode::FOUND,
            [(header::LOCATION, "http://portal.invalid/login")],
        )
            .into_response(),
        Fault::Truncated => {
            let response = next.run(request).await;
            let (parts, body) = response.into_parts();
            let bytes = axum::body::to_bytes(body, usize::MAX)
                .await
                .unwrap_or_default();
            let cut = bytes.slice(..bytes.len() / 2);
            let mut response = Response::from_parts(parts, Body::from(cut));
            response.headers_mut().remove(header::CONTENT_LENGTH);
            response
        }
    }
}

/// A TCP proxy to `target` that passes what the client sends at
/// `bytes_per_second` (in small steady pieces, never stalling) and the
/// answers at full speed. Returns its address.
pub async fn throttled_proxy(target: std::net::SocketAddr, bytes_per_second: usize) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            let Ok(server) = TcpStream::connect(target).await else {
                continue;
            };
            tokio::spawn(relay(client, server, bytes_per_second));
        }
    });
    format!("http://{address}")
}

async fn relay(client: TcpStream, server: TcpStream, bytes_per_second: usize) {
    let (mut client_read, mut client_write) = client.into_split();
    let (mut server_read, mut server_write) = server.into_split();
    // ten pieces a second
    let piece = (bytes_per_second / 10).max(1);
    let upload = async move {
        let mut buffer = vec![0u8; piece];
        loop {
            let read = match client_read.read(&mut buffer).await {
                Ok(0) | Err(_) => break,
                Ok(read) => read,
            };
            if server_write.write_all(&buffer[..read]).await.is_err() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let _ = server_write.shutdown().await;
    };
    let download = async move {
        let _ = tokio::io::copy(&mut server_read, &mut client_write).await;
        let _ = client_write.shutdown().await;
    };
    tokio::join!(upload, download);
}
