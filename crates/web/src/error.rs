//! Errors turned into pages. Unknown errors become a generic page with an operation id
//! that is also in the log — never internals.

use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};

/// What a handler can fail with.
#[derive(Debug, thiserror::Error)]
pub enum WebError {
    /// Not found, or not yours (both look the same, and are logged).
    #[error("not found")]
    NotFound,
    /// The form's CSRF token or origin did not match.
    #[error("forbidden")]
    Forbidden,
    /// The request cannot be understood.
    #[error("bad request")]
    BadRequest,
    /// A form's text is not UTF-8 (nothing was stored).
    #[error("not UTF-8")]
    BadEncoding,
    /// Too many attempts from this address or for this account; try again after the
    /// given number of seconds.
    #[error("too many requests")]
    TooManyRequests(u64),
    /// The database cannot be reached just now (issue #12): nothing was written; try
    /// again later.
    #[error("unavailable: {0}")]
    Unavailable(String),
    /// The listener already handles as many requests as it may (issue #12, overload):
    /// answered at once, nothing done; try again in a moment.
    #[error("busy")]
    Busy,
    /// Anything else.
    #[error("internal: {0}")]
    Internal(String),
}

/// Seconds a client is asked to wait when a listener sheds its request.
pub const BUSY_RETRY_AFTER: &str = "2";

impl From<shomei_ra::RaError> for WebError {
    fn from(e: shomei_ra::RaError) -> Self {
        match e {
            shomei_ra::RaError::NotFound => WebError::NotFound,
            e if e.is_unavailable() => WebError::Unavailable(e.to_string()),
            other => WebError::Internal(other.to_string()),
        }
    }
}

impl From<shomei_store::StoreError> for WebError {
    fn from(e: shomei_store::StoreError) -> Self {
        if e.is_unavailable() {
            WebError::Unavailable(e.to_string())
        } else {
            WebError::Internal(e.to_string())
        }
    }
}

impl From<askama::Error> for WebError {
    fn from(e: askama::Error) -> Self {
        WebError::Internal(format!("template: {e}"))
    }
}

fn page(status: StatusCode, ja: &str, en: &str, extra: &str) -> Response {
    let body = format!(
        "<!DOCTYPE html><html lang=\"ja\"><head><meta charset=\"utf-8\"><title>{ja}</title><link rel=\"stylesheet\" href=\"/static/style.css\"></head><body><main class=\"error\"><h1>{ja}</h1><p lang=\"en\">{en}</p>{extra}<p><a href=\"/\">トップへ / Top</a></p></main></body></html>"
    );
    (status, Html(body)).into_response()
}

impl IntoResponse for WebError {
    fn into_response(self) -> Response {
        match self {
            WebError::NotFound => page(
                StatusCode::NOT_FOUND,
                "ページが見つかりません",
                "Page not found",
                "",
            ),
            WebError::Forbidden => page(
                StatusCode::FORBIDDEN,
                "この操作は受け付けられません。ページを読み込み直してやり直してください。",
                "This request was refused. Reload the page and try again.",
                "",
            ),
            WebError::BadRequest => page(
                StatusCode::BAD_REQUEST,
                "リクエストを処理できません",
                "The request could not be processed",
                "",
            ),
            WebError::BadEncoding => page(
                StatusCode::BAD_REQUEST,
                "文字コードが正しくありません（UTF-8 で送信してください）。入力内容は保存されていません。",
                "The form was not sent as UTF-8 text. Nothing was saved; go back and send it again.",
                "",
            ),
            WebError::TooManyRequests(secs) => {
                let mins = secs.div_ceil(60).max(1);
                let mut res = page(
                    StatusCode::TOO_MANY_REQUESTS,
                    &format!(
                        "試行回数が多すぎます。{mins} 分ほど待ってから、もう一度お試しください。"
                    ),
                    &format!("Too many attempts. Wait about {mins} minute(s), then try again."),
                    "",
                );
                if let Ok(v) = axum::http::HeaderValue::from_str(&secs.to_string()) {
                    res.headers_mut().insert(axum::http::header::RETRY_AFTER, v);
                }
                res
            }
            WebError::Unavailable(detail) => {
                tracing::warn!("database unavailable: {detail}");
                let mut res = page(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "ただいまご利用いただけません",
                    "The service is temporarily unavailable",
                    "<p>システムがデータベースに接続できません。入力された内容は保存されていません。しばらく待ってから、もう一度お試しください。</p><p lang=\"en\">The system cannot reach its database. Nothing you entered was saved. Wait a few minutes, then try again.</p>",
                );
                res.headers_mut().insert(
                    axum::http::header::RETRY_AFTER,
                    axum::http::HeaderValue::from_static("30"),
                );
                res
            }
            WebError::Busy => {
                let mut res = page(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "ただいま混み合っています",
                    "The service is busy",
                    "<p>ただいまアクセスが集中しています。何も処理されていません。数秒待ってから、もう一度お試しください。</p><p lang=\"en\">Too many requests are being handled just now. Nothing was done. Wait a few seconds, then try again.</p>",
                );
                res.headers_mut().insert(
                    axum::http::header::RETRY_AFTER,
                    axum::http::HeaderValue::from_static(BUSY_RETRY_AFTER),
                );
                res
            }
            WebError::Internal(detail) => {
                let id = crate::security::operation_id().unwrap_or_else(|| {
                    let mut id = [0u8; 6];
                    let _ = shomei_ca::random_bytes(&mut id);
                    hex::encode(id)
                });
                tracing::error!(operation = %id, "{detail}");
                page(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "システムエラーが発生しました",
                    "A system error occurred",
                    &format!("<p>Operation ID: <code>{id}</code></p>"),
                )
            }
        }
    }
}

/// Result alias for handlers.
pub type WebResult<T> = Result<T, WebError>;
