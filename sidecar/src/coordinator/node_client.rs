//! The coordinator's HTTPS client for the nodes (mutual TLS, each node's certificate pinned)
//! and its one fan-out: every call to several nodes at once goes through
//! [`NodeClient::fan_out`].

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use futures_util::future::join_all;
use serde::Serialize;
use serde::de::DeserializeOwned;
use thiserror::Error;

use crate::cluster::manifest::Manifest;
use crate::cluster::pki::{self, CertifiedKey, CoordinatorRole};
use crate::coordinator::body;
use crate::coordinator::{CALL_TIMEOUT, CoordinatorError, PROBE_TIMEOUT};
use crate::wire::error::{ErrorBody, ErrorKind};

/// How long a node keeps an idle connection (`wire::HEADER_READ_TIMEOUT`).
const NODE_IDLE_LIMIT: Duration = crate::wire::HEADER_READ_TIMEOUT;

/// A call to one node failed.
#[derive(Debug, Clone, Error)]
pub enum NodeCallError {
    /// No answer: connection refused, TLS failure or timeout.
    #[error("{node} is unreachable: {reason}")]
    Unreachable {
        /// The node.
        node: String,
        /// Why.
        reason: String,
    },
    /// The node answered with a refusal.
    #[error("{node} refused: {}", body.message)]
    Refused {
        /// The node.
        node: String,
        /// The HTTP status.
        status: u16,
        /// The node's explanation.
        body: ErrorBody,
    },
    /// The answer did not parse.
    #[error("{node} sent a malformed answer: {reason}")]
    BadResponse {
        /// The node.
        node: String,
        /// What is wrong.
        reason: String,
    },
}

impl From<NodeCallError> for CoordinatorError {
    fn from(error: NodeCallError) -> Self {
        match error {
            NodeCallError::Refused { node, body, .. } => match body.kind {
                ErrorKind::UnknownWallet { wallet_id } => {
                    CoordinatorError::UnknownWallet(wallet_id)
                }
                ErrorKind::Unauthorized => {
                    CoordinatorError::Unauthorized(format!("{node} refused: {}", body.message))
                }
                ErrorKind::Forbidden { .. } => {
                    CoordinatorError::Forbidden(format!("{node} refused: {}", body.message))
                }
                ErrorKind::NotReady { .. } => {
                    CoordinatorError::NotReady(format!("{node}: {}", body.message))
                }
                kind => CoordinatorError::Abort {
                    node,
                    culprit: kind.blamed().first().cloned(),
                    message: body.message,
                },
            },
            NodeCallError::Unreachable { node, reason } => CoordinatorError::Abort {
                node: node.clone(),
                culprit: None,
                message: format!("{node} became unreachable during the session: {reason}"),
            },
            NodeCallError::BadResponse { node, reason } => CoordinatorError::Abort {
                node: node.clone(),
                culprit: Some(node),
                message: format!("malformed answer: {reason}"),
            },
        }
    }
}

/// The client for the nodes could not be made.
#[derive(Debug, Error)]
pub enum NodeClientError {
    /// The TLS configuration for a node (the CA or the coordinator's certificate).
    #[error("TLS for {node}: {source}")]
    Tls {
        /// The node.
        node: String,
        /// What is wrong.
        source: pki::PkiError,
    },
    /// The HTTPS client for a node.
    #[error("HTTPS client for {node}: {source}")]
    Http {
        /// The node.
        node: String,
        /// What is wrong.
        source: reqwest::Error,
    },
}

/// HTTPS client for the nodes of a cluster, with the coordinator's certificate.
#[derive(Clone)]
pub struct NodeClient {
    /// One HTTPS client per node, each accepting only that node's certificate.
    http: Arc<HashMap<String, reqwest::Client>>,
    manifest: Arc<Manifest>,
    role: Option<CoordinatorRole>,
}

impl NodeClient {
    /// A client that trusts only `ca_pem`, authenticates with `identity`, and accepts at each
    /// node's endpoint only a certificate issued to that node (pinned by its manifest id).
    pub fn new(
        manifest: Manifest,
        ca_pem: &str,
        identity: &CertifiedKey,
    ) -> Result<Self, NodeClientError> {
        let mut http = HashMap::with_capacity(manifest.nodes.len());
        for node in &manifest.nodes {
            let tls = pki::coordinator_client_config_for(ca_pem, identity, &node.id).map_err(
                |source| NodeClientError::Tls {
                    node: node.id.clone(),
                    source,
                },
            )?;
            let client = reqwest::Client::builder()
                .use_preconfigured_tls(tls)
                .connect_timeout(PROBE_TIMEOUT)
                .timeout(CALL_TIMEOUT)
                // A node closes a connection idle for NODE_IDLE_LIMIT (its header read
                // timeout); drop ours first, or a request sent as the node closes it fails as
                // "peer closed".
                .pool_idle_timeout(NODE_IDLE_LIMIT / 2)
                .build()
                .map_err(|source| NodeClientError::Http {
                    node: node.id.clone(),
                    source,
                })?;
            http.insert(node.id.clone(), client);
        }
        Ok(Self {
            http: Arc::new(http),
            manifest: Arc::new(manifest),
            role: pki::coordinator_role_of_pem(&identity.cert_pem),
        })
    }

    /// The coordinator role the client certificate carries, if any.
    pub fn role(&self) -> Option<CoordinatorRole> {
        self.role
    }

    /// The manifest.
    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// POSTs `request` to `path` on `node` and decodes the answer.
    pub async fn call<Req: Serialize, Resp: DeserializeOwned>(
        &self,
        node: &str,
        path: &str,
        request: &Req,
        timeout: Duration,
    ) -> Result<Resp, NodeCallError> {
        let entry = self
            .manifest
            .node(node)
            .ok_or_else(|| NodeCallError::Unreachable {
                node: node.to_owned(),
                reason: "not in the manifest".into(),
            })?;
        let url = format!("{}{path}", entry.endpoint);
        let http = self
            .http
            .get(node)
            .ok_or_else(|| NodeCallError::Unreachable {
                node: node.to_owned(),
                reason: "no client for it".into(),
            })?;
        let response = http
            .post(&url)
            .timeout(timeout)
            .json(request)
            .send()
            .await
            .map_err(|error| NodeCallError::Unreachable {
                node: node.to_owned(),
                reason: describe(&error),
            })?;
        let status = response.status();
        let bytes = body::read_limited(response, body::answer_limit(path))
            .await
            .map_err(|error| match error {
                body::BodyError::TooLarge { .. } => NodeCallError::BadResponse {
                    node: node.to_owned(),
                    reason: format!("{path}: {error}"),
                },
                body::BodyError::Transport(error) => NodeCallError::Unreachable {
                    node: node.to_owned(),
                    reason: describe(&error),
                },
            })?;
        if status.is_success() {
            serde_json::from_slice(&bytes).map_err(|error| NodeCallError::BadResponse {
                node: node.to_owned(),
                reason: error.to_string(),
            })
        } else {
            let body = serde_json::from_slice::<ErrorBody>(&bytes).unwrap_or_else(|_| ErrorBody {
                kind: ErrorKind::Internal,
                message: format!(
                    "HTTP {status}: {}",
                    String::from_utf8_lossy(&bytes)
                        .chars()
                        .take(200)
                        .collect::<String>()
                ),
            });
            Err(NodeCallError::Refused {
                node: node.to_owned(),
                status: status.as_u16(),
                body,
            })
        }
    }

    /// Calls every node of `nodes` at once, each with the request `make(node)` builds and
    /// within `timeout`: every answer, in `nodes` order. The one fan-out of the coordinator.
    pub(crate) async fn fan_out<Req: Serialize, Resp: DeserializeOwned>(
        &self,
        nodes: &[String],
        path: &str,
        timeout: Duration,
        make: impl Fn(&str) -> Req,
    ) -> Vec<(String, Result<Resp, NodeCallError>)> {
        self.fan_out_then(nodes, path, timeout, make, |_, answer| answer)
            .await
    }

    /// [`fan_out`](Self::fan_out), with `then(node, answer)` applied to each answer as it
    /// arrives (checks run while slower nodes still compute).
    pub(crate) async fn fan_out_then<Req: Serialize, Resp: DeserializeOwned, T>(
        &self,
        nodes: &[String],
        path: &str,
        timeout: Duration,
        make: impl Fn(&str) -> Req,
        then: impl Fn(&str, Resp) -> T,
    ) -> Vec<(String, Result<T, NodeCallError>)> {
        let requests: Vec<Req> = nodes.iter().map(|node| make(node)).collect();
        let then = &then;
        let answers = join_all(
            nodes
                .iter()
                .zip(&requests)
                .map(|(node, request)| async move {
                    self.call(node, path, request, timeout)
                        .await
                        .map(|answer| then(node, answer))
                }),
        )
        .await;
        nodes.iter().cloned().zip(answers).collect()
    }
}

fn describe(error: &reqwest::Error) -> String {
    crate::error_chain(error)
}

/// Every call of a fan-out must have succeeded: the answers by node, or the first failure (in
/// `nodes` order) as a [`CoordinatorError`] naming its node and carrying the node's blame.
pub(crate) fn all_ok<Resp>(
    answers: Vec<(String, Result<Resp, NodeCallError>)>,
) -> Result<Vec<(String, Resp)>, CoordinatorError> {
    answers
        .into_iter()
        .map(|(node, answer)| Ok((node, answer?)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refusal_is_read_by_its_kind_and_data_never_its_message() {
        let refused = |kind: ErrorKind| NodeCallError::Refused {
            node: "node-2".into(),
            status: kind.status(),
            body: ErrorBody {
                kind,
                message: "unknown wallet w-other (a message is for people)".into(),
            },
        };
        let unknown = CoordinatorError::from(refused(ErrorKind::UnknownWallet {
            wallet_id: "w-1".into(),
        }));
        assert!(
            matches!(&unknown, CoordinatorError::UnknownWallet(id) if id == "w-1"),
            "{unknown:?}"
        );
        let abort = CoordinatorError::from(refused(ErrorKind::Abort {
            blamed: vec!["node-3".into(), "node-1".into()],
        }));
        assert!(
            matches!(&abort, CoordinatorError::Abort { node, culprit: Some(culprit), .. }
                if node == "node-2" && culprit == "node-3"),
            "{abort:?}"
        );
        // Refusals that are not aborts blame nobody.
        for kind in [
            ErrorKind::BadRequest,
            ErrorKind::WalletIdTaken {
                wallet_id: "w-1".into(),
            },
            ErrorKind::UnknownSession {
                session: "s".into(),
            },
            ErrorKind::Internal,
            ErrorKind::Other,
        ] {
            let error = CoordinatorError::from(refused(kind));
            assert!(
                matches!(&error, CoordinatorError::Abort { culprit: None, .. }),
                "{error:?}"
            );
        }
        assert!(matches!(
            CoordinatorError::from(refused(ErrorKind::Unauthorized)),
            CoordinatorError::Unauthorized(_)
        ));
        assert!(matches!(
            CoordinatorError::from(refused(ErrorKind::Forbidden { role: None })),
            CoordinatorError::Forbidden(_)
        ));
        assert!(matches!(
            CoordinatorError::from(refused(ErrorKind::NotReady {
                reason: crate::wire::error::NotReadyReason::NoAuxInfo
            })),
            CoordinatorError::NotReady(_)
        ));
    }

    /// Serves `router` over TLS on `listener` until the test's runtime ends.
    async fn serve(
        listener: tokio::net::TcpListener,
        tls: Arc<rustls::ServerConfig>,
        router: axum::Router,
    ) {
        let acceptor = tokio_rustls::TlsAcceptor::from(tls);
        while let Ok((tcp, _)) = listener.accept().await {
            let (acceptor, router) = (acceptor.clone(), router.clone());
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let service = hyper_util::service::TowerToHyperService::new(router);
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(tls), service)
                    .await;
            });
        }
    }

    /// Three nodes over real TLS on loopback: node-1 answers with what it was asked, node-2
    /// refuses, node-3 accepts connections and never answers.
    #[tokio::test]
    async fn a_fan_out_answers_for_every_node_in_order_and_all_ok_names_the_first_failure() {
        use axum::Json;
        use axum::http::StatusCode;
        use axum::routing::post;
        use serde_json::{Value, json};

        use crate::model::identity::NodeIdentity;
        use crate::wire::{HealthResponse, paths};

        crate::install_crypto_provider();
        let ca = pki::generate_ca().unwrap();
        let coordinator = pki::issue(
            &ca,
            "coordinator",
            pki::Role::Coordinator(CoordinatorRole::All),
        )
        .unwrap();
        let identities: Vec<NodeIdentity> = (0..3).map(|_| NodeIdentity::generate()).collect();
        let mut manifest = Manifest::for_tests(&identities);
        let mut listeners = Vec::new();
        for node in &mut manifest.nodes {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            node.endpoint = format!("https://{}", listener.local_addr().unwrap());
            listeners.push(listener);
        }
        let silent = listeners.pop().unwrap();
        let answering = axum::Router::new().route(
            paths::HEALTH,
            post(|Json(asked): Json<Value>| async move {
                Json(json!({ "node_id": asked["asked"], "wallets": 0 }))
            }),
        );
        let refusing = axum::Router::new().route(
            paths::HEALTH,
            post(|| async {
                let body = ErrorBody {
                    kind: ErrorKind::UnknownSession {
                        session: "s-9".into(),
                    },
                    message: "no session s-9 here".into(),
                };
                (StatusCode::CONFLICT, Json(body))
            }),
        );
        for ((listener, router), node) in listeners
            .into_iter()
            .zip([answering, refusing])
            .zip(&manifest.nodes)
        {
            let cert = pki::issue(&ca, &node.id, pki::Role::Node).unwrap();
            let tls = pki::node_server_config(&ca.cert_pem, &cert).unwrap();
            tokio::spawn(serve(listener, tls, router));
        }
        let client = NodeClient::new(manifest, &ca.cert_pem, &coordinator).unwrap();

        // The silent node first: answers come in the order asked, not the order they arrive.
        let asked: Vec<String> = ["node-3", "node-1", "node-2"].map(str::to_owned).to_vec();
        let answers = client
            .fan_out::<_, HealthResponse>(
                &asked,
                paths::HEALTH,
                Duration::from_millis(800),
                |node| json!({ "asked": node }),
            )
            .await;
        let order: Vec<&str> = answers.iter().map(|(node, _)| node.as_str()).collect();
        assert_eq!(order, ["node-3", "node-1", "node-2"]);
        assert!(
            matches!(&answers[0].1, Err(NodeCallError::Unreachable { node, .. }) if node == "node-3"),
            "{:?}",
            answers[0].1
        );
        assert!(
            matches!(&answers[1].1, Ok(health) if health.node_id == "node-1"),
            "node-1 answers the request made for it: {:?}",
            answers[1].1
        );
        assert!(
            matches!(&answers[2].1, Err(NodeCallError::Refused { status: 409, body, .. })
                if body.kind == ErrorKind::UnknownSession { session: "s-9".into() }),
            "{:?}",
            answers[2].1
        );
        let error = all_ok(answers).unwrap_err();
        assert!(
            matches!(&error, CoordinatorError::Abort { node, culprit: None, .. } if node == "node-3"),
            "{error:?}"
        );

        let answers = client
            .fan_out::<_, HealthResponse>(
                &asked[1..],
                paths::HEALTH,
                Duration::from_millis(800),
                |node| json!({ "asked": node }),
            )
            .await;
        let error = all_ok(answers).unwrap_err();
        assert!(
            matches!(&error, CoordinatorError::Abort { node, culprit: None, message }
                if node == "node-2" && message == "no session s-9 here"),
            "{error:?}"
        );
        let answers = client
            .fan_out::<_, HealthResponse>(
                &asked[1..2],
                paths::HEALTH,
                Duration::from_millis(800),
                |node| json!({ "asked": node }),
            )
            .await;
        let ok = all_ok(answers).unwrap();
        assert_eq!(
            (ok[0].0.as_str(), ok[0].1.node_id.as_str()),
            ("node-1", "node-1")
        );
        drop(silent);
    }
}
