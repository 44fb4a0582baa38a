//! The one table of what an answer means (PROTOCOL.md §5): only a jcselect
//! server's own JSON is ever read as a refusal; every other answer is
//! transient, and no answer but a push response can park a change.

use jcselect_sync::transport::{classify, ExchangeResponse, TransportError};

fn answer(status: u16, body: &str) -> ExchangeResponse {
    ExchangeResponse::new(status, body.as_bytes().to_vec())
}

const JCSELECT_400: &str = r#"{"error":"bad_request","message":"limit must be 1 to 1000"}"#;
const PORTAL: &str = "<html><body>Please accept the terms of use</body></html>";

fn is_transient(error: &TransportError) -> bool {
    matches!(error, TransportError::Transient { .. }) && error.is_retryable()
}

#[test]
fn a_401_means_log_in_again_whoever_sent_it() {
    for body in [
        r#"{"error":"unauthorized","message":"expired"}"#,
        "",
        PORTAL,
    ] {
        assert!(matches!(
            classify(&answer(401, body)),
            TransportError::Unauthorized(_)
        ));
    }
}

#[test]
fn a_413_means_smaller_batches_whoever_sent_it() {
    for body in [
        r#"{"error":"payload_too_large","message":"larger than max_payload_size"}"#,
        "<html>413 Request Entity Too Large</html>",
    ] {
        let error = classify(&answer(413, body));
        assert!(matches!(error, TransportError::TooLarge(_)), "{error:?}");
        assert!(error.is_retryable());
    }
}

#[test]
fn timeouts_throttling_redirects_and_server_faults_are_transient() {
    for status in [408, 429, 301, 302, 307, 500, 502, 503, 504] {
        for body in [JCSELECT_400, PORTAL, ""] {
            let error = classify(&answer(status, body));
            assert!(is_transient(&error), "{status} {body:?}: {error:?}");
        }
    }
}

#[test]
fn a_408_and_a_504_are_a_slow_link() {
    assert!(classify(&answer(408, "")).is_slow_link());
    assert!(classify(&answer(504, "")).is_slow_link());
    assert!(!classify(&answer(500, "")).is_slow_link());
}

#[test]
fn retry_after_is_kept() {
    let mut throttled = answer(429, "slow down");
    throttled.retry_after = Some(7);
    assert_eq!(classify(&throttled).retry_after(), Some(7));
}

#[test]
fn a_middlebox_4xx_is_transient() {
    // a captive portal's 403 page, a proxy's bare or HTML 404, JSON that is
    // not a jcselect error body, a truncated jcselect body
    for (status, body) in [
        (403, PORTAL),
        (404, ""),
        (404, "<html>Not Found</html>"),
        (400, r#"{"detail":"bad"}"#),
        (403, r#"{"error":"forbidden"}"#),
        (400, r#"{"error":"bad_request","mess"#),
    ] {
        let error = classify(&answer(status, body));
        assert!(is_transient(&error), "{status} {body:?}: {error:?}");
    }
}

#[test]
fn a_jcselect_4xx_refuses_the_request_not_a_change() {
    let error = classify(&answer(400, JCSELECT_400));
    match &error {
        TransportError::Refused {
            status,
            code,
            message,
        } => {
            assert_eq!((*status, code.as_str()), (400, "bad_request"));
            assert!(message.contains("limit"));
        }
        other => panic!("{other:?}"),
    }
    assert!(!error.is_retryable());
}

#[test]
fn an_html_page_is_quoted_briefly_for_the_log() {
    let long = format!("<html>{}</html>", "x".repeat(10_000));
    let TransportError::Transient { message, .. } = classify(&answer(403, &long)) else {
        panic!("transient expected");
    };
    assert!(message.len() < 300, "{}", message.len());
    assert!(message.contains("<html>"));
}
