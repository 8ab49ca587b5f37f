//! Ports: a devnet finds free ones, moves a new cluster's processes when another program takes
//! a port first, and says clearly which port is taken when it may not move.

use std::os::unix::fs::PermissionsExt;
use std::process::Command;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use serde_json::json;
use thresig_sidecar::api::client::RpcClient;
use thresig_sidecar::cluster::client_auth::ClientKey;
use thresig_sidecar::cluster::layout::ClusterLayout;
use thresig_sidecar::cluster::manifest::Manifest;
use thresig_sidecar::run::EXIT_ADDRESS_IN_USE;
use thresig_sidecar::run::devnet::{self, DevnetOptions, HsmChoice};
use thresig_testkit::devnet::{
    Devnet, ThresigBinary, devnet_command, temp_dir, unhex, verify_ed25519,
};

/// The `thresig` binary Cargo built for these tests.
const THRESIG: ThresigBinary = ThresigBinary(env!("CARGO_BIN_EXE_thresig"));

/// The tests here free a cluster's ports and take them back: run one at a time, so that the
/// other test's new cluster never takes a port one of them just freed (seen once in a full run).
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

fn endpoints(dir: &std::path::Path) -> Vec<String> {
    Manifest::load(&ClusterLayout::new(dir).manifest())
        .unwrap()
        .nodes
        .into_iter()
        .map(|node| node.endpoint)
        .collect()
}

fn port_of(endpoint: &str) -> u16 {
    endpoint.rsplit(':').next().unwrap().parse().unwrap()
}

#[test]
fn a_node_or_coordinator_on_a_taken_port_says_so_and_an_existing_cluster_keeps_its_ports() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(PoisonError::into_inner);
    let mut devnet = Devnet::start(THRESIG, 3, 2);
    let dir = devnet.data_dir().to_path_buf();
    devnet.stop();
    let before = endpoints(&dir);
    let node_1_port = port_of(&before[0]);
    let taken = std::net::TcpListener::bind(("127.0.0.1", node_1_port)).unwrap();

    // The node itself exits with the status a devnet acts on, naming the address.
    let node = ClusterLayout::new(&dir).node("node-1");
    let output = Command::new(env!("CARGO_BIN_EXE_thresig"))
        .args(["node", "--node-id", "node-1", "--cggmp21", "off"])
        .arg("--data-dir")
        .arg(&dir)
        .arg("--passphrase-file")
        .arg(node.passphrase_file())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(
        output.status.code(),
        Some(i32::from(EXIT_ADDRESS_IN_USE)),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!("listening on 127.0.0.1:{node_1_port}"))
            && stderr.contains("in use"),
        "{stderr}"
    );

    // A devnet on an existing cluster does not move its nodes: it stops and says why.
    let stderr = devnet_fails_to_start(&dir, 0);
    assert!(
        stderr.contains("node-1 exited during start-up")
            && stderr.contains(&format!("127.0.0.1:{node_1_port}"))
            && stderr.contains("the cluster's node ports are in its cluster.json"),
        "{stderr}"
    );
    assert_eq!(endpoints(&dir), before, "the manifest is unchanged");
    drop(taken);

    // Nor is the coordinator put on one of the cluster's node ports.
    let stderr = devnet_fails_to_start(&dir, node_1_port);
    assert!(
        stderr.contains(&format!("--port {node_1_port} is a node's port")),
        "{stderr}"
    );

    // A port the user chose for the coordinator is not swapped for another either.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let stderr = devnet_fails_to_start(&dir, port);
    assert!(
        stderr.contains(&format!("the coordinator's port 127.0.0.1:{port} is taken"))
            && stderr.contains("pass another --port, or --port 0"),
        "{stderr}"
    );
}

/// Runs `thresig devnet` on the 2-of-3 cluster in `dir` with `--port port`, asserts that it
/// fails, and returns what it printed on stderr.
fn devnet_fails_to_start(dir: &std::path::Path, port: u16) -> String {
    let output = devnet_command(THRESIG, dir, 3, 2)
        .args(["--cggmp21", "off", "--port", &port.to_string()])
        .env("THRESIG_LOG", "warn")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(!output.status.success(), "{stderr}");
    stderr
}

/// A `thresig` that acts as if another program held node-1's first port and the coordinator's
/// first port: started on them, node-1 or the coordinator exits as `thresig` does when its port
/// is taken. Otherwise it is `thresig`.
fn thresig_whose_first_ports_are_taken(dir: &std::path::Path) -> std::path::PathBuf {
    let script = dir.join("thresig-wrapper");
    let text = format!(
        r#"#!/bin/sh
# node --data-dir DIR --node-id node-1 ...
if [ "$1" = node ] && [ "$5" = node-1 ]; then
    [ -e "{dir}/first-manifest.json" ] || cp "{dir}/cluster/cluster.json" "{dir}/first-manifest.json"
    cmp -s "{dir}/cluster/cluster.json" "{dir}/first-manifest.json" && exit {code}
fi
if [ "$1" = coordinator ]; then
    [ -e "{dir}/first-coordinator-args" ] || echo "$*" > "{dir}/first-coordinator-args"
    [ "$*" = "$(cat "{dir}/first-coordinator-args")" ] && exit {code}
fi
exec "{thresig}" "$@"
"#,
        dir = dir.display(),
        code = EXIT_ADDRESS_IN_USE,
        thresig = env!("CARGO_BIN_EXE_thresig"),
    );
    std::fs::write(&script, text).unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    script
}

#[test]
fn a_new_cluster_whose_ports_are_taken_starts_on_others_and_signs() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(PoisonError::into_inner);
    let dir = temp_dir("ports");
    let options = DevnetOptions {
        nodes: 3,
        threshold: 2,
        data_dir: dir.join("cluster"),
        port: 0,
        network: "regtest".to_owned(),
        executable: thresig_whose_first_ports_are_taken(&dir),
        hsm: HsmChoice::File,
        cggmp21_primes: None,
        cggmp21: false,
        presignature_pool: 0,
    };
    thresig_sidecar::install_crypto_provider();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let cluster = runtime.block_on(devnet::start(&options)).unwrap();

    // Both refusals happened, and the devnet moved on from the ports they named.
    let first: Manifest =
        serde_json::from_slice(&std::fs::read(dir.join("first-manifest.json")).unwrap()).unwrap();
    let now = endpoints(&options.data_dir);
    for (old, new) in first.nodes.iter().zip(&now) {
        assert_ne!(&old.endpoint, new, "every node moved");
    }
    let first_coordinator = std::fs::read_to_string(dir.join("first-coordinator-args")).unwrap();
    let url = cluster.url();
    let port = url.rsplit(':').next().unwrap();
    assert!(
        !first_coordinator.contains(&format!("--port {port} ")),
        "the coordinator moved from {first_coordinator} to {url}"
    );

    // The cluster on its new ports works end to end.
    let key = ClientKey::load(&ClusterLayout::new(&options.data_dir).client_key()).unwrap();
    let client = RpcClient::new(url, Duration::from_secs(60))
        .unwrap()
        .with_client_key(key);
    let (wallet, signed) = runtime.block_on(async {
        let wallet = client
            .call("thresig_createWallet", json!({ "scheme": "frost-ed25519" }))
            .await
            .unwrap();
        let signed = client
            .call(
                "thresig_signMessage",
                json!({ "walletId": wallet["walletId"], "message": "0x6d6f766564" }),
            )
            .await
            .unwrap();
        (wallet, signed)
    });
    assert!(verify_ed25519(
        &unhex(wallet["publicKey"].as_str().unwrap()),
        b"moved",
        &unhex(signed["signature"].as_str().unwrap()),
    ));
    cluster.stop();
    let _ = std::fs::remove_dir_all(&dir);
}
