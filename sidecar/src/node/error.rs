//! A node's refusal: a typed [`ErrorKind`] (which fixes the HTTP status) and a message, sent
//! as the wire's [`ErrorBody`].

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use crate::cluster::pki::CoordinatorRole;
use crate::custody::store::StoreError;
use crate::wire::error::{BusyReason, ErrorBody, ErrorKind, NotReadyReason};
use crate::wire::statements::StatementFault;

/// A refusal as the node sends it.
#[derive(Debug)]
pub struct NodeError {
    kind: ErrorKind,
    message: String,
}

impl NodeError {
    /// A refusal of `kind` saying `message`.
    pub(crate) fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
        }
    }

    /// What was wrong.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The kind of refusal.
    pub fn kind(&self) -> &ErrorKind {
        &self.kind
    }

    pub(crate) fn bad_request(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::BadRequest, message)
    }

    /// A protocol abort blaming `blamed` (none: nobody can be blamed).
    pub(crate) fn abort(message: impl Into<String>, blamed: Vec<String>) -> Self {
        Self::new(ErrorKind::Abort { blamed }, message)
    }

    pub(crate) fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Unauthorized, message)
    }

    /// The certificate's `role` (none: it carries none) does not allow this.
    pub(crate) fn forbidden(role: Option<CoordinatorRole>, message: impl Into<String>) -> Self {
        let role = role.map(|role| role.name().to_owned());
        Self::new(ErrorKind::Forbidden { role }, message)
    }

    pub(crate) fn internal(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Internal, message)
    }

    pub(crate) fn unknown_wallet(wallet_id: &str) -> Self {
        Self::new(
            ErrorKind::UnknownWallet {
                wallet_id: wallet_id.to_owned(),
            },
            format!("unknown wallet {wallet_id}"),
        )
    }

    /// `session` (or presignature) is not in progress here.
    pub(crate) fn unknown_session(session: &str, message: impl Into<String>) -> Self {
        Self::new(
            ErrorKind::UnknownSession {
                session: session.to_owned(),
            },
            message,
        )
    }

    pub(crate) fn wallet_id_taken(wallet_id: &str, message: impl Into<String>) -> Self {
        Self::new(
            ErrorKind::WalletIdTaken {
                wallet_id: wallet_id.to_owned(),
            },
            message,
        )
    }

    pub(crate) fn busy(reason: BusyReason, message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Busy { reason }, message)
    }

    pub(crate) fn not_ready(reason: NotReadyReason, message: impl Into<String>) -> Self {
        Self::new(ErrorKind::NotReady { reason }, message)
    }
}

impl From<StoreError> for NodeError {
    fn from(error: StoreError) -> Self {
        match &error {
            StoreError::Expired { .. } => NodeError::unauthorized(error.to_string()),
            StoreError::WalletRefused { wallet_id, .. } => {
                NodeError::wallet_id_taken(wallet_id, error.to_string())
            }
            _ => NodeError::internal(format!("store: {error}")),
        }
    }
}

impl From<StatementFault> for NodeError {
    fn from(fault: StatementFault) -> Self {
        // Everything a node checks reached it through the coordinator.
        NodeError::abort(fault.to_string(), fault.blamed_when_relayed())
    }
}

impl IntoResponse for NodeError {
    fn into_response(self) -> Response {
        let status =
            StatusCode::from_u16(self.kind.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let body = ErrorBody {
            kind: self.kind,
            message: self.message,
        };
        (status, Json(body)).into_response()
    }
}

#[cfg(test)]
mod tests {
    use axum::body::to_bytes;

    use super::*;

    /// The response a refusal becomes: today's statuses, the kind's JSON.
    async fn sent(error: NodeError) -> (u16, serde_json::Value) {
        let response = error.into_response();
        let status = response.status().as_u16();
        let bytes = to_bytes(response.into_body(), 1 << 16).await.unwrap();
        (status, serde_json::from_slice(&bytes).unwrap())
    }

    #[tokio::test]
    async fn a_refusal_is_sent_with_its_kinds_status_and_data() {
        let (status, body) = sent(NodeError::unknown_wallet("w-7")).await;
        assert_eq!(status, 404);
        assert_eq!(
            body,
            serde_json::json!({"kind": "unknown-wallet", "wallet_id": "w-7",
                "message": "unknown wallet w-7", "culprit": null})
        );
        let (status, body) = sent(NodeError::abort("bad share", vec!["node-3".into()])).await;
        assert_eq!(status, 422);
        assert_eq!(
            (&body["blamed"], &body["culprit"]),
            (&serde_json::json!(["node-3"]), &serde_json::json!("node-3"))
        );
        let (status, body) = sent(NodeError::forbidden(Some(CoordinatorRole::Signing), "no")).await;
        assert_eq!(
            (status, &body["role"]),
            (403, &serde_json::json!("signing"))
        );
        let refused = StoreError::WalletRefused {
            wallet_id: "w-1".into(),
            reason: "taken".into(),
        };
        let (status, body) = sent(refused.into()).await;
        assert_eq!(
            (status, &body["kind"], &body["wallet_id"]),
            (409, &"wallet-id-taken".into(), &"w-1".into())
        );
    }
}
