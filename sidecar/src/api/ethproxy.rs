//! An Ethereum remote signer in front of a coordinator: `eth_accounts`, `eth_sign` (EIP-191),
//! `personal_sign`, `eth_signTransaction` (EIP-1559) and `eth_signTypedData_v4` (EIP-712),
//! answered as Web3Signer answers them, so ethers, web3 or cast can point at it.
//!
//! Such tools cannot sign their requests for the custody rules, so the proxy runs beside the
//! operator's application, holds the client key and signs each request it forwards: the nodes
//! still check a client signature over exactly the message or transaction they sign, and hash
//! it themselves. It listens on whatever address it is given; it should be loopback or
//! otherwise private, and it answers only requests with its bearer token, addressed to its own
//! Host and from no web page (Origin) unless allowed, since anyone who can call it can have the
//! wallets sign.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;

use jsonrpsee::server::{RpcModule, ServerHandle};
use jsonrpsee::types::{ErrorObjectOwned, Params};
use serde_json::{Value, json};
use thresig_adapters::ethereum as eth;
use zeroize::Zeroizing;

use crate::api::client::{ClientError, RpcClient};
use crate::api::http_access::AccessOptions;
use crate::model::scheme::WalletScheme;

/// Invalid params (JSON-RPC standard).
const INVALID_PARAMS: i32 = -32602;
/// The coordinator could not be reached or answered nonsense.
const UPSTREAM: i32 = -32000;
/// The largest request the proxy reads (typed data included).
const MAX_REQUEST_BODY: u32 = 1024 * 1024;

/// The proxy's accounts: the cggmp21-secp256k1 wallets it signs for, by address.
pub struct EthProxy {
    client: RpcClient,
    accounts: BTreeMap<eth::Address, String>,
}

/// The most wallets the proxy lists from a coordinator before it gives up.
const MAX_LISTED_WALLETS: usize = 1_000_000;

impl EthProxy {
    /// A proxy for `wallets` (wallet ids; all cggmp21-secp256k1 wallets of the cluster when
    /// empty), asking the coordinator `client` talks to for their addresses. Each account's
    /// attestations must verify against `manifest`: an account the coordinator may have made
    /// up is never served, and the proxy does not start.
    pub async fn connect(
        client: RpcClient,
        wallets: &[String],
        manifest: &crate::cluster::manifest::Manifest,
    ) -> Result<Self, String> {
        let mut views = Vec::new();
        if wallets.is_empty() {
            let mut cursor = Value::Null;
            loop {
                let page = client
                    .call(
                        "thresig_listWallets",
                        json!({ "cursor": cursor, "limit": 1000 }),
                    )
                    .await
                    .map_err(|error| error.to_string())?;
                views.extend(page["wallets"].as_array().cloned().unwrap_or_default());
                let next = page["nextCursor"].clone();
                if next.is_null() {
                    break;
                }
                // Pages come in wallet-id order: a cursor that does not move forward would keep
                // the proxy listing forever.
                let advances = match (next.as_str(), cursor.as_str()) {
                    (Some(next), Some(previous)) => next > previous,
                    (Some(_), None) => cursor.is_null(),
                    _ => false,
                };
                if !advances || views.len() > MAX_LISTED_WALLETS {
                    return Err(format!(
                        "the coordinator's wallet listing does not end (cursor {next} after \
                         {cursor}, {} wallets so far)",
                        views.len()
                    ));
                }
                cursor = next;
            }
        } else {
            for wallet in wallets {
                views.push(
                    client
                        .call("thresig_getWallet", json!({ "walletId": wallet }))
                        .await
                        .map_err(|error| error.to_string())?,
                );
            }
        }
        let mut accounts = BTreeMap::new();
        for view in views {
            if view["scheme"] != WalletScheme::Cggmp21Secp256k1.name() {
                if !wallets.is_empty() {
                    return Err(format!(
                        "wallet {} is {}, not cggmp21-secp256k1",
                        view["walletId"], view["scheme"]
                    ));
                }
                continue;
            }
            let checked: crate::coordinator::WalletView = serde_json::from_value(view.clone())
                .map_err(|error| format!("wallet {}: {error}", view["walletId"]))?;
            crate::api::attestation::verify_view(&checked, manifest)
                .map_err(|error| format!("refusing to serve the account: {error}"))?;
            let address: eth::Address = view["addresses"]["ethereum"]
                .as_str()
                .unwrap_or_default()
                .parse()
                .map_err(|error| format!("wallet {}: address: {error}", view["walletId"]))?;
            let wallet_id = view["walletId"].as_str().unwrap_or_default().to_owned();
            accounts.insert(address, wallet_id);
        }
        Ok(Self { client, accounts })
    }

    /// The addresses served, EIP-55.
    pub fn addresses(&self) -> Vec<String> {
        self.accounts.keys().map(eth::checksum_address).collect()
    }

    fn wallet_of(&self, address: &Value) -> Result<&str, ErrorObjectOwned> {
        let text = address
            .as_str()
            .ok_or_else(|| invalid("the account must be a 0x-hex address string"))?;
        let address: eth::Address = text
            .parse()
            .map_err(|error| invalid(format!("account {text:?}: {error}")))?;
        self.accounts
            .get(&address)
            .map(String::as_str)
            .ok_or_else(|| invalid(format!("account {text} is not served by this signer")))
    }

    /// Signs a message with the wallet under `encoding` (`eip191`: `message` is 0x-hex bytes;
    /// `eip712`: typed data as JSON text), which the nodes hash themselves: a raw digest is
    /// never sent (see CVE-2025-66017). Answers r ‖ s ‖ v with v = 27 or 28, as `eth_sign`
    /// and `eth_signTypedData_v4` do.
    async fn sign_message(
        &self,
        wallet: &str,
        message: String,
        encoding: &str,
    ) -> Result<String, ErrorObjectOwned> {
        let answer = self
            .client
            .call(
                "thresig_signMessage",
                json!({ "walletId": wallet, "message": message, "encoding": encoding }),
            )
            .await
            .map_err(upstream)?;
        let signature = answer["signature"]
            .as_str()
            .and_then(|text| crate::model::requests::decode_hex(text).ok())
            .filter(|bytes| bytes.len() == 65 && bytes[64] <= 1)
            .ok_or_else(|| {
                ErrorObjectOwned::owned(
                    UPSTREAM,
                    "the coordinator answered no 65-byte r ‖ s ‖ v signature with v 0 or 1",
                    None::<()>,
                )
            })?;
        let mut signature = signature;
        signature[64] += 27;
        Ok(format!("0x{}", hex::encode(signature)))
    }
}

fn invalid(message: impl Into<String>) -> ErrorObjectOwned {
    ErrorObjectOwned::owned(INVALID_PARAMS, message.into(), None::<()>)
}

/// A coordinator error keeps its code and message.
fn upstream(error: ClientError) -> ErrorObjectOwned {
    match error {
        ClientError::Rpc(error) => ErrorObjectOwned::owned(
            i32::try_from(error.code).unwrap_or(UPSTREAM),
            error.message,
            error.data,
        ),
        other => ErrorObjectOwned::owned(UPSTREAM, other.to_string(), None::<()>),
    }
}

fn positional(params: &Params<'_>, count: usize) -> Result<Vec<Value>, ErrorObjectOwned> {
    let values: Vec<Value> = params
        .parse()
        .map_err(|_| invalid("params must be a JSON array"))?;
    if values.len() < count {
        return Err(invalid(format!(
            "expected {count} params, got {}",
            values.len()
        )));
    }
    Ok(values)
}

fn data_param(value: &Value, what: &str) -> Result<Vec<u8>, ErrorObjectOwned> {
    let text = value
        .as_str()
        .ok_or_else(|| invalid(format!("{what} must be a 0x-hex string")))?;
    crate::model::requests::decode_hex(text).map_err(|error| invalid(format!("{what}: {error}")))
}

/// The proxy's JSON-RPC methods.
pub fn module(proxy: Arc<EthProxy>) -> Result<RpcModule<EthProxy>, String> {
    let mut module = RpcModule::from_arc(proxy);
    let register = |error: jsonrpsee::core::RegisterMethodError| error.to_string();
    module
        .register_method("eth_accounts", |_, proxy, _| {
            Ok::<_, ErrorObjectOwned>(proxy.addresses())
        })
        .map_err(register)?;
    module
        .register_async_method("eth_sign", |params, proxy, _| async move {
            let values = positional(&params, 2)?;
            let wallet = proxy.wallet_of(&values[0])?.to_owned();
            let data = data_param(&values[1], "the message")?;
            proxy
                .sign_message(&wallet, format!("0x{}", hex::encode(data)), "eip191")
                .await
        })
        .map_err(register)?;
    module
        .register_async_method("personal_sign", |params, proxy, _| async move {
            let values = positional(&params, 2)?;
            let wallet = proxy.wallet_of(&values[1])?.to_owned();
            let data = data_param(&values[0], "the message")?;
            proxy
                .sign_message(&wallet, format!("0x{}", hex::encode(data)), "eip191")
                .await
        })
        .map_err(register)?;
    module
        .register_async_method("eth_signTypedData_v4", |params, proxy, _| async move {
            let values = positional(&params, 2)?;
            let wallet = proxy.wallet_of(&values[0])?.to_owned();
            // Tools send the typed data as a JSON string; some send the object itself. It is
            // checked here for a clear error, and forwarded as text for the nodes to hash.
            let text = match &values[1] {
                Value::String(text) => text.clone(),
                object => object.to_string(),
            };
            eth::typed_data_hash(&text).map_err(|error| invalid(error.to_string()))?;
            proxy.sign_message(&wallet, text, "eip712").await
        })
        .map_err(register)?;
    module
        .register_async_method("eth_signTransaction", |params, proxy, _| async move {
            let values = positional(&params, 1)?;
            let transaction = &values[0];
            let from = transaction
                .get("from")
                .ok_or_else(|| invalid("the transaction has no from"))?;
            let wallet = proxy.wallet_of(from)?.to_owned();
            let answer = proxy
                .client
                .call(
                    "thresig_signTransaction",
                    json!({ "walletId": wallet, "chain": "ethereum", "transaction": transaction }),
                )
                .await
                .map_err(upstream)?;
            answer["signedTransaction"]
                .as_str()
                .map(str::to_owned)
                .ok_or_else(|| {
                    ErrorObjectOwned::owned(
                        UPSTREAM,
                        "the coordinator answered no signed transaction",
                        None::<()>,
                    )
                })
        })
        .map_err(register)?;
    Ok(module)
}

/// Serves the proxy on `listen` until the handle is stopped, only to requests that carry
/// `Authorization: Bearer TOKEN` and pass `access` (Host, Origin, WebSocket; see
/// [`crate::api::http_access`]).
pub async fn serve(
    proxy: Arc<EthProxy>,
    listen: SocketAddr,
    access: &AccessOptions,
    token: Zeroizing<String>,
) -> Result<(ServerHandle, SocketAddr), String> {
    let (server, address) = crate::api::http_access::bind(listen, MAX_REQUEST_BODY, |address| {
        access.policy(address).require_token(token)
    })
    .await
    .map_err(|error| format!("listening on {listen}: {error}"))?;
    Ok((server.start(module(proxy)?), address))
}
