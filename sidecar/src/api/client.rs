//! A JSON-RPC client of the coordinator's public API, for programs and for `thresig client`.

use std::time::Duration;

use serde_json::{Value, json};
use thiserror::Error;

use crate::cluster::client_auth::{AUTHORIZED_METHODS, ClientKey, DEFAULT_VALIDITY_SECS};

/// A call that did not produce a result.
#[derive(Debug, Error)]
pub enum ClientError {
    /// The coordinator could not be reached or did not answer in time.
    #[error("calling {url}: {reason}")]
    Transport {
        /// The coordinator's URL.
        url: String,
        /// Why.
        reason: String,
    },
    /// The answer was not a JSON-RPC response.
    #[error("{url} answered something that is not a JSON-RPC response: {reason}")]
    BadResponse {
        /// The coordinator's URL.
        url: String,
        /// What was wrong.
        reason: String,
    },
    /// The coordinator answered with a JSON-RPC error.
    #[error("{} failed with JSON-RPC error {}: {}", .0.method, .0.code, .0.message)]
    Rpc(Box<RpcError>),
}

/// A JSON-RPC error the coordinator answered.
#[derive(Debug, Clone, PartialEq)]
pub struct RpcError {
    /// The method called.
    pub method: String,
    /// The error code (docs/sidecar.md lists them).
    pub code: i64,
    /// The error message.
    pub message: String,
    /// The error's data, if any.
    pub data: Option<Value>,
}

/// A client of one coordinator. With a client key, it signs the requests that need a client
/// signature (createWallet, deriveWallet, signMessage, signTransaction).
#[derive(Debug, Clone)]
pub struct RpcClient {
    http: reqwest::Client,
    url: String,
    key: Option<std::sync::Arc<ClientKey>>,
}

impl RpcClient {
    /// A client of the coordinator at `url` (e.g. `http://127.0.0.1:8000`); each call may take
    /// up to `timeout`.
    pub fn new(url: impl Into<String>, timeout: Duration) -> Result<Self, ClientError> {
        crate::install_crypto_provider();
        let url = url.into();
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .build()
            .map_err(|error| ClientError::Transport {
                url: url.clone(),
                reason: error.to_string(),
            })?;
        Ok(RpcClient {
            http,
            url,
            key: None,
        })
    }

    /// Signs the requests that need it with `key`, each with a fresh request id valid for
    /// [`DEFAULT_VALIDITY_SECS`].
    pub fn with_client_key(mut self, key: ClientKey) -> Self {
        self.key = Some(std::sync::Arc::new(key));
        self
    }

    /// The coordinator's URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Calls `method` with by-name `params` and returns its result.
    pub async fn call(&self, method: &str, params: Value) -> Result<Value, ClientError> {
        let params = match &self.key {
            Some(key) if AUTHORIZED_METHODS.contains(&method) && params.is_object() => key
                .authorize(method, &params, DEFAULT_VALIDITY_SECS)
                .map_err(|error| ClientError::Transport {
                    url: self.url.clone(),
                    reason: format!("signing the request: {error}"),
                })?,
            _ => params,
        };
        let body = json!({ "jsonrpc": "2.0", "id": 1, "method": method, "params": params });
        let transport = |error: reqwest::Error| ClientError::Transport {
            url: self.url.clone(),
            reason: error.to_string(),
        };
        let response = self
            .http
            .post(&self.url)
            .json(&body)
            .send()
            .await
            .map_err(transport)?;
        let mut answer: Value =
            response
                .json()
                .await
                .map_err(|error| ClientError::BadResponse {
                    url: self.url.clone(),
                    reason: error.to_string(),
                })?;
        if let Some(error) = answer.get("error") {
            return Err(ClientError::Rpc(Box::new(RpcError {
                method: method.to_owned(),
                code: error["code"].as_i64().unwrap_or_default(),
                message: error["message"].as_str().unwrap_or_default().to_owned(),
                data: error.get("data").cloned(),
            })));
        }
        match answer.get_mut("result") {
            Some(result) => Ok(result.take()),
            None => Err(ClientError::BadResponse {
                url: self.url.clone(),
                reason: "neither result nor error".to_owned(),
            }),
        }
    }
}
