//! Client authorization: requests that create keys or sign carry an `auth` object signed with an
//! Ed25519 key the cluster manifest lists. The coordinator forwards the request as the client
//! sent it and every node checks the signature, the expiry and that the request id is new, so a
//! coordinator can neither forge nor replay a request.
//!
//! The signed bytes are `thresig-request-v1:` followed by the canonical JSON (object keys sorted
//! by their UTF-8 bytes, no whitespace, serde_json's escaping and number forms) of
//! `{"client", "expiresAt", "method", "params", "requestId"}`, where `params` are the request's
//! params without `auth`. docs/sidecar.md documents it with an example.

use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use thiserror::Error;
use zeroize::Zeroizing;

/// The methods that need a client signature.
pub const AUTHORIZED_METHODS: [&str; 4] = [
    "thresig_createWallet",
    "thresig_deriveWallet",
    "thresig_signMessage",
    "thresig_signTransaction",
];

/// How far in the future a request may expire: nodes remember request ids this long.
pub const MAX_VALIDITY_SECS: u64 = 600;

/// How long a request signed by [`ClientKey::authorize`] stays valid.
pub const DEFAULT_VALIDITY_SECS: u64 = 120;

const DOMAIN: &[u8] = b"thresig-request-v1:";

/// Why a request's authorization is refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum AuthError {
    /// The request has no `auth` object.
    #[error("{0} needs a client signature: params.auth is missing")]
    Missing(String),
    /// The `auth` object is malformed.
    #[error("params.auth is malformed: {0}")]
    Malformed(String),
    /// The client key is not in the cluster manifest.
    #[error("client key {0} is not authorised in the cluster manifest")]
    UnknownClient(String),
    /// The signature does not verify.
    #[error("the client signature does not verify over the request (client {0})")]
    BadSignature(String),
    /// The request has expired.
    #[error("request {request_id} expired at {expires_at} (now {now})")]
    Expired {
        /// The request id.
        request_id: String,
        /// Its expiry, seconds since the Unix epoch.
        expires_at: u64,
        /// The checker's clock.
        now: u64,
    },
    /// The expiry is further ahead than nodes remember request ids.
    #[error("request {request_id} expires at {expires_at}, more than {MAX_VALIDITY_SECS} s ahead")]
    TooFarAhead {
        /// The request id.
        request_id: String,
        /// Its expiry.
        expires_at: u64,
    },
    /// The request id was used before.
    #[error("request {0} was already used (replay)")]
    Replayed(String),
    /// The request does not authorise what is asked.
    #[error("the client's request does not authorise this: {0}")]
    Mismatch(String),
}

/// The `auth` object of a request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ClientAuth {
    /// The client's Ed25519 public key, hex.
    pub client: String,
    /// Unique per request: 1 to 64 characters of `[A-Za-z0-9_-]`.
    pub request_id: String,
    /// Seconds since the Unix epoch after which the request is refused.
    pub expires_at: u64,
    /// Ed25519 signature over [`signing_bytes`], hex.
    pub signature: String,
}

/// A client's request as it is forwarded to the nodes: the method and the params as sent,
/// `auth` included. Its Debug form leaves the params out: they may hold a passphrase.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientRequest {
    /// The JSON-RPC method.
    pub method: String,
    /// Its params, `auth` included.
    pub params: Value,
}

impl Drop for ClientRequest {
    fn drop(&mut self) {
        zeroize_strings(&mut self.params);
    }
}

/// Zeroizes every string inside `value` (a passphrase may sit at any depth of a request's
/// params), leaving them empty.
pub fn zeroize_strings(value: &mut Value) {
    match value {
        Value::String(text) => zeroize::Zeroize::zeroize(text),
        Value::Array(items) => items.iter_mut().for_each(zeroize_strings),
        Value::Object(map) => map.values_mut().for_each(zeroize_strings),
        Value::Null | Value::Bool(_) | Value::Number(_) => {}
    }
}

impl std::fmt::Debug for ClientRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientRequest")
            .field("method", &self.method)
            .finish_non_exhaustive()
    }
}

/// A request whose signature, client and expiry checked out. Only [`verify`] makes one (the
/// fields are private), so holding one is proof the checks ran. Its Debug form leaves the
/// params out: they may hold a passphrase.
///
/// Code outside this module cannot forge one (this must not compile):
///
/// ```compile_fail,E0451
/// let forged = thresig_sidecar::cluster::client_auth::VerifiedRequest {
///     client: String::new(),
///     request_id: String::new(),
///     method: "thresig_signMessage".into(),
///     params: serde_json::Value::Null,
///     expires_at: u64::MAX,
/// };
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct VerifiedRequest {
    client: String,
    request_id: String,
    method: String,
    params: Value,
    expires_at: u64,
}

impl Drop for VerifiedRequest {
    fn drop(&mut self) {
        zeroize_strings(&mut self.params);
    }
}

impl VerifiedRequest {
    /// The client key, hex.
    pub fn client(&self) -> &str {
        &self.client
    }

    /// The request id.
    pub fn request_id(&self) -> &str {
        &self.request_id
    }

    /// The method.
    pub fn method(&self) -> &str {
        &self.method
    }

    /// The params without `auth`.
    pub fn params(&self) -> &Value {
        &self.params
    }

    /// When the request expires, seconds since the Unix epoch.
    pub fn expires_at(&self) -> u64 {
        self.expires_at
    }

    /// The params as `T`, read in place: no unzeroized copy of them is made.
    pub fn parse<T: serde::de::DeserializeOwned>(&self) -> Result<T, serde_json::Error> {
        T::deserialize(&self.params)
    }
}

impl std::fmt::Debug for VerifiedRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VerifiedRequest")
            .field("client", &self.client)
            .field("request_id", &self.request_id)
            .field("method", &self.method)
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

/// Seconds since the Unix epoch.
pub fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_secs())
}

/// `value` as canonical JSON: object keys sorted, no whitespace.
pub fn canonical_json(value: &Value) -> String {
    let mut out = String::new();
    write_canonical(value, &mut out);
    out
}

fn write_canonical(value: &Value, out: &mut String) {
    match value {
        Value::Object(map) => {
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            entries.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
            out.push('{');
            for (position, (key, item)) in entries.into_iter().enumerate() {
                if position > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(key.clone()).to_string());
                out.push(':');
                write_canonical(item, out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (position, item) in items.iter().enumerate() {
                if position > 0 {
                    out.push(',');
                }
                write_canonical(item, out);
            }
            out.push(']');
        }
        scalar => out.push_str(&scalar.to_string()),
    }
}

/// The bytes a client signs for `method` with `params` (without `auth`).
pub fn signing_bytes(
    method: &str,
    params: &Value,
    client: &str,
    request_id: &str,
    expires_at: u64,
) -> Zeroizing<Vec<u8>> {
    // Every copy of the params may hold a passphrase: each is zeroized when dropped.
    let document = Scrubbed(serde_json::json!({
        "client": client,
        "expiresAt": expires_at,
        "method": method,
        "params": params,
        "requestId": request_id,
    }));
    let text = Zeroizing::new(canonical_json(&document.0));
    let mut bytes = Zeroizing::new(DOMAIN.to_vec());
    bytes.extend_from_slice(text.as_bytes());
    bytes
}

/// A JSON value whose strings are zeroized when it is dropped.
struct Scrubbed(Value);

impl Drop for Scrubbed {
    fn drop(&mut self) {
        zeroize_strings(&mut self.0);
    }
}

/// Splits `params` into the params proper and their `auth` object, if any.
pub fn split_auth(params: &Value) -> Result<(Value, Option<ClientAuth>), AuthError> {
    let Value::Object(map) = params else {
        return Err(AuthError::Malformed("params are not a JSON object".into()));
    };
    let mut rest: Map<String, Value> = map.clone();
    let auth = match rest.remove("auth") {
        None => None,
        Some(value) => Some(
            serde_json::from_value::<ClientAuth>(value)
                .map_err(|error| AuthError::Malformed(error.to_string()))?,
        ),
    };
    Ok((Value::Object(rest), auth))
}

fn plain_request_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && id
            .bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || byte == b'-' || byte == b'_')
}

/// Checks `request` against the client keys `authorized` (hex) at time `now`: a known key, a
/// valid signature, not expired and not too far ahead. Replay is the caller's to check, with
/// the returned request id.
pub fn verify(
    request: &ClientRequest,
    authorized: &[String],
    now: u64,
) -> Result<VerifiedRequest, AuthError> {
    let (params, auth) = split_auth(&request.params)?;
    let mut params = Scrubbed(params);
    let auth = auth.ok_or_else(|| AuthError::Missing(request.method.clone()))?;
    if !plain_request_id(&auth.request_id) {
        return Err(AuthError::Malformed(
            "requestId must be 1 to 64 characters of [A-Za-z0-9_-]".into(),
        ));
    }
    let client = auth.client.to_ascii_lowercase();
    if !authorized
        .iter()
        .any(|key| key.eq_ignore_ascii_case(&client))
    {
        return Err(AuthError::UnknownClient(client));
    }
    let key_bytes: [u8; 32] = hex::decode(&client)
        .ok()
        .and_then(|bytes| bytes.try_into().ok())
        .ok_or_else(|| AuthError::Malformed("client must be 32 bytes of hex".into()))?;
    let key = VerifyingKey::from_bytes(&key_bytes)
        .map_err(|_| AuthError::Malformed("client is not an Ed25519 public key".into()))?;
    let signature: [u8; 64] = hex::decode(&auth.signature)
        .ok()
        .and_then(|bytes| bytes.try_into().ok())
        .ok_or_else(|| AuthError::Malformed("signature must be 64 bytes of hex".into()))?;
    let bytes = signing_bytes(
        &request.method,
        &params.0,
        &client,
        &auth.request_id,
        auth.expires_at,
    );
    key.verify_strict(&bytes, &Signature::from_bytes(&signature))
        .map_err(|_| AuthError::BadSignature(client.clone()))?;
    // Valid while now < expiresAt: nodes forget a request id once expiresAt <= now (see
    // `NodeStore::prune_requests`), so no second is both usable and forgotten.
    if auth.expires_at <= now {
        return Err(AuthError::Expired {
            request_id: auth.request_id,
            expires_at: auth.expires_at,
            now,
        });
    }
    if auth.expires_at > now + MAX_VALIDITY_SECS {
        return Err(AuthError::TooFarAhead {
            request_id: auth.request_id,
            expires_at: auth.expires_at,
        });
    }
    Ok(VerifiedRequest {
        client,
        request_id: auth.request_id,
        method: request.method.clone(),
        params: std::mem::take(&mut params.0),
        expires_at: auth.expires_at,
    })
}

/// A client's Ed25519 signing key.
pub struct ClientKey {
    key: SigningKey,
}

impl std::fmt::Debug for ClientKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientKey")
            .field("public", &self.public_hex())
            .finish_non_exhaustive()
    }
}

impl ClientKey {
    /// A new random key.
    pub fn generate() -> Self {
        Self {
            key: SigningKey::generate(&mut rand::rngs::OsRng),
        }
    }

    /// Reads a key file: the 32-byte secret as hex on one line.
    pub fn load(path: &Path) -> Result<Self, String> {
        let text = Zeroizing::new(
            std::fs::read_to_string(path)
                .map_err(|error| format!("client key {}: {error}", path.display()))?,
        );
        let bytes = Zeroizing::new(hex::decode(text.trim()).map_err(|_| {
            format!(
                "client key {} is not hex (expected 64 hex digits)",
                path.display()
            )
        })?);
        let secret: Zeroizing<[u8; 32]> =
            Zeroizing::new(bytes.as_slice().try_into().map_err(|_| {
                format!(
                    "client key {} holds {} bytes, expected 32",
                    path.display(),
                    bytes.len()
                )
            })?);
        Ok(Self {
            key: SigningKey::from_bytes(&secret),
        })
    }

    /// Writes the key file, readable by its owner only.
    pub fn save(&self, path: &Path) -> Result<(), String> {
        let text = Zeroizing::new(hex::encode(self.key.to_bytes()));
        crate::fsutil::write_private(path, text.as_bytes())
            .map_err(|error| format!("client key {}: {error}", path.display()))
    }

    /// The public key, hex, as the manifest lists it.
    pub fn public_hex(&self) -> String {
        hex::encode(self.key.verifying_key().as_bytes())
    }

    /// Adds an `auth` object to `params` (a JSON object) for `method`, with a fresh request id
    /// valid for `validity_secs`.
    pub fn authorize(
        &self,
        method: &str,
        params: &Value,
        validity_secs: u64,
    ) -> Result<Value, AuthError> {
        let request_id = uuid::Uuid::new_v4().simple().to_string();
        self.authorize_with(
            method,
            params,
            &request_id,
            now_secs() + validity_secs.min(MAX_VALIDITY_SECS),
        )
    }

    /// Adds an `auth` object with the given request id and expiry.
    pub fn authorize_with(
        &self,
        method: &str,
        params: &Value,
        request_id: &str,
        expires_at: u64,
    ) -> Result<Value, AuthError> {
        let (params, _) = split_auth(params)?;
        let client = self.public_hex();
        let bytes = signing_bytes(method, &params, &client, request_id, expires_at);
        let signature = self.key.sign(&bytes);
        let mut signed = params;
        if let Value::Object(map) = &mut signed {
            map.insert(
                "auth".into(),
                serde_json::to_value(ClientAuth {
                    client,
                    request_id: request_id.to_owned(),
                    expires_at,
                    signature: hex::encode(signature.to_bytes()),
                })
                .map_err(|error| AuthError::Malformed(error.to_string()))?,
            );
        }
        Ok(signed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn request(key: &ClientKey, params: Value) -> ClientRequest {
        ClientRequest {
            method: "thresig_signMessage".into(),
            params: key.authorize("thresig_signMessage", &params, 60).unwrap(),
        }
    }

    #[test]
    fn canonical_json_sorts_keys_at_every_depth_and_drops_whitespace() {
        let value = json!({ "b": [ { "z": 1, "a": "x\"y" } ], "a": null, "é": true, "Z": 2 });
        assert_eq!(
            canonical_json(&value),
            r#"{"Z":2,"a":null,"b":[{"a":"x\"y","z":1}],"é":true}"#
        );
    }

    #[test]
    fn a_signed_request_verifies_for_an_authorised_key_only() {
        let key = ClientKey::generate();
        let signed = request(&key, json!({ "walletId": "w-1", "message": "0x01" }));
        let verified = verify(&signed, &[key.public_hex()], now_secs()).unwrap();
        assert_eq!(
            verified.params,
            json!({ "walletId": "w-1", "message": "0x01" })
        );
        assert_eq!(verified.client, key.public_hex());

        let other = ClientKey::generate();
        assert_eq!(
            verify(&signed, &[other.public_hex()], now_secs()),
            Err(AuthError::UnknownClient(key.public_hex()))
        );
    }

    #[test]
    fn any_change_to_method_params_or_auth_breaks_the_signature() {
        let key = ClientKey::generate();
        let authorized = [key.public_hex()];
        let signed = request(&key, json!({ "walletId": "w-1", "message": "0x01" }));
        let mut altered = signed.clone();
        altered.params["message"] = json!("0x02");
        assert!(matches!(
            verify(&altered, &authorized, now_secs()),
            Err(AuthError::BadSignature(_))
        ));
        let mut renamed = signed.clone();
        renamed.method = "thresig_createWallet".into();
        assert!(matches!(
            verify(&renamed, &authorized, now_secs()),
            Err(AuthError::BadSignature(_))
        ));
        let mut later = signed.clone();
        later.params["auth"]["expiresAt"] = json!(now_secs() + 300);
        assert!(matches!(
            verify(&later, &authorized, now_secs()),
            Err(AuthError::BadSignature(_))
        ));
        // Key order and whitespace in the request do not matter: the encoding is canonical.
        let reordered: Value =
            serde_json::from_str(&serde_json::to_string_pretty(&signed.params).unwrap()).unwrap();
        let reordered = ClientRequest {
            method: signed.method.clone(),
            params: reordered,
        };
        assert!(verify(&reordered, &authorized, now_secs()).is_ok());
    }

    #[test]
    fn expired_far_future_missing_and_malformed_auth_are_refused() {
        let key = ClientKey::generate();
        let authorized = [key.public_hex()];
        let params = json!({ "walletId": "w-1" });
        let now = now_secs();
        let expired = ClientRequest {
            method: "thresig_signMessage".into(),
            params: key
                .authorize_with("thresig_signMessage", &params, "r-1", now - 1)
                .unwrap(),
        };
        assert!(matches!(
            verify(&expired, &authorized, now),
            Err(AuthError::Expired { .. })
        ));
        // The expiry second itself is already past: the one a node may forget the id in.
        let at_expiry = ClientRequest {
            method: "thresig_signMessage".into(),
            params: key
                .authorize_with("thresig_signMessage", &params, "r-3", now)
                .unwrap(),
        };
        assert!(matches!(
            verify(&at_expiry, &authorized, now),
            Err(AuthError::Expired { .. })
        ));
        assert!(verify(&at_expiry, &authorized, now - 1).is_ok());
        let far = ClientRequest {
            method: "thresig_signMessage".into(),
            params: key
                .authorize_with(
                    "thresig_signMessage",
                    &params,
                    "r-2",
                    now + MAX_VALIDITY_SECS + 5,
                )
                .unwrap(),
        };
        assert!(matches!(
            verify(&far, &authorized, now),
            Err(AuthError::TooFarAhead { .. })
        ));
        let missing = ClientRequest {
            method: "thresig_signMessage".into(),
            params: params.clone(),
        };
        assert_eq!(
            verify(&missing, &authorized, now),
            Err(AuthError::Missing("thresig_signMessage".into()))
        );
        let bad_id = ClientRequest {
            method: "thresig_signMessage".into(),
            params: key
                .authorize_with("thresig_signMessage", &params, "no spaces", now + 10)
                .unwrap(),
        };
        assert!(matches!(
            verify(&bad_id, &authorized, now),
            Err(AuthError::Malformed(_))
        ));
        let mut short_signature = request(&key, params);
        short_signature.params["auth"]["signature"] = json!("abcd");
        assert!(matches!(
            verify(&short_signature, &authorized, now),
            Err(AuthError::Malformed(_))
        ));
    }

    #[test]
    fn debug_output_leaves_out_the_params_that_may_hold_a_passphrase() {
        let key = ClientKey::generate();
        let params = json!({ "scheme": "frost-ed25519", "passphrase": "correct horse" });
        let request = ClientRequest {
            method: "thresig_deriveWallet".into(),
            params: key.authorize("thresig_deriveWallet", &params, 60).unwrap(),
        };
        let verified = verify(&request, &[key.public_hex()], now_secs()).unwrap();
        for shown in [format!("{request:?}"), format!("{verified:?}")] {
            assert!(shown.contains("thresig_deriveWallet"), "{shown}");
            assert!(!shown.contains("correct horse"), "{shown}");
        }
    }

    #[test]
    fn a_key_file_round_trips_and_its_debug_shows_only_the_public_key() {
        let dir = std::env::temp_dir().join(format!("thresig-client-key-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("client.key");
        let key = ClientKey::generate();
        key.save(&path).unwrap();
        let loaded = ClientKey::load(&path).unwrap();
        assert_eq!(loaded.public_hex(), key.public_hex());
        let secret = std::fs::read_to_string(&path).unwrap();
        assert!(!format!("{loaded:?}").contains(secret.trim()));
        std::fs::write(&path, "zz").unwrap();
        assert!(ClientKey::load(&path).unwrap_err().contains("not hex"));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn request_params_are_read_in_place_and_every_string_in_them_can_be_zeroized() {
        let key = ClientKey::generate();
        let params = json!({
            "scheme": "frost-ed25519",
            "passphrase": "correct horse battery staple",
            "nested": [{ "secret": "deep" }, 7, null],
        });
        let request = ClientRequest {
            method: "thresig_deriveWallet".into(),
            params: key
                .authorize_with("thresig_deriveWallet", &params, "r-1", now_secs() + 60)
                .unwrap(),
        };
        let verified = verify(&request, &[key.public_hex()], now_secs()).unwrap();
        let read: Value = verified.parse().unwrap();
        assert_eq!(read, params);
        // What the Drop of requests and of every signed copy runs.
        let mut scrubbed = verified.params.clone();
        zeroize_strings(&mut scrubbed);
        assert_eq!(
            scrubbed,
            json!({ "scheme": "", "passphrase": "", "nested": [{ "secret": "" }, 7, null] })
        );
    }
}
