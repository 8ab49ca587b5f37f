//! Solana: real transactions decode and re-encode byte-exactly (and their real signatures verify
//! over the message bytes the adapter re-serialises); a transfer built by the adapter matches a
//! published message encoding; a transfer signed with ed25519-dalek and assembled by the adapter
//! is accepted by Solana's own crates (`solana-transaction` 6 with `verify`, decoding with
//! `wincode`, the serializer those crates use), which share no code with the adapter.

use base64::Engine;
use solana_transaction::versioned::VersionedTransaction;
use thresig_adapters::solana::{
    self as sol, Message, MessageVersion, Pubkey, SolanaError, SolanaTransaction,
};

/// Mainnet legacy transaction (durable-nonce advance + USDT transferChecked, two signers), from
/// paulmillr/micro-sol-signer, examples/decode_tx.js ("Random USDT tx from explorer",
/// signature 5Nnhjv1GVB8T1k8MguUGHQw5zQQQsWET1f1zzj8azRhnVoYQPoZPtkscPCKy6FisP2eVWehjU1EYV8zywqKm5if4).
const LEGACY_USDT: &str = "Atrba9P4rJ4tA3fMXioF+LBR5Y397TCaCC7o/JsViIFxDQ+FOpW2/I+DGMtapWPmrRJ3KDEaYa21YbpUcXaygQPKXDfudpRNZKsMsjhhH018U2YKTAJoqu6Jr1jASfnV98/65boYyPzPujo4YMKnIaCjrt1EsvnPNCuoBMXUEzYAAgEECc20MANIMI92j1eVfOiH5WQ691HznE9ZeQfjeXpDNm0eH5z5eohWokD+6H+jjnZ/KFqkCmlEdPrk6HCx+mOgjTAJUM/3r5vR1DjJnZhT6PQK3Z32pIe8MzDmPxe8Ttzy2CTxiTfFaNQeAkRJCefcB5JJGeb/Qxrj4dpxv8Kv9gClJ544V5wdVgmhBbCFO1kSIv6OaEUizyYdqhTUiO8w8XsGp9UXGSxWjuCKhF9z0peIzwNcMUWyGrNE2AYuqUAAAM4BDmCv7bInF71jGS9UFFo/llozu4LSxwKess4eIIJkAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAG3fbh12Whk9nL4UbO63msHLSF7V9bN5E6jPWFfv8AqYUpqsC9KfFD7lsris1C7YZkNRdSH5qix9nMo2igoP0yAgcDAgUBBAQAAAAIBAMGBAAKDJSDxgMPAAAABg==";

/// Mainnet v0 transaction with several address-table lookups, from paulmillr/micro-sol-signer,
/// test/versioned.test.ts ("Random mainnet tx with multiple ALTs").
const V0_MULTI_ALT: &str = "AZkX0FW20YGWeqj+W0aEdfs9bJLkmBbVbNAsCVt87ozUxMA2XMHwonKyQAhJm9shIbxeZS0sq+Ea1UahBKcbVAuAAQACCgG+ry1YYX66OPeyuO6BX7bNZLBJuMGEXVDS+/LLwvUrwWcb0Qh3zSFEKSZ1mdNgjIyb0DKiGO5kohBFiTGzo+PbiRSaybK6JOKNeh+iw5AO9rhs1ZP5bZeopsX4fFIx6WVWdAK6kpPNdaP6CJDGpRJ8NPwAvOtLVhmxKZPC5vxI2rXDU7hpAx33hd4Wuy2yGnLXKUrc0K1Oyi92F+JxL09RdeR/bOi2JWlgTWq92wutoib5dg7ZU6tHktr+vAUtHFMe/LPik8Jo0bvN3E7SZx4jTD9gYO/ywnQq3ERQWl1n62srPATpTeozmXXcLyn3TOfj9URHVjOKoAlsV14Ql3MDBkZv5SEXMv/srbpyw5vnvIzlu8X3EmssQ5s6QAAAABqx8tvKJseCWhSgA4aek1qgkfYmEFztYw2C6PmlOvMijrffFt8AoWekDxPt3rNbsnGp3irFVOrUGZufNJHLi3kCCAAFAutGBAAJQiMkAQIAAyUEJAUkASQmIycPBAEQERITFBUWFxgZACgkKQAqCgsEBQwNJCQmKw4jKywkJC0AGgEbBRwGBx0eHyAhIpkBAc7cusQAAAAAAAAAAAAAAAAAABFlCAcAAAAACgAAAAAAAAAAAAAAEwAEAPcmAsTH6uWG7yGJTiakZ8afcHX1djF5a6hJI8acb9dT67AOAAcArCYnCtACjpcN91fV8U+Mu2poEOSBORJWCOqVi3GOspRJIBQAAwDyJgabiFf+q4GE+2h/Y0YYwDXaxDncGus7VZig8AAAAAABAwANKUgaezLclq6i6/fo4RGyOuqlNL8whAoKN2dzwqWgBT1DQD48AC3qXXvmLqhMA719aEila1qH/+y+dr0pYWkooAWd9TBXCxcYGRobHB0eHyAhCAoBAAMWIgQFMxVkDaD3rLbhRB2mALD51FQeE65XmvAncV4SDyfgh5kJgoGAeHt/eoWDA3wJBw==";

/// Mainnet v0 transaction, from hewigovens/solana-primitives, examples/decode_tx/src/main.rs
/// (signature 24iGSgbnUUpL49Hp6ci46CrtujrMbDgZxJYcL6w3ySJudT3c5swGKnNygv4R1G3vYPwPYS9Emr3fimeEJQszDkzV).
const V0_SOLSCAN: &str = "ATU3t4TX00FNb4aqeojTYpIOZFQFED4pdoviPCBxUsEXwKHRbHBmmgsyEsDyjXREHGYAWlq13q4WzF5JDOvsBwKAAQAICwzd9xRZ1DCfrYBfTdgj38msCBn1maih1JKu7vCovzzacU2yFtM8/6xky5bNOdOL9vYNQWxOAtjDd8qJeKlPPJIXZyoBm/f1Y2xMsGa3gRLrL4a5Ba4vtFtLcOU1pWTT4wVKU1qZKSEGTSTocWDaOHx8NbXdvJK7geQfqEBBBUSNAwZGb+UhFzL/7K26csOb57yM5bvF9xJrLEObOkAAAAAGxoMMVxwvPwb8Y6KPKojQO9MxPeq3HTSRmeyRYk5jPwlU276eyWDJinopP+ITNpZv4YDRUa5LgXlWH4mFSlP2fhcCyQN7oqc4HZ+5zm3xXQ/FTXS7cxGfivEvGQwOFb4pA2InHkw7ace1KQX3P6I/rhhBsIayFI80eInx/pUv4R7U/fA1on6uX4cAPWh+6q5kflQbDzfTC/LJrf1AdS22d3DH2Q4dNNF2yrr6HjJmXJlYvanqTxxULDNngUZsJSq7g2zxeB7onMepv2C8TaiFnhOPYyeceZ5GEIyJx6r0FAYDADExNzQ2NzAxMDg2MTA0fDMzODYzMjQ4M3wxNzQ2NzAxMDg2MTEzfDMzODYzMjQ4M3xwBAAFApZUAgAEAAkDUMMAAAAAAAAFAgEAGFj16I5t+vX/F0jWAAAAAAAjixxoAAAAAAYMCwIABwgJCgwNDg8QDu7hX57jZwjCAQEBAQAABgwLAgAHCAkKDA0ODxBcPD8yewzFPL4CAAAAAQEAAACE1xcAAAAABAExPRcAAAABAAADAAEtixxoAAAAAAAAAAAAAAEBAQA0kqIPAAAAAPJZLkAXAAAAAQAAAwABLYscaAAAAAAAAAAAAAAB3E42Kl7pkP+vCgX6bK+0TFMtWHz2EUnYgJSxOMI1cDcABoNbXAMFAQ==";

/// A v0 transaction with no lookups, from paulmillr/micro-sol-signer, test/versioned.test.ts
/// ("other v0 tx", TX1).
const V0_NO_LOOKUPS: &str = "AVNruonGNAucJxZnPyGo+TlrW1ILS5fR7exfqy4MRq478ufAWgZym5q4nm8oFxy1kz78u8zZwpyjIKtuSve2FQSAAQACBIQTRm3anHp3GUE0vIrsB8wJaiKfJ70MW3G1ZS7SoKoGKxWtDsm4CUU+A+kvBGDWCqcTh6sCyx8ZtrJThK+PSCACd6avlzObesiNGJLJBEb1AAIwkmb2LlPBGCRJggAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAa9QcMW9HtBLBIT81eIv92IJY6A0IkflkFrrBrrnakIMBAgQBAAADLAIAAAABAAAAAAAAAOUrBmT3mLaIdnThWZjPA6EFD56s8A3zq6kaqEVPbndxAA==";

fn b64(text: &str) -> Vec<u8> {
    base64::engine::general_purpose::STANDARD
        .decode(text)
        .unwrap()
}

fn verify_all(tx: &SolanaTransaction) {
    let message = tx.message.serialize().unwrap();
    for (signature, key) in tx.signatures.iter().zip(tx.message.signers()) {
        let key = ed25519_dalek::VerifyingKey::from_bytes(&key.0).unwrap();
        key.verify_strict(&message, &ed25519_dalek::Signature::from_bytes(signature))
            .unwrap_or_else(|_| panic!("signature of {key:?} fails"));
    }
}

#[test]
fn real_transactions_round_trip_byte_exactly() {
    for (name, text, version, signatures, lookups) in [
        ("legacy USDT", LEGACY_USDT, MessageVersion::Legacy, 2, 0),
        ("v0 multi-ALT", V0_MULTI_ALT, MessageVersion::V0, 1, 3),
        ("v0 solscan", V0_SOLSCAN, MessageVersion::V0, 1, 1),
        ("v0 no lookups", V0_NO_LOOKUPS, MessageVersion::V0, 1, 0),
    ] {
        let bytes = b64(text);
        let tx = SolanaTransaction::deserialize(&bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(tx.message.version, version, "{name}");
        assert_eq!(tx.signatures.len(), signatures, "{name}");
        assert_eq!(tx.message.address_table_lookups.len(), lookups, "{name}");
        assert_eq!(tx.serialize().unwrap(), bytes, "{name}");
        assert_eq!(tx.to_base64().unwrap(), text, "{name}");
        // The real signatures verify over the re-serialised message: it is byte-exact.
        verify_all(&tx);

        let request = tx.signing_request().unwrap();
        let message = Message::deserialize(&request.message).unwrap();
        assert_eq!(message, tx.message);
        assert_eq!(message.serialize().unwrap(), request.message);

        // Solana's own decoder agrees on the message bytes and accepts the signatures.
        let theirs: VersionedTransaction = wincode::deserialize(&bytes).unwrap();
        assert_eq!(theirs.message.serialize(), request.message, "{name}");
        theirs.verify_and_hash_message().unwrap();
        assert_eq!(
            theirs
                .message
                .static_account_keys()
                .iter()
                .map(|key| key.to_bytes())
                .collect::<Vec<_>>(),
            tx.message
                .account_keys
                .iter()
                .map(|key| key.0)
                .collect::<Vec<_>>()
        );
    }
}

#[test]
fn legacy_usdt_decodes_for_policy() {
    let tx = SolanaTransaction::from_base64(LEGACY_USDT).unwrap();
    assert_eq!(
        tx.message.fee_payer().unwrap().to_string(),
        "EqywLUZcm73PSWri93X3M5TN62iFMsUPMjvWYUq89dKB"
    );
    assert_eq!(
        bs58::encode(tx.message.recent_blockhash).into_string(),
        "9xp5Jz2v7ZsE3Xn5SVGkRisjo7h16vzF1ducwhWnc5n9"
    );
    assert_eq!(
        tx.id().unwrap(),
        "5Nnhjv1GVB8T1k8MguUGHQw5zQQQsWET1f1zzj8azRhnVoYQPoZPtkscPCKy6FisP2eVWehjU1EYV8zywqKm5if4"
    );
    let view = sol::policy_view(&tx.message);
    assert_eq!(
        view.payer.as_deref(),
        Some("EqywLUZcm73PSWri93X3M5TN62iFMsUPMjvWYUq89dKB")
    );
    // The nonce advance moves nothing; the token transfer is not a System transfer.
    assert!(view.transfers.is_empty());
    assert_eq!(view.opaque_actions, 1);
    assert_eq!(view.fee, 2 * 5_000);
}

#[test]
fn v0_lookup_accounts_are_labelled() {
    let tx = SolanaTransaction::from_base64(V0_MULTI_ALT).unwrap();
    let statics = tx.message.account_keys.len() as u8;
    let first = &tx.message.address_table_lookups[0];
    let label = tx.message.account_label(statics);
    let expected = match first.writable_indexes.first() {
        Some(index) => format!("lookup:{}:{index}", first.account_key),
        None => label.clone(),
    };
    assert_eq!(label, expected);
    assert_eq!(
        tx.message.account_label(0),
        tx.message.account_keys[0].to_string()
    );
    let _ = sol::policy_view(&tx.message);
}

/// Trust Wallet's wallet-core, tests/chains/Solana/TransactionTests.cpp, TransferMessageData:
/// 42 lamports from 6eoo7i1k… to 56B334Qv… with an all-zero blockhash.
#[test]
fn transfer_message_matches_wallet_core() {
    let from: Pubkey = "6eoo7i1khGhVm8tLBMAdq4ax2FxkKP4G7mCcfHyr3STN"
        .parse()
        .unwrap();
    let to: Pubkey = "56B334QvCDMSirsmtEJGfanZm8GqeQarrSjdAb2MbeNM"
        .parse()
        .unwrap();
    let message = sol::transfer_message(from, to, 42, [0; 32]);
    let expected = concat!(
        "0100010353f9d600fe925083bb399907ea648d23a6a081fc7e9059202fd725f7edd281dd3cc1ff9ba3c7a876c8",
        "082df2f8a36ea9342ce3819dd4b6fa72d4a18e04a5363a00000000000000000000000000000000000000000000",
        "000000000000000000000000000000000000000000000000000000000000000000000000000000000000010202",
        "00010c020000002a00000000000000"
    );
    assert_eq!(hex::encode(message.serialize().unwrap()), expected);
}

#[test]
fn signed_transfer_verifies_with_solana_crates() {
    let signer = ed25519_dalek::SigningKey::from_bytes(&[7u8; 32]);
    let public = signer.verifying_key().to_bytes();
    let address = sol::address(&public).unwrap();
    assert_eq!(address, bs58::encode(public).into_string());
    let from: Pubkey = address.parse().unwrap();
    let to = Pubkey([9u8; 32]);
    let message = sol::transfer_message(from, to, 1_500_000, [3u8; 32]);
    let message_bytes = message.serialize().unwrap();

    let request = sol::signing_request(&message_bytes).unwrap();
    assert_eq!(request.signers, vec![from]);
    assert_eq!(request.message, message_bytes);
    let signature = ed25519_dalek::Signer::sign(&signer, &request.message).to_bytes();
    let signed = sol::assemble(&message_bytes, &[(from, signature)]).unwrap();
    assert_eq!(signed.signature, bs58::encode(signature).into_string());

    let bytes = b64(&signed.base64);
    let theirs: VersionedTransaction = wincode::deserialize(&bytes).unwrap();
    theirs
        .verify_and_hash_message()
        .expect("Solana's verifier accepts it");
    assert_eq!(theirs.signatures[0].as_ref(), &signature[..]);
    assert_eq!(wincode::serialize(&theirs).unwrap(), bytes);
    assert_eq!(
        SolanaTransaction::from_base64(&signed.base64).unwrap(),
        signed.transaction
    );

    let view = sol::policy_view(&message);
    assert_eq!(view.payer.as_deref(), Some(address.as_str()));
    assert_eq!(view.transfers.len(), 1);
    assert_eq!(view.transfers[0].recipient, to.to_string());
    assert_eq!(view.transfers[0].amount, 1_500_000);
    assert_eq!(view.fee, 5_000);
    assert_eq!(view.opaque_actions, 0);

    // A signature over other bytes, or by a key that is not a signer, is refused.
    let mut wrong = signature;
    wrong[0] ^= 1;
    assert_eq!(
        sol::assemble(&message_bytes, &[(from, wrong)]).unwrap_err(),
        SolanaError::BadSignature(from)
    );
    assert_eq!(
        sol::assemble(&message_bytes, &[(to, signature)]).unwrap_err(),
        SolanaError::NotASigner(to)
    );
    // Unsigned slots stay zero, and such a transaction still round-trips.
    let unsigned = sol::assemble(&message_bytes, &[]).unwrap();
    assert_eq!(unsigned.transaction.signatures, vec![[0u8; 64]]);
}

#[test]
fn priority_fee_and_precompile_signatures_count() {
    let from = Pubkey([1; 32]);
    let mut message = sol::transfer_message(from, Pubkey([2; 32]), 10, [0; 32]);
    message.account_keys.push(sol::COMPUTE_BUDGET_PROGRAM);
    message.account_keys.push(sol::ED25519_PROGRAM);
    message.header.num_readonly_unsigned_accounts = 3;
    let mut limit = vec![2];
    limit.extend_from_slice(&300_000u32.to_le_bytes());
    let mut price = vec![3];
    price.extend_from_slice(&1_000_001u64.to_le_bytes());
    for data in [limit, price] {
        message.instructions.push(sol::CompiledInstruction {
            program_id_index: 3,
            accounts: vec![],
            data,
        });
    }
    message.instructions.push(sol::CompiledInstruction {
        program_id_index: 4,
        accounts: vec![],
        data: vec![2, 0],
    });
    message.sanitize().unwrap();
    let view = sol::policy_view(&message);
    // 1 + 2 signatures; ceil(1_000_001 * 300_000 / 10^6) = 300_001 lamports priority.
    assert_eq!(view.fee, 3 * 5_000 + 300_001);
    assert_eq!(view.opaque_actions, 0);
    assert_eq!(view.transfers.len(), 1);
}

#[test]
fn compact_u16_is_canonical() {
    for (value, bytes) in [
        (0u16, vec![0x00]),
        (0x7f, vec![0x7f]),
        (0x80, vec![0x80, 0x01]),
        (0x3fff, vec![0xff, 0x7f]),
        (0x4000, vec![0x80, 0x80, 0x01]),
        (0xffff, vec![0xff, 0xff, 0x03]),
    ] {
        let mut out = Vec::new();
        sol::write_compact_u16(&mut out, value);
        assert_eq!(out, bytes, "{value}");
        assert_eq!(sol::read_compact_u16(&bytes).unwrap(), (value, bytes.len()));
    }
    assert_eq!(
        sol::read_compact_u16(&[0x80, 0x00]),
        Err(SolanaError::CompactU16NonCanonical(0))
    );
    assert_eq!(
        sol::read_compact_u16(&[0xff, 0xff, 0x04]),
        Err(SolanaError::CompactU16Overflow(0))
    );
    assert_eq!(
        sol::read_compact_u16(&[0x80, 0x80, 0x80, 0x01]),
        Err(SolanaError::CompactU16Overflow(0))
    );
    assert!(matches!(
        sol::read_compact_u16(&[0x80]),
        Err(SolanaError::UnexpectedEnd { .. })
    ));
}

#[test]
fn malformed_transactions_say_what_is_wrong() {
    let bytes = b64(LEGACY_USDT);
    let mut trailing = bytes.clone();
    trailing.push(0);
    assert_eq!(
        SolanaTransaction::deserialize(&trailing).unwrap_err(),
        SolanaError::TrailingBytes(1)
    );
    assert!(matches!(
        SolanaTransaction::deserialize(&bytes[..bytes.len() - 1]).unwrap_err(),
        SolanaError::UnexpectedEnd { .. }
    ));
    // Drop one signature: the count no longer matches the header.
    let mut one_signature = vec![1u8];
    one_signature.extend_from_slice(&bytes[1..65]);
    one_signature.extend_from_slice(&bytes[129..]);
    assert_eq!(
        SolanaTransaction::deserialize(&one_signature).unwrap_err(),
        SolanaError::SignatureCount {
            required: 2,
            found: 1
        }
    );
    // Version 1 messages are not supported.
    let v0 = b64(V0_SOLSCAN);
    let mut v1 = v0.clone();
    v1[65] = 0x81;
    assert_eq!(
        SolanaTransaction::deserialize(&v1).unwrap_err(),
        SolanaError::UnsupportedVersion(1)
    );
    assert!(matches!(
        sol::address(&[0u8; 31]),
        Err(SolanaError::KeyLength(31))
    ));
    assert!("not-base58!".parse::<Pubkey>().is_err());
    assert!("1111".parse::<Pubkey>().is_err());
}
