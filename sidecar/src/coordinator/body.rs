//! Bounded reads of node answers: a node is not trusted, so the coordinator reads at most a
//! finite number of bytes per answer (within the call's timeout) instead of whatever it sends.

use thiserror::Error;

use crate::wire::paths;

/// The largest answer read for most paths: statements, envelopes and records are kilobytes.
pub const ANSWER_LIMIT: usize = 4 << 20;
/// The largest answer read for protocol rounds (CGGMP21 aux-info rounds carry proofs about
/// every node's 3072-bit modulus: megabytes) and wallet listings (up to 1000 records a page).
pub const LARGE_ANSWER_LIMIT: usize = 64 << 20;

/// The most the coordinator reads of a node's answer to `path`.
pub fn answer_limit(path: &str) -> usize {
    match path {
        paths::START | paths::STEP | paths::WALLET_LIST => LARGE_ANSWER_LIMIT,
        _ => ANSWER_LIMIT,
    }
}

/// An answer that could not be read.
#[derive(Debug, Error)]
pub enum BodyError {
    /// The answer is larger than the limit (said by its length or found while reading).
    #[error("the answer is larger than {limit} bytes and was not read")]
    TooLarge {
        /// The limit.
        limit: usize,
    },
    /// The connection failed or timed out while reading.
    #[error("{0}")]
    Transport(reqwest::Error),
}

/// Reads `response`'s body, refusing it as soon as it is known to exceed `limit` bytes.
pub async fn read_limited(
    mut response: reqwest::Response,
    limit: usize,
) -> Result<Vec<u8>, BodyError> {
    let declared = response.content_length().unwrap_or(0);
    if declared > u64::try_from(limit).unwrap_or(u64::MAX) {
        return Err(BodyError::TooLarge { limit });
    }
    let mut body = Vec::with_capacity(usize::try_from(declared).unwrap_or(0));
    while let Some(chunk) = response.chunk().await.map_err(BodyError::Transport)? {
        if body.len() + chunk.len() > limit {
            return Err(BodyError::TooLarge { limit });
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use axum::Router;
    use axum::body::Body;
    use axum::routing::post;

    use super::*;

    /// A plain HTTP server on 127.0.0.1 answering `/declared` with a body of `size` bytes and a
    /// Content-Length, and `/streamed` with the same bytes in chunks and no length.
    async fn server(size: usize) -> String {
        let app = Router::new()
            .route("/declared", post(move || async move { vec![b'x'; size] }))
            .route(
                "/streamed",
                post(move || async move {
                    let chunks = (0..size.div_ceil(65536)).map(move |index| {
                        let length = 65536.min(size - index * 65536);
                        Ok::<_, std::io::Error>(vec![b'x'; length])
                    });
                    Body::from_stream(futures_util::stream::iter(chunks))
                }),
            );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        format!("http://{address}")
    }

    async fn read(url: &str, limit: usize) -> Result<Vec<u8>, BodyError> {
        crate::install_crypto_provider();
        let response = reqwest::Client::new()
            .post(url)
            .timeout(Duration::from_secs(10))
            .send()
            .await
            .unwrap();
        read_limited(response, limit).await
    }

    #[tokio::test]
    async fn an_answer_over_the_limit_is_refused_whether_declared_or_streamed() {
        let base = server(3 << 20).await;
        for path in ["/declared", "/streamed"] {
            let started = Instant::now();
            let error = read(&format!("{base}{path}"), 1 << 20).await.unwrap_err();
            assert!(
                matches!(error, BodyError::TooLarge { limit } if limit == 1 << 20),
                "{path}: {error}"
            );
            assert_eq!(
                error.to_string(),
                "the answer is larger than 1048576 bytes and was not read"
            );
            assert!(
                started.elapsed() < Duration::from_secs(5),
                "{path}: no hang"
            );
            let body = read(&format!("{base}{path}"), 3 << 20).await.unwrap();
            assert_eq!(
                body.len(),
                3 << 20,
                "{path}: an answer at the limit is read"
            );
        }
    }

    #[test]
    fn aux_info_rounds_and_listings_may_be_larger_than_other_answers() {
        assert_eq!(answer_limit(paths::STEP), LARGE_ANSWER_LIMIT);
        assert_eq!(answer_limit(paths::WALLET_LIST), LARGE_ANSWER_LIMIT);
        assert_eq!(answer_limit(paths::CGGMP_SIGN), ANSWER_LIMIT);
    }
}
