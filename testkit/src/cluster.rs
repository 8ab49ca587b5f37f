//! An in-process cluster for tests: N node states, each served over mutual TLS on its own
//! 127.0.0.1 port (the node's router under `node::serve_tls`, as `node::serve` serves it but
//! without its minute-by-minute housekeeping), and a coordinator over a `NodeClient` with the
//! coordinator certificate, all in the test's tokio runtime. The cluster directory is written by the sidecar's own set-up
//! code (`run::devnet::init_cluster`: manifest, CA, certificates, identities, key files), so
//! the nodes open exactly what a devnet's would. No process is spawned: node handlers and
//! coordinator drivers get tests that take milliseconds per protocol run. Dropping the cluster
//! stops every server and removes its directory.
//!
//! A test can make one node hostile with a [`Hook`]: it sees (and may rewrite) every JSON body
//! the node receives and every one it answers. It has the node's identity (as a hostile node
//! would, [`InProcessCluster::identity`]) and, for tests, every other node's too, so it can
//! sign or seal what it sends validly and still lie.

use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::header::CONTENT_LENGTH;
use axum::middleware::Next;
use axum::response::Response;
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
// Every sidecar item this module uses, in one place.
use thresig_sidecar::{
    api::rpc,
    cluster::client_auth::ClientKey,
    cluster::layout::ClusterLayout,
    cluster::manifest::Manifest,
    cluster::pki::{self, CoordinatorRole},
    coordinator::{Coordinator, NodeClient},
    custody::identity,
    custody::key_provider::FileKeyProvider,
    install_crypto_provider,
    model::identity::NodeIdentity,
    node::{NodeState, PrimesSource, router, serve_tls},
    run::devnet::{DevnetOptions, HsmChoice, init_cluster},
};

use crate::devnet::{node_client, signed_params, temp_dir};

/// Rewrites one JSON body a node receives: `(path, body)`.
type RequestHook = dyn Fn(&str, &mut Value) + Send + Sync;
/// Rewrites one JSON body a node answers: `(path, request body, answer body)`.
type ResponseHook = dyn Fn(&str, &Value, &mut Value) + Send + Sync;

/// What a hostile node does to the JSON it receives and sends. Bodies that are not JSON pass
/// through untouched.
#[derive(Clone, Default)]
pub struct Hook {
    request: Option<Arc<RequestHook>>,
    response: Option<Arc<ResponseHook>>,
}

impl Hook {
    /// A hook that rewrites what the node receives, before its handler reads it.
    pub fn on_request(rewrite: impl Fn(&str, &mut Value) + Send + Sync + 'static) -> Self {
        Self {
            request: Some(Arc::new(rewrite)),
            response: None,
        }
    }

    /// A hook that rewrites what the node answers (it sees the request too).
    pub fn on_response(rewrite: impl Fn(&str, &Value, &mut Value) + Send + Sync + 'static) -> Self {
        Self {
            request: None,
            response: Some(Arc::new(rewrite)),
        }
    }
}

/// The hook a node's server reads on every request (none: an honest node).
type HookSlot = Arc<Mutex<Option<Hook>>>;

/// One node served in the test process.
struct ServedNode {
    id: String,
    identity: Arc<NodeIdentity>,
    hook: HookSlot,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<()>,
}

/// How to start an [`InProcessCluster`].
#[derive(Debug, Clone)]
pub struct ClusterOptions {
    /// Number of nodes.
    pub nodes: u16,
    /// The cluster threshold.
    pub threshold: u16,
    /// A CGGMP21 primes fixture (the public test primes allowed); `None`: CGGMP21 is off.
    pub cggmp21_primes: Option<std::path::PathBuf>,
}

/// N nodes and a coordinator in this process, over loopback mutual TLS.
pub struct InProcessCluster {
    layout: ClusterLayout,
    manifest: Manifest,
    coordinator: Arc<Coordinator>,
    nodes: Vec<ServedNode>,
    client_key: ClientKey,
    /// The coordinator's CGGMP21 aux-info and presignature work, when CGGMP21 is on.
    background: Option<JoinHandle<()>>,
}

impl InProcessCluster {
    /// Starts `nodes` nodes with `threshold`, CGGMP21 off. Call inside a tokio runtime.
    pub async fn start(nodes: u16, threshold: u16) -> Self {
        Self::start_with(ClusterOptions {
            nodes,
            threshold,
            cggmp21_primes: None,
        })
        .await
    }

    /// Starts a cluster as `options` say. Call inside a tokio runtime.
    pub async fn start_with(options: ClusterOptions) -> Self {
        install_crypto_provider();
        let dir = temp_dir("cluster");
        let layout = ClusterLayout::new(&dir);
        let mut manifest = init_cluster(
            &layout,
            &DevnetOptions {
                nodes: options.nodes,
                threshold: options.threshold,
                data_dir: dir.clone(),
                port: 0,
                network: "regtest".into(),
                // Only SoftHSM2 nodes run the binary during set-up; these keep key files.
                executable: "thresig".into(),
                hsm: HsmChoice::File,
                cggmp21_primes: options.cggmp21_primes.clone(),
                cggmp21: options.cggmp21_primes.is_some(),
                presignature_pool: 0,
            },
        )
        .expect("the cluster directory is created");
        // Each node listens on a port the kernel gives it, written into the manifest before
        // anyone reads it: no window in which another program could take a port.
        let mut listeners = Vec::new();
        for entry in &mut manifest.nodes {
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            entry.endpoint = format!("https://{}", listener.local_addr().unwrap());
            listeners.push(listener);
        }
        manifest.save(&layout.manifest()).unwrap();
        let ca = std::fs::read_to_string(layout.ca_cert()).unwrap();
        let mut nodes = Vec::new();
        for (entry, listener) in manifest.nodes.iter().zip(listeners) {
            let node = layout.node(&entry.id);
            let passphrase = std::fs::read_to_string(node.passphrase_file()).unwrap();
            let provider =
                FileKeyProvider::open(&node.key_file(), passphrase.trim_end().as_bytes())
                    .expect("the node's key file opens");
            let identity = identity::load(&node.identity_file(), &entry.id, &provider).unwrap();
            let state = Arc::new(
                NodeState::open(&node, manifest.clone(), &entry.id, Box::new(provider))
                    .unwrap_or_else(|error| panic!("{} does not open: {error}", entry.id)),
            );
            let primes = match &options.cggmp21_primes {
                Some(path) => PrimesSource::Fixture(path.clone()),
                None => PrimesSource::Disabled,
            };
            state
                .prepare_primes(primes, true)
                .unwrap_or_else(|error| panic!("{} primes: {error}", entry.id));
            let tls = pki::node_server_config(&ca, &node.certified_key().unwrap()).unwrap();
            let hook: HookSlot = Arc::default();
            let app = router(state).layer(axum::middleware::from_fn_with_state(
                Arc::clone(&hook),
                tamper,
            ));
            let (stop, stopped) = oneshot::channel::<()>();
            let task = tokio::spawn(serve_tls(listener, tls.into(), app, async move {
                let _ = stopped.await;
            }));
            nodes.push(ServedNode {
                id: entry.id.clone(),
                identity: Arc::new(identity),
                hook,
                stop: Some(stop),
                task,
            });
        }
        let client_key = ClientKey::load(&layout.client_key()).unwrap();
        let coordinator = Arc::new(coordinator(&layout, CoordinatorRole::All));
        // Aux info, as a coordinator process starts it.
        let background = options
            .cggmp21_primes
            .is_some()
            .then(|| tokio::spawn(Arc::clone(&coordinator).cggmp_background()));
        Self {
            coordinator,
            layout,
            manifest,
            nodes,
            client_key,
            background,
        }
    }

    /// The coordinator (role `all`) the JSON-RPC calls go to.
    pub fn coordinator(&self) -> &Arc<Coordinator> {
        &self.coordinator
    }

    /// Another coordinator over the same nodes, with the certificate of `role`.
    pub fn coordinator_with_role(&self, role: CoordinatorRole) -> Coordinator {
        coordinator(&self.layout, role)
    }

    /// A client of the nodes with the certificate of the coordinator with `role`.
    pub fn node_client(&self, role: CoordinatorRole) -> NodeClient {
        node_client(self.layout.root(), role)
    }

    /// The cluster manifest (with the nodes' loopback endpoints).
    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// The cluster directory.
    pub fn dir(&self) -> &Path {
        self.layout.root()
    }

    /// The node ids, in manifest order.
    pub fn node_ids(&self) -> Vec<String> {
        self.nodes.iter().map(|node| node.id.clone()).collect()
    }

    /// The client key the manifest authorises.
    pub fn client_key(&self) -> &ClientKey {
        &self.client_key
    }

    /// `node`'s identity (signing and envelope keys), for hooks that act as that node.
    pub fn identity(&self, node: &str) -> Arc<NodeIdentity> {
        Arc::clone(&self.served(node).identity)
    }

    fn served(&self, node: &str) -> &ServedNode {
        self.nodes
            .iter()
            .find(|served| served.id == node)
            .unwrap_or_else(|| panic!("no node {node} in the cluster"))
    }

    /// Makes `node` hostile: `hook` sees every body it receives and answers from now on.
    pub fn set_hook(&self, node: &str, hook: Hook) {
        *self
            .served(node)
            .hook
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(hook);
    }

    /// Makes every node honest again.
    pub fn clear_hooks(&self) {
        for node in &self.nodes {
            *node.hook.lock().unwrap_or_else(PoisonError::into_inner) = None;
        }
    }

    /// Calls `method` of the JSON-RPC module in process, with `params` signed by the client
    /// key when the method needs it; returns the whole JSON-RPC response.
    pub async fn rpc(&self, method: &str, params: Value) -> Value {
        let params = signed_params(&self.client_key, method, params);
        self.rpc_unsigned(method, params).await
    }

    /// Calls `method` of the JSON-RPC module with `params` exactly as given.
    pub async fn rpc_unsigned(&self, method: &str, params: Value) -> Value {
        self.rpc_raw(&request_text(method, params)).await
    }

    /// Hands `text` to the JSON-RPC module as one request; returns its response.
    pub async fn rpc_raw(&self, text: &str) -> Value {
        call_module(Arc::clone(&self.coordinator), text).await
    }

    /// Calls `method` (signed as [`Self::rpc`] signs) on the JSON-RPC module of a coordinator
    /// with the certificate of `role`.
    pub async fn rpc_as(&self, role: CoordinatorRole, method: &str, params: Value) -> Value {
        let params = signed_params(&self.client_key, method, params);
        let coordinator = Arc::new(self.coordinator_with_role(role));
        call_module(coordinator, &request_text(method, params)).await
    }

    /// Calls `method` and returns its result, panicking on an error.
    pub async fn result(&self, method: &str, params: Value) -> Value {
        let response = self.rpc(method, params).await;
        assert!(
            response.get("error").is_none(),
            "{method} failed: {response}"
        );
        response["result"].clone()
    }
}

impl Drop for InProcessCluster {
    fn drop(&mut self) {
        if let Some(background) = self.background.take() {
            background.abort();
        }
        for node in &mut self.nodes {
            if let Some(stop) = node.stop.take() {
                let _ = stop.send(());
            }
            // Connections the server spawned end with the runtime; the listener goes now.
            node.task.abort();
        }
        let _ = std::fs::remove_dir_all(self.layout.root());
    }
}

/// A JSON-RPC request for `method` with `params`.
fn request_text(method: &str, params: Value) -> String {
    json!({ "jsonrpc": "2.0", "id": 1, "method": method, "params": params }).to_string()
}

/// `text` handed to the JSON-RPC module of `coordinator` as one request; its response.
async fn call_module(coordinator: Arc<Coordinator>, text: &str) -> Value {
    let module = rpc::module(coordinator).unwrap();
    let (response, _) = module
        .raw_json_request(text, 1)
        .await
        .expect("the request is JSON-RPC");
    serde_json::from_str(response.get()).unwrap()
}

/// A coordinator of the cluster in `layout` with the certificate of `role`, keeping no
/// presignature pool (tests ask for what they sign).
fn coordinator(layout: &ClusterLayout, role: CoordinatorRole) -> Coordinator {
    Coordinator::new(node_client(layout.root(), role))
        .unwrap()
        .with_presignature_pool(0)
}

/// The node's server side of a [`Hook`]: buffers the JSON body in and out and lets the hook
/// rewrite each.
async fn tamper(State(slot): State<HookSlot>, request: Request, next: Next) -> Response {
    let hook = slot.lock().unwrap_or_else(PoisonError::into_inner).clone();
    let Some(hook) = hook else {
        return next.run(request).await;
    };
    let path = request.uri().path().to_owned();
    let (mut parts, body) = request.into_parts();
    let bytes = axum::body::to_bytes(body, usize::MAX)
        .await
        .unwrap_or_default();
    let received: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    let bytes = match (&hook.request, received.is_null()) {
        (Some(rewrite), false) => {
            let mut body = received.clone();
            rewrite(&path, &mut body);
            Bytes::from(serde_json::to_vec(&body).unwrap())
        }
        _ => bytes,
    };
    parts.headers.insert(CONTENT_LENGTH, bytes.len().into());
    let response = next
        .run(Request::from_parts(parts, Body::from(bytes)))
        .await;
    let Some(rewrite) = &hook.response else {
        return response;
    };
    let (mut parts, body) = response.into_parts();
    let bytes = axum::body::to_bytes(body, usize::MAX)
        .await
        .unwrap_or_default();
    let bytes = match serde_json::from_slice::<Value>(&bytes) {
        Ok(mut answer) => {
            rewrite(&path, &received, &mut answer);
            Bytes::from(serde_json::to_vec(&answer).unwrap())
        }
        Err(_) => bytes,
    };
    parts.headers.insert(CONTENT_LENGTH, bytes.len().into());
    Response::from_parts(parts, Body::from(bytes))
}
