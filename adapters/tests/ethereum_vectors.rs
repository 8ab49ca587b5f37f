//! All ten signed EIP-1559 transactions of ethereumjs' `eip1559.json`
//! (`../shared/testvectors/eip1559`): the transaction is rebuilt from the JSON fields, and its
//! signing hash, signature (RFC 6979 with k256), EIP-2718 encoding and sender must reproduce the
//! vector's signed bytes; the vector bytes decode with alloy and recover the key's address.
//! The vector's `signedTransactionRLP` is the p2p network form: an RLP string wrapping the
//! EIP-2718 bytes. Plus EIP-55, EIP-191 and EIP-712 known answers.

use thresig_testkit::vectors as common;

use alloy_primitives::{Address, Bytes, TxKind, U256, b256, keccak256};
use common::{hex_field, read_json, str_field, unhex};
use k256::ecdsa::SigningKey;
use k256::elliptic_curve::sec1::ToEncodedPoint;
use thresig_adapters::ethereum::{self as eth, EthereumError, TxEip1559};

fn u64_field(value: &serde_json::Value, key: &str) -> u64 {
    value[key]
        .as_u64()
        .unwrap_or_else(|| panic!("{key} missing in {value}"))
}

/// Strips the RLP string header of the network form.
fn eip2718_bytes(network_form: &[u8]) -> Vec<u8> {
    let mut buf = network_form;
    let header = alloy_rlp::Header::decode(&mut buf).unwrap();
    assert!(!header.list);
    assert_eq!(header.payload_length, buf.len());
    buf.to_vec()
}

#[test]
fn all_ten_eip1559_vectors() {
    let vectors = read_json("eip1559/eip1559.json");
    let vectors = vectors.as_array().unwrap();
    assert_eq!(vectors.len(), 10);
    for (number, vector) in vectors.iter().enumerate() {
        let network_form = hex_field(vector, "signedTransactionRLP");
        let raw = eip2718_bytes(&network_form);

        // The key and its address, from both SEC1 forms.
        let key = SigningKey::from_slice(&hex_field(vector, "privateKey")).unwrap();
        let public = key.verifying_key().as_affine().to_encoded_point(false);
        let compressed = key.verifying_key().as_affine().to_encoded_point(true);
        let sender = eth::address_from_public_key(public.as_bytes()).unwrap();
        assert_eq!(
            eth::address_from_public_key(compressed.as_bytes()).unwrap(),
            sender
        );

        // Decoding: fields, sender, re-encoding.
        let signed = eth::decode_signed(&raw).unwrap();
        let tx = signed.tx();
        assert_eq!(tx.nonce, u64_field(vector, "nonce"), "vector {number}");
        assert_eq!(tx.value, U256::from(u64_field(vector, "value")));
        assert_eq!(tx.gas_limit, u64_field(vector, "gasLimit"));
        assert_eq!(
            tx.max_priority_fee_per_gas,
            u128::from(u64_field(vector, "maxPriorityFeePerGas"))
        );
        assert_eq!(
            tx.max_fee_per_gas,
            u128::from(u64_field(vector, "maxFeePerGas"))
        );
        let to: Address = str_field(vector, "to").parse().unwrap();
        assert_eq!(tx.to, TxKind::Call(to));
        assert_eq!(eth::recover_sender(&signed).unwrap(), sender);
        assert_eq!(eth::encode_signed(&signed), raw);

        // Rebuilding from the JSON fields. The JSON has no chain id field: the signed bytes
        // carry 4 (the first field of every vector's RLP list).
        assert_eq!(tx.chain_id, 4);
        let rebuilt = TxEip1559 {
            chain_id: 4,
            nonce: u64_field(vector, "nonce"),
            gas_limit: u64_field(vector, "gasLimit"),
            max_fee_per_gas: u128::from(u64_field(vector, "maxFeePerGas")),
            max_priority_fee_per_gas: u128::from(u64_field(vector, "maxPriorityFeePerGas")),
            to: TxKind::Call(to),
            value: U256::from(u64_field(vector, "value")),
            access_list: Default::default(),
            input: Bytes::new(),
        };
        assert_eq!(&rebuilt, tx);
        let unsigned = eth::encode_unsigned(&rebuilt);
        assert_eq!(eth::decode_unsigned(&unsigned).unwrap(), rebuilt);
        let hash = eth::signing_hash(&rebuilt);
        assert_eq!(hash, keccak256(&unsigned));

        // Signing the hash deterministically reproduces the vector's signature, and assembly
        // from (r, s) alone finds the parity and reproduces the bytes.
        let (signature, _) = key.sign_prehash_recoverable(hash.as_slice()).unwrap();
        let signature = signature.normalize_s().unwrap_or(signature);
        let (r, s) = signature.split_bytes();
        assert_eq!(
            U256::from_be_slice(&r),
            signed.signature().r(),
            "vector {number}: r"
        );
        assert_eq!(U256::from_be_slice(&s), signed.signature().s());
        let assembled =
            eth::assemble_signed(rebuilt.clone(), &r.into(), &s.into(), sender).unwrap();
        assert_eq!(assembled.raw, raw, "vector {number}");
        assert_eq!(assembled.hash, keccak256(&raw));
        assert_eq!(assembled.sender, sender);
        let again = eth::assemble_with_signature(rebuilt.clone(), *signed.signature()).unwrap();
        assert_eq!(again, assembled);

        // Policy view.
        let view = eth::policy_view(tx, Some(sender));
        assert_eq!(view.chain.to_string(), "eip155:4");
        assert_eq!(view.payer, Some(sender.to_checksum(None)));
        assert_eq!(view.transfers.len(), 1);
        assert_eq!(view.transfers[0].recipient, to.to_checksum(None));
        assert_eq!(
            view.transfers[0].amount,
            u128::from(u64_field(vector, "value"))
        );
        assert_eq!(
            view.fee,
            u128::from(u64_field(vector, "gasLimit"))
                * u128::from(u64_field(vector, "maxFeePerGas"))
        );
        assert_eq!(view.opaque_actions, 0);

        // The wrong sender is refused.
        assert!(matches!(
            eth::assemble_signed(rebuilt, &r.into(), &s.into(), Address::ZERO),
            Err(EthereumError::WrongSigner { .. })
        ));
    }
}

#[test]
fn high_s_is_normalised_on_assembly_and_refused_on_recovery() {
    let vectors = read_json("eip1559/eip1559.json");
    let raw = eip2718_bytes(&hex_field(&vectors[0], "signedTransactionRLP"));
    let signed = eth::decode_signed(&raw).unwrap();
    let sender = eth::recover_sender(&signed).unwrap();
    let order = U256::from_be_slice(&unhex(
        "fffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141",
    ));
    let signature = *signed.signature();
    let high_s: [u8; 32] = (order - signature.s()).to_be_bytes();
    let r: [u8; 32] = signature.r().to_be_bytes();
    let assembled = eth::assemble_signed(signed.tx().clone(), &r, &high_s, sender).unwrap();
    assert_eq!(assembled.raw, raw);

    let flipped =
        alloy_primitives::Signature::new(signature.r(), order - signature.s(), !signature.v());
    assert!(matches!(
        eth::assemble_with_signature(signed.tx().clone(), flipped),
        Err(EthereumError::HighS)
    ));
    assert!(matches!(
        eth::assemble_signed(signed.tx().clone(), &[0; 32], &high_s, sender),
        Err(EthereumError::ScalarRange("r"))
    ));
}

#[test]
fn decoders_name_what_is_wrong() {
    assert!(matches!(eth::decode_signed(&[]), Err(EthereumError::Empty)));
    assert!(matches!(
        eth::decode_signed(&[0x01, 0xc0]),
        Err(EthereumError::WrongType(1))
    ));
    assert!(matches!(
        eth::decode_unsigned(&[0xf8]),
        Err(EthereumError::WrongType(0xf8))
    ));
    let vectors = read_json("eip1559/eip1559.json");
    let mut raw = eip2718_bytes(&hex_field(&vectors[0], "signedTransactionRLP"));
    raw.push(0);
    assert!(eth::decode_signed(&raw).is_err());
    assert!(matches!(
        eth::address_from_public_key(&[2; 32]),
        Err(EthereumError::KeyLength(32))
    ));
    assert!(matches!(
        eth::address_from_public_key(&[5; 33]),
        Err(EthereumError::InvalidKey)
    ));
}

/// The four examples of EIP-55 itself, and the well-known address of secret key 1.
#[test]
fn eip55_addresses() {
    for expected in [
        "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed",
        "0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359",
        "0xdbF03B407c01E7cD3CBea99509d93f8DDDC8C6FB",
        "0xD1220A0cf47c7B9Be7A2E6BA89F429762e7b9aDb",
    ] {
        let address: Address = expected.to_lowercase().parse().unwrap();
        assert_eq!(eth::checksum_address(&address), expected);
    }
    let mut one = [0u8; 32];
    one[31] = 1;
    let key = SigningKey::from_slice(&one).unwrap();
    for compress in [true, false] {
        let sec1 = key.verifying_key().as_affine().to_encoded_point(compress);
        assert_eq!(
            eth::eip55_address(sec1.as_bytes()).unwrap(),
            "0x7E5F4552091A69125d5DfCb7b8C2659029395Bdf"
        );
    }
}

/// `personal_sign` of "Hello World": the hash ethers' `hashMessage` documents.
#[test]
fn eip191_personal_message() {
    assert_eq!(
        eth::personal_message_hash(b"Hello World"),
        b256!("a1de988600a42c4b4ab089b619297c17d53cffae5d5120d82d8a92d0bb3b78f2")
    );
}

/// The `Mail` example of EIP-712 (assets/eip-712/Example.js), as eth_signTypedData_v4 JSON;
/// the expected digest is the one the EIP's example prints.
#[test]
fn eip712_mail_example() {
    let json = r#"{
        "types": {
            "EIP712Domain": [
                {"name": "name", "type": "string"},
                {"name": "version", "type": "string"},
                {"name": "chainId", "type": "uint256"},
                {"name": "verifyingContract", "type": "address"}
            ],
            "Person": [
                {"name": "name", "type": "string"},
                {"name": "wallet", "type": "address"}
            ],
            "Mail": [
                {"name": "from", "type": "Person"},
                {"name": "to", "type": "Person"},
                {"name": "contents", "type": "string"}
            ]
        },
        "primaryType": "Mail",
        "domain": {
            "name": "Ether Mail",
            "version": "1",
            "chainId": 1,
            "verifyingContract": "0xCcCCccccCCCCcCCCCCCcCcCccCcCCCcCcccccccC"
        },
        "message": {
            "from": {"name": "Cow", "wallet": "0xCD2a3d9F938E13CD947Ec05AbC7FE734Df8DD826"},
            "to": {"name": "Bob", "wallet": "0xbBbBBBBbbBBBbbbBbbBbbbbBBbBbbbbBbBbbBBbB"},
            "contents": "Hello, Bob!"
        }
    }"#;
    let expected = b256!("be609aee343fb3c4b28e1df9e632fca64fcfaede20f02e86244efddf30957bd2");
    assert_eq!(eth::typed_data_hash(json).unwrap(), expected);
    let value: serde_json::Value = serde_json::from_str(json).unwrap();
    assert_eq!(eth::typed_data_hash_value(&value).unwrap(), expected);

    // A message field of the wrong type is an error, not a panic.
    let broken = json.replace(r#""contents": "Hello, Bob!""#, r#""contents": [1, 2]"#);
    assert!(eth::typed_data_hash(&broken).is_err());
    assert!(matches!(
        eth::typed_data_hash("{"),
        Err(EthereumError::TypedDataJson(_))
    ));
}

#[test]
fn contract_calls_are_opaque_to_policy() {
    let tx = TxEip1559 {
        chain_id: 1,
        nonce: 0,
        gas_limit: 100_000,
        max_fee_per_gas: 30_000_000_000,
        max_priority_fee_per_gas: 1_000_000_000,
        to: TxKind::Create,
        value: U256::MAX,
        access_list: Default::default(),
        input: Bytes::from(vec![0x60, 0x00]),
    };
    let view = eth::policy_view(&tx, None);
    assert_eq!(view.transfers[0].recipient, "create");
    assert_eq!(view.transfers[0].amount, u128::MAX);
    assert_eq!(view.opaque_actions, 1);
    assert_eq!(view.payer, None);
    assert_eq!(view.fee, 3_000_000_000_000_000);
}

#[test]
fn eth_sign_transaction_objects_give_the_vectors_unsigned_transactions() {
    let vectors = read_json("eip1559/eip1559.json");
    for (number, vector) in vectors.as_array().unwrap().iter().enumerate() {
        let signed =
            eth::decode_signed(&eip2718_bytes(&hex_field(vector, "signedTransactionRLP"))).unwrap();
        let tx = signed.tx();
        let TxKind::Call(to) = tx.to else {
            panic!("vector {number} creates a contract");
        };
        // Quantities as JSON-RPC sends them (hex strings) and as numbers or decimal strings.
        let fields = serde_json::json!({
            "type": "0x2",
            "chainId": format!("{:#x}", tx.chain_id),
            "nonce": tx.nonce,
            "gas": format!("{:#x}", tx.gas_limit),
            "maxFeePerGas": tx.max_fee_per_gas.to_string(),
            "maxPriorityFeePerGas": format!("{:#x}", tx.max_priority_fee_per_gas),
            "to": to.to_string(),
            "value": format!("{:#x}", tx.value),
            "data": format!("0x{}", hex::encode(&tx.input)),
            "accessList": [],
        });
        let (parsed, from) = eth::transaction_from_fields(&fields).unwrap();
        assert_eq!(from, None);
        assert_eq!(
            eth::encode_unsigned(&parsed),
            eth::encode_unsigned(tx),
            "vector {number}"
        );
        assert_eq!(eth::signing_hash(&parsed), eth::signing_hash(tx));
    }
}

#[test]
fn transaction_objects_with_bad_fields_are_refused_naming_the_field() {
    let good = serde_json::json!({
        "chainId": 1, "nonce": 0, "gas": 21000, "maxFeePerGas": "0x3b9aca00",
        "maxPriorityFeePerGas": 1, "to": "0x2222222222222222222222222222222222222222",
        "value": "1000", "from": "0x1111111111111111111111111111111111111111"
    });
    let (tx, from) = eth::transaction_from_fields(&good).unwrap();
    assert_eq!(tx.value, U256::from(1000));
    assert_eq!(tx.max_fee_per_gas, 1_000_000_000);
    assert_eq!(
        from,
        Some(
            "0x1111111111111111111111111111111111111111"
                .parse()
                .unwrap()
        )
    );
    let cases = [
        ("nonce", serde_json::Value::Null, "nonce: missing"),
        ("gas", serde_json::json!("0xzz"), "gas"),
        ("type", serde_json::json!("0x1"), "type"),
        ("to", serde_json::json!("0x12"), "to"),
        ("value", serde_json::json!(-1), "value"),
        ("gasPrice", serde_json::json!(1), "gasPrice"),
    ];
    for (field, value, expected) in cases {
        let mut fields = good.clone();
        if value.is_null() {
            fields.as_object_mut().unwrap().remove(field);
        } else {
            fields[field] = value;
        }
        let error = eth::transaction_from_fields(&fields)
            .unwrap_err()
            .to_string();
        assert!(error.contains(expected), "{field}: {error}");
    }
    assert!(eth::transaction_from_fields(&serde_json::json!([1])).is_err());
}
