//! The public JSON-RPC 2.0 API of the coordinator (jsonrpsee), with by-name params and stable
//! error codes (docs/sidecar.md).

use std::net::SocketAddr;
use std::sync::Arc;

use jsonrpsee::server::{RpcModule, ServerHandle};
use jsonrpsee::types::{ErrorObjectOwned, Params};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::api::http_access::AccessOptions;
use crate::chains::Chain;
use crate::cluster::client_auth::ClientRequest;
use crate::cluster::pki::CoordinatorRole;
use crate::coordinator::{Coordinator, CoordinatorError};
use crate::model::requests::parse_tweak;
use crate::model::requests::{
    CreateWalletParams, DeriveWalletParams, SignMessageParams, SignTransactionParams,
};
use crate::model::scheme::WalletScheme;

pub use crate::api::errors::codes;

/// The JSON-RPC error for a coordinator error.
pub fn to_rpc_error(error: &CoordinatorError) -> ErrorObjectOwned {
    let message = error.to_string();
    match error {
        CoordinatorError::InvalidParams(_) => {
            ErrorObjectOwned::owned(codes::INVALID_PARAMS, message, None::<()>)
        }
        CoordinatorError::UnknownWallet(wallet) => ErrorObjectOwned::owned(
            codes::UNKNOWN_WALLET,
            message,
            Some(json!({ "walletId": wallet })),
        ),
        CoordinatorError::NotEnoughNodes {
            needed,
            reachable,
            unreachable,
        } => ErrorObjectOwned::owned(
            codes::NOT_ENOUGH_NODES,
            message,
            Some(json!({ "needed": needed, "reachable": reachable, "unreachable": unreachable })),
        ),
        CoordinatorError::Abort { node, culprit, .. } => ErrorObjectOwned::owned(
            codes::PROTOCOL_ABORT,
            message,
            Some(json!({ "node": node, "culprit": culprit })),
        ),
        CoordinatorError::Inconsistent(_) => {
            ErrorObjectOwned::owned(codes::INCONSISTENT, message, None::<()>)
        }
        CoordinatorError::Verification(_) => {
            ErrorObjectOwned::owned(codes::VERIFICATION_FAILED, message, None::<()>)
        }
        CoordinatorError::Timeout(_) => {
            ErrorObjectOwned::owned(codes::TIMEOUT, message, None::<()>)
        }
        CoordinatorError::Unauthorized(_) => {
            ErrorObjectOwned::owned(codes::UNAUTHORIZED, message, None::<()>)
        }
        CoordinatorError::Forbidden(_) => {
            ErrorObjectOwned::owned(codes::FORBIDDEN, message, None::<()>)
        }
        CoordinatorError::NotReady(_) => {
            ErrorObjectOwned::owned(codes::NOT_READY, message, None::<()>)
        }
        CoordinatorError::Internal(_) => {
            ErrorObjectOwned::owned(codes::INTERNAL, message, None::<()>)
        }
    }
}

fn invalid(message: impl Into<String>) -> ErrorObjectOwned {
    ErrorObjectOwned::owned(codes::INVALID_PARAMS, message.into(), None::<()>)
}

/// Parses by-name params (one JSON object; `{}` when absent) into `T`.
fn by_name<T: DeserializeOwned>(params: &Params<'_>) -> Result<T, ErrorObjectOwned> {
    serde_json::from_value(params_object(params)?)
        .map_err(|error| invalid(format!("invalid params: {error}")))
}

/// The by-name params as one JSON object (`{}` when absent).
fn params_object(params: &Params<'_>) -> Result<serde_json::Value, ErrorObjectOwned> {
    let value: serde_json::Value = match params.as_str() {
        None => json!({}),
        Some(_) => params
            .parse()
            .map_err(|error| invalid(format!("invalid params: {}", error.message())))?,
    };
    if !value.is_object() {
        return Err(invalid(
            "invalid params: params must be one JSON object with the parameters by name",
        ));
    }
    Ok(value)
}

/// The params of a method that needs a client signature: checked by the coordinator (its role,
/// the signature) and parsed without `auth`; the request is returned for the nodes to check.
fn authorized<T: DeserializeOwned>(
    method: &str,
    params: &Params<'_>,
    coordinator: &Coordinator,
    allowed: fn(CoordinatorRole) -> bool,
) -> Result<(T, ClientRequest), ErrorObjectOwned> {
    let request = ClientRequest {
        method: method.to_owned(),
        params: params_object(params)?,
    };
    let verified = coordinator
        .check_request(&request, allowed)
        .map_err(|error| to_rpc_error(&error))?;
    let parsed = verified
        .parse()
        .map_err(|error| invalid(format!("invalid params: {error}")))?;
    Ok((parsed, request))
}

/// Decodes 0x-prefixed (or bare) hex, naming the parameter.
fn scheme_param(text: &str) -> Result<WalletScheme, ErrorObjectOwned> {
    text.parse()
        .map_err(|error: String| invalid(format!("invalid params: scheme: {error}")))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct WalletIdParams {
    wallet_id: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct ListWalletsParams {
    cursor: Option<String>,
    limit: Option<usize>,
}

#[derive(Clone, Serialize)]
#[serde(rename_all = "camelCase")]
struct WalletPage {
    wallets: Vec<crate::coordinator::WalletView>,
    next_cursor: Option<String>,
}

/// The RPC module with every method of the API.
pub fn module(
    coordinator: Arc<Coordinator>,
) -> Result<RpcModule<Coordinator>, jsonrpsee::core::RegisterMethodError> {
    let mut module = RpcModule::from_arc(coordinator);
    let register = |error: jsonrpsee::core::RegisterMethodError| error;
    module
        .register_async_method("thresig_health", |params, coordinator, _| async move {
            let _: serde_json::Map<String, serde_json::Value> = by_name(&params)?;
            Ok::<_, ErrorObjectOwned>(coordinator.health().await)
        })
        .map_err(register)?;
    module
        .register_async_method(
            "thresig_createWallet",
            |params, coordinator, _| async move {
                let (params, request): (CreateWalletParams, _) = authorized(
                    "thresig_createWallet",
                    &params,
                    &coordinator,
                    CoordinatorRole::may_create,
                )?;
                let scheme = scheme_param(&params.scheme)?;
                coordinator
                    .create_wallet(scheme, params.threshold, params.parties, &request)
                    .await
                    .map_err(|error| to_rpc_error(&error))
            },
        )
        .map_err(register)?;
    module
        .register_async_method(
            "thresig_deriveWallet",
            |params, coordinator, _| async move {
                let (params, request): (DeriveWalletParams, _) = authorized(
                    "thresig_deriveWallet",
                    &params,
                    &coordinator,
                    CoordinatorRole::may_create,
                )?;
                let scheme = scheme_param(&params.scheme)?;
                if params.passphrase.is_empty() {
                    return Err(invalid("invalid params: passphrase is empty"));
                }
                coordinator
                    .derive_wallet(scheme, params.threshold, &request)
                    .await
                    .map_err(|error| to_rpc_error(&error))
            },
        )
        .map_err(register)?;
    module
        .register_async_method("thresig_getWallet", |params, coordinator, _| async move {
            let params: WalletIdParams = by_name(&params)?;
            coordinator
                .get_wallet(&params.wallet_id)
                .await
                .map_err(|error| to_rpc_error(&error))
        })
        .map_err(register)?;
    module
        .register_async_method("thresig_listWallets", |params, coordinator, _| async move {
            let params: ListWalletsParams = by_name(&params)?;
            let limit = params.limit.unwrap_or(100);
            if !(1..=1000).contains(&limit) {
                return Err(invalid(format!(
                    "invalid params: limit must be between 1 and 1000, got {limit}"
                )));
            }
            let (wallets, next_cursor) = coordinator
                .list_wallets(params.cursor, limit)
                .await
                .map_err(|error| to_rpc_error(&error))?;
            Ok(WalletPage {
                wallets,
                next_cursor,
            })
        })
        .map_err(register)?;
    module
        .register_async_method("thresig_signMessage", |params, coordinator, _| async move {
            let (params, request): (SignMessageParams, _) = authorized(
                "thresig_signMessage",
                &params,
                &coordinator,
                CoordinatorRole::may_sign,
            )?;
            let tweak = parse_tweak(params.tweak.as_deref())
                .map_err(|error| invalid(format!("invalid params: {error}")))?;
            coordinator
                .sign_message(&params, tweak, &request)
                .await
                .map_err(|error| to_rpc_error(&error))
        })
        .map_err(register)?;
    module
        .register_async_method(
            "thresig_signTransaction",
            |params, coordinator, _| async move {
                let (params, request): (SignTransactionParams, _) = authorized(
                    "thresig_signTransaction",
                    &params,
                    &coordinator,
                    CoordinatorRole::may_sign,
                )?;
                let chain = Chain::parse(
                    &params.chain,
                    coordinator.network(),
                    params.allow_partial_sighash,
                )
                .map_err(|error| invalid(format!("invalid params: {error}")))?;
                coordinator
                    .sign_transaction(&params.wallet_id, chain, &params.transaction, &request)
                    .await
                    .map_err(|error| to_rpc_error(&error))
            },
        )
        .map_err(register)?;
    Ok(module)
}

/// Serves the API on `listen` until the returned handle is stopped, to the requests `access`
/// admits (its Host, Origin, WebSocket and token rules; see [`crate::api::http_access`]).
pub async fn serve(
    coordinator: Arc<Coordinator>,
    listen: SocketAddr,
    access: AccessOptions,
) -> Result<(ServerHandle, SocketAddr), ServeError> {
    let (server, address) =
        crate::api::http_access::bind(listen, 1024 * 1024, |address| access.policy(address))
            .await
            .map_err(ServeError::Listen)?;
    let handle = server.start(module(coordinator)?);
    Ok((handle, address))
}

/// The API could not be served.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// Its port could not be opened.
    #[error("opening the JSON-RPC port: {0}")]
    Listen(std::io::Error),
    /// A method could not be registered (a name twice).
    #[error("registering the JSON-RPC methods: {0}")]
    Register(#[from] jsonrpsee::core::RegisterMethodError),
}
