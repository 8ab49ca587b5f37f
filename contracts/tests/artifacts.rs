//! The committed artifacts are exactly what the pinned solc makes of the sources, and the Rust
//! bindings and the precompiles' ABI agree with them.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use alloy_sol_types::SolCall;
use serde_json::Value;
use thresig_contracts::artifacts::{self, Artifact};
use thresig_contracts::bindings::{BridgeVault, PqBridgeVault, VerifierProbe};
use thresig_precompiles::abi::{
    IFrostVerifier, IMlDsaVerifier, ISlhDsaVerifier, IThresholdEcdsaVerifier,
};

fn contracts_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn json_files(dir: &Path) -> BTreeSet<String> {
    std::fs::read_dir(dir)
        .unwrap_or_else(|error| panic!("reading {}: {error}", dir.display()))
        .map(|entry| entry.unwrap().file_name().into_string().unwrap())
        .filter(|name| name.ends_with(".json"))
        .collect()
}

/// CI's recompilation: `scripts/compile.js` with the solc that package-lock.json pins must
/// reproduce `out/` byte for byte (so nobody commits bytecode the sources do not make).
#[test]
fn committed_artifacts_are_what_the_pinned_solc_compiles() {
    let dir = contracts_dir();
    assert!(
        dir.join("node_modules/solc").is_dir(),
        "solc is not installed: run scripts/install-deps.sh (npm ci in contracts/)"
    );
    let fresh = std::env::temp_dir().join(format!(
        "thresig-contracts-out-{}-{}",
        std::process::id(),
        rand::random::<u32>()
    ));
    let output = Command::new("node")
        .arg(dir.join("scripts/compile.js"))
        .arg("--out")
        .arg(&fresh)
        .output()
        .expect("node runs (scripts/install-deps.sh installs it)");
    assert!(
        output.status.success(),
        "compile.js failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let committed = dir.join("out");
    assert_eq!(
        json_files(&fresh),
        json_files(&committed),
        "the set of artifacts differs"
    );
    for file in json_files(&fresh) {
        let made = std::fs::read_to_string(fresh.join(&file)).unwrap();
        let kept = std::fs::read_to_string(committed.join(&file)).unwrap();
        assert!(
            made == kept,
            "out/{file} differs from a fresh compilation: run `npm run build` in contracts/ and commit out/"
        );
    }
    let _ = std::fs::remove_dir_all(&fresh);
    // The embedded list covers every file the script writes.
    let embedded: BTreeSet<String> = artifacts::ALL
        .iter()
        .map(|artifact| format!("{}.json", artifact.name))
        .collect();
    assert_eq!(embedded, json_files(&committed));
}

/// `name(type,...)` of every ABI entry of `kind` (no tuples occur in these contracts).
fn abi_signatures(artifact: &Artifact, kind: &str) -> BTreeSet<String> {
    let json = artifact.parse().unwrap();
    json["abi"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|entry| entry["type"] == kind)
        .map(|entry| {
            let types: Vec<&str> = entry["inputs"]
                .as_array()
                .unwrap()
                .iter()
                .map(|input| input["type"].as_str().unwrap())
                .collect();
            format!("{}({})", entry["name"].as_str().unwrap(), types.join(","))
        })
        .collect()
}

fn set(signatures: &[&str]) -> BTreeSet<String> {
    signatures.iter().map(|s| (*s).to_owned()).collect()
}

/// The artifact's functions, errors and events are exactly the bindings' (by signature).
fn assert_abi(artifact: Artifact, functions: &[&str], errors: &[&str], events: &[&str]) {
    for (kind, expected) in [
        ("function", functions),
        ("error", errors),
        ("event", events),
    ] {
        assert_eq!(
            abi_signatures(&artifact, kind),
            set(expected),
            "{} {kind}s",
            artifact.name
        );
    }
}

#[test]
fn rust_bindings_match_the_compiled_abi() {
    assert_abi(
        artifacts::BRIDGE_VAULT,
        BridgeVault::BridgeVaultCalls::SIGNATURES,
        BridgeVault::BridgeVaultErrors::SIGNATURES,
        BridgeVault::BridgeVaultEvents::SIGNATURES,
    );
    assert_abi(
        artifacts::PQ_BRIDGE_VAULT,
        PqBridgeVault::PqBridgeVaultCalls::SIGNATURES,
        PqBridgeVault::PqBridgeVaultErrors::SIGNATURES,
        PqBridgeVault::PqBridgeVaultEvents::SIGNATURES,
    );
    assert_abi(
        artifacts::VERIFIER_PROBE,
        VerifierProbe::VerifierProbeCalls::SIGNATURES,
        VerifierProbe::VerifierProbeErrors::SIGNATURES,
        &[],
    );
}

fn method_identifiers(name: &'static str) -> Value {
    let artifact = artifacts::ALL
        .into_iter()
        .find(|artifact| artifact.name == name)
        .unwrap();
    artifact.parse().unwrap()["methodIdentifiers"].clone()
}

/// The Solidity interfaces and the precompiles (thresig_precompiles::abi, DESIGN.md section 1)
/// name the same functions with the same selectors.
#[test]
fn solidity_interfaces_match_the_precompiles() {
    let ringtail = "verifyThreshold(uint32,uint32,bytes32,bytes)";
    // (interface, function signature, selector the precompiles serve)
    let expected: Vec<(&str, &str, [u8; 4])> = vec![
        (
            "IFrostVerifier",
            IFrostVerifier::verifyCall::SIGNATURE,
            IFrostVerifier::verifyCall::SELECTOR,
        ),
        (
            "IFrostVerifier",
            IFrostVerifier::verifyEd25519Call::SIGNATURE,
            IFrostVerifier::verifyEd25519Call::SELECTOR,
        ),
        (
            "IThresholdEcdsaVerifier",
            IThresholdEcdsaVerifier::verifyCall::SIGNATURE,
            IThresholdEcdsaVerifier::verifyCall::SELECTOR,
        ),
        (
            "IMlDsaVerifier",
            IMlDsaVerifier::verifyCall::SIGNATURE,
            IMlDsaVerifier::verifyCall::SELECTOR,
        ),
        (
            "ISlhDsaVerifier",
            ISlhDsaVerifier::verifyCall::SIGNATURE,
            ISlhDsaVerifier::verifyCall::SELECTOR,
        ),
        (
            "ISlhDsaVerifier",
            ISlhDsaVerifier::verifyShakeCall::SIGNATURE,
            ISlhDsaVerifier::verifyShakeCall::SELECTOR,
        ),
        // Not served yet: its signature is DESIGN.md's.
        (
            "IRingtailVerifier",
            ringtail,
            alloy_primitives::keccak256(ringtail)[..4]
                .try_into()
                .unwrap(),
        ),
    ];
    let interfaces: BTreeSet<&str> = expected.iter().map(|(name, _, _)| *name).collect();
    for name in interfaces {
        let identifiers = method_identifiers(name);
        let functions: Vec<_> = expected.iter().filter(|(n, _, _)| *n == name).collect();
        assert_eq!(
            identifiers.as_object().unwrap().len(),
            functions.len(),
            "{name}: {identifiers}"
        );
        for (_, signature, selector) in functions {
            assert_eq!(
                identifiers[*signature].as_str(),
                Some(hex_selector(*selector).as_str()),
                "{name}.{signature}"
            );
        }
    }
}

fn hex_selector(selector: [u8; 4]) -> String {
    selector.iter().map(|byte| format!("{byte:02x}")).collect()
}
