//! The `thresig` binary as scripts use it: exit codes, output lines, batch mode, and real
//! transactions to the precompiles.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

fn thresig(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_thresig"))
        .args(args)
        .output()
        .expect("thresig runs")
}

fn thresig_with_stdin(args: &[&str], stdin: &str) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_thresig"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("thresig runs");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

fn stdout(output: &Output) -> String {
    String::from_utf8(output.stdout.clone()).unwrap()
}

fn stderr(output: &Output) -> String {
    String::from_utf8(output.stderr.clone()).unwrap()
}

fn vectors_dir() -> PathBuf {
    std::env::var_os("THRESIG_TESTVECTORS")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/testvectors")
        })
}

/// BIP-340 CSV row `index`: (public key, message, signature).
fn bip340_row(index: usize) -> (String, String, String) {
    let text = std::fs::read_to_string(vectors_dir().join("bip340/test-vectors.csv")).unwrap();
    let line = text.lines().nth(index + 1).unwrap();
    let fields: Vec<&str> = line.split(',').collect();
    (
        fields[2].to_owned(),
        fields[4].to_owned(),
        fields[5].to_owned(),
    )
}

#[test]
fn a_valid_signature_prints_valid_and_exits_0() {
    let (key, message, signature) = bip340_row(1);
    let output = thresig(&[
        "verify",
        "--scheme",
        "bip340",
        "--public-key",
        &key,
        "--message",
        &message,
        "--signature",
        &format!("0x{signature}"),
    ]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert_eq!(stdout(&output), "valid\n");
}

#[test]
fn an_invalid_signature_prints_invalid_and_exits_1() {
    let (key, message, signature) = bip340_row(1);
    let mut tampered = signature.into_bytes();
    tampered[10] = if tampered[10] == b'0' { b'1' } else { b'0' };
    let tampered = String::from_utf8(tampered).unwrap();
    let output = thresig(&[
        "verify",
        "--scheme",
        "bip340",
        "--public-key",
        &key,
        "--message",
        &message,
        "--signature",
        &tampered,
    ]);
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(stdout(&output), "invalid\n");
}

#[test]
fn malformed_input_exits_2_with_the_reason() {
    let (key, message, signature) = bip340_row(1);
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (
            vec![
                "--scheme",
                "bip340",
                "--public-key",
                "0xzz",
                "--message",
                &message,
                "--signature",
                &signature,
            ],
            "public key: 'z' at position 0 is not a hex digit",
        ),
        (
            vec![
                "--scheme",
                "bip340",
                "--public-key",
                "abc",
                "--message",
                &message,
                "--signature",
                &signature,
            ],
            "public key: odd number of hex digits",
        ),
        (
            vec![
                "--scheme",
                "schnorr",
                "--public-key",
                &key,
                "--message",
                &message,
                "--signature",
                &signature,
            ],
            "unknown scheme \"schnorr\"",
        ),
        (
            vec![
                "--scheme",
                "bip340",
                "--public-key",
                &key[2..],
                "--message",
                &message,
                "--signature",
                &signature,
            ],
            "public key must be 32 bytes for bip340, got 31",
        ),
        (
            vec![
                "--scheme",
                "bip340",
                "--public-key",
                &key,
                "--message",
                &message,
                "--signature",
                &signature,
                "--context",
                "00",
            ],
            "a context string applies only to ML-DSA and SLH-DSA",
        ),
        (
            vec![
                "--scheme",
                "ecdsa-secp256k1",
                "--public-key",
                &key,
                "--message",
                &message,
                "--signature",
                &signature,
            ],
            "public key must be 33 (compressed) or 65 (uncompressed) bytes",
        ),
        (
            vec![
                "--scheme",
                "ml-dsa-44",
                "--public-key",
                &key,
                "--message",
                &message,
                "--signature",
                &signature,
            ],
            "public key must be 1312 bytes for ml-dsa-44, got 32",
        ),
    ];
    for (args, reason) in cases {
        let mut full = vec!["verify"];
        full.extend(args);
        let output = thresig(&full);
        assert_eq!(output.status.code(), Some(2), "{full:?}");
        assert!(stdout(&output).is_empty());
        assert!(
            stderr(&output).contains(reason),
            "{full:?}: {:?} lacks {reason:?}",
            stderr(&output)
        );
    }
    // Missing flags are usage errors, also exit 2.
    assert_eq!(
        thresig(&["verify", "--scheme", "bip340"]).status.code(),
        Some(2)
    );
}

#[test]
fn ml_dsa_acvp_case_verifies_through_the_internal_interface_flag() {
    let text = std::fs::read_to_string(
        vectors_dir().join("acvp/ML-DSA-sigVer-FIPS204/internalProjection.json"),
    )
    .unwrap();
    let json: serde_json::Value = serde_json::from_str(&text).unwrap();
    let group = &json["testGroups"][0];
    let test = group["tests"]
        .as_array()
        .unwrap()
        .iter()
        .find(|test| test["testPassed"] == true)
        .unwrap();
    let args = [
        "verify",
        "--scheme",
        "ml-dsa-44",
        "--public-key",
        group["pk"].as_str().unwrap(),
        "--message",
        test["message"].as_str().unwrap(),
        "--signature",
        test["signature"].as_str().unwrap(),
    ];
    let mut internal = args.to_vec();
    internal.push("--internal");
    assert_eq!(stdout(&thresig(&internal)), "valid\n");
    // Through the external interface the same bytes are a different message.
    assert_eq!(thresig(&args).status.code(), Some(1));
}

#[test]
fn batch_answers_every_line_in_order_and_never_stops() {
    let (key, message, signature) = bip340_row(0);
    let (_, _, other_signature) = bip340_row(1);
    let lines = [
        format!(
            r#"{{"scheme":"bip340","public_key":"{key}","message":"0x{message}","signature":"{signature}"}}"#
        ),
        format!(
            r#"{{"scheme":"bip340","public_key":"{key}","message":"{message}","signature":"{other_signature}"}}"#
        ),
        "this is not json".to_owned(),
        String::new(),
        format!(
            r#"{{"scheme":"bip340","public_key":"0xq1","message":"{message}","signature":"{signature}"}}"#
        ),
        format!(
            r#"{{"scheme":"rsa","public_key":"{key}","message":"{message}","signature":"{signature}"}}"#
        ),
        format!(
            r#"{{"scheme":"bip340","public_key":"{key}","message":"{message}","signature":"{signature}","internal":true}}"#
        ),
        format!(
            r#"{{"scheme":"bip340","public_key":"{key}","message":"{message}","signature":"{signature}","extra":1}}"#
        ),
        format!(
            r#"{{"scheme":"bip340","public_key":"{key}","message":"{message}","signature":"{signature}"}}"#
        ),
    ];
    let input = lines.join("\n");
    let file = std::env::temp_dir().join(format!("thresig-batch-{}.jsonl", std::process::id()));
    std::fs::write(&file, &input).unwrap();
    for output in [
        thresig(&["verify", "--batch", file.to_str().unwrap()]),
        thresig_with_stdin(&["verify", "--batch", "-"], &input),
    ] {
        assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
        let answers: Vec<serde_json::Value> = stdout(&output)
            .lines()
            .map(|line| serde_json::from_str(line).unwrap())
            .collect();
        assert_eq!(
            answers.len(),
            9,
            "one answer per input line, blank ones included"
        );
        assert_eq!(answers[0], serde_json::json!({"valid": true}));
        assert_eq!(answers[1], serde_json::json!({"valid": false}));
        assert!(
            answers[2]["error"]
                .as_str()
                .unwrap()
                .contains("line 3: not a verification request")
        );
        assert_eq!(
            answers[3],
            serde_json::json!({"error": "line 4: empty line"})
        );
        assert!(
            answers[4]["error"]
                .as_str()
                .unwrap()
                .contains("public key: 'q'")
        );
        assert!(
            answers[5]["error"]
                .as_str()
                .unwrap()
                .contains(r#"unknown scheme "rsa""#)
        );
        assert!(
            answers[6]["error"]
                .as_str()
                .unwrap()
                .contains("the internal interface applies only")
        );
        assert!(
            answers[7]["error"]
                .as_str()
                .unwrap()
                .contains("unknown field `extra`")
        );
        assert_eq!(answers[8], serde_json::json!({"valid": true}));
    }
    std::fs::remove_file(&file).unwrap();
    let missing = thresig(&["verify", "--batch", "/nonexistent/thresig.jsonl"]);
    assert_eq!(missing.status.code(), Some(2));
    assert!(stderr(&missing).contains("cannot open /nonexistent/thresig.jsonl"));
}

fn call_json(args: &[&str]) -> serde_json::Value {
    let output = thresig(args);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    serde_json::from_str(stdout(&output).trim()).unwrap()
}

/// verify(2, 3, key, message, signature) at the FROST address for BIP-340 row 1, as hex.
fn frost_calldata() -> String {
    use alloy_sol_types::SolCall;
    let (key, message, signature) = bip340_row(1);
    let call = thresig_precompiles::abi::IFrostVerifier::verifyCall {
        threshold: 2,
        totalSigners: 3,
        publicKey: hex::decode(key).unwrap().as_slice().try_into().unwrap(),
        messageHash: hex::decode(message).unwrap().as_slice().try_into().unwrap(),
        signature: hex::decode(signature).unwrap().into(),
    };
    format!("0x{}", hex::encode(call.abi_encode()))
}

#[test]
fn precompile_call_prints_one_json_line_for_success_halt_and_out_of_gas() {
    let calldata = frost_calldata();
    let address = "0x020000000000000000000000000000000000000C";
    let ok = call_json(&[
        "precompile",
        "call",
        "--address",
        address,
        "--input",
        &calldata,
    ]);
    assert_eq!(
        ok,
        serde_json::json!({"success": true, "precompile_gas": 65000, "output": format!("0x{:064x}", 1)})
    );
    let short = call_json(&[
        "precompile",
        "call",
        "--address",
        address,
        "--input",
        &calldata,
        "--gas-limit",
        "64999",
    ]);
    assert_eq!(
        short,
        serde_json::json!({"success": false, "precompile_gas": 64999, "output": "0x", "error": "out of gas"})
    );
    let unknown = call_json(&[
        "precompile",
        "call",
        "--address",
        address,
        "--input",
        "0xdeadbeef",
    ]);
    assert_eq!(unknown["success"], false);
    assert!(
        unknown["error"]
            .as_str()
            .unwrap()
            .contains("unknown selector 0xdeadbeef")
    );
    let seed = call_json(&[
        "precompile",
        "call",
        "--address",
        address,
        "--input",
        &calldata,
        "--schedule",
        "seed",
    ]);
    assert_eq!(seed["precompile_gas"], 65000);
    // The calibrated schedule charges what the precompiles crate's generated schedule says.
    let calibrated = call_json(&[
        "precompile",
        "call",
        "--address",
        address,
        "--input",
        &calldata,
        "--schedule",
        "calibrated",
    ]);
    let expected = thresig_precompiles::precompile::decode(
        &address.parse().unwrap(),
        &hex::decode(calldata.trim_start_matches("0x")).unwrap(),
    )
    .unwrap()
    .cost(&thresig_precompiles::GasSchedule::CALIBRATED);
    assert_eq!(calibrated["success"], true);
    assert_eq!(calibrated["precompile_gas"], expected);
    assert_ne!(
        expected, 65000,
        "the calibrated price differs from the seed's"
    );
}

#[test]
fn precompile_call_rejects_malformed_arguments_with_exit_2() {
    let address = "0x020000000000000000000000000000000000000C";
    for (args, reason) in [
        (vec!["--address", "0x12", "--input", "0x00"], "address:"),
        (
            vec!["--address", address, "--input", "0x0"],
            "input: odd number of hex digits",
        ),
        (
            vec![
                "--address",
                address,
                "--input",
                "0x00",
                "--schedule",
                "cheap",
            ],
            "unknown gas schedule \"cheap\"",
        ),
        (
            vec![
                "--address",
                address,
                "--input",
                "0x00",
                "--gas-limit",
                "100000000",
            ],
            "greater than the cap",
        ),
    ] {
        let mut full = vec!["precompile", "call"];
        full.extend(args);
        let output = thresig(&full);
        assert_eq!(output.status.code(), Some(2), "{full:?}");
        assert!(
            stderr(&output).contains(reason),
            "{full:?}: {:?} lacks {reason:?}",
            stderr(&output)
        );
    }
}
