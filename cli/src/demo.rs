//! `thresig demo`: the main job. Starts a devnet on embedded defaults, creates a Taproot and an
//! Ed25519 wallet by DKG, signs a Taproot PSBT and a Solana transfer through
//! `thresig_signTransaction`, deploys BridgeVault into revm with thresig's precompiles and
//! executes a withdrawal the cluster signed, checks every signature again here, prints each step
//! with its time, stops the cluster, and exits 0 only if every step verified.

use std::path::PathBuf;
use std::process::ExitCode;
use std::str::FromStr;
use std::time::{Duration, Instant};

use alloy_primitives::U256;
use base64::Engine;
use bitcoin::absolute::LockTime;
use bitcoin::hashes::Hash;
use bitcoin::psbt::PsbtSighashType;
use bitcoin::sighash::{Prevouts, SighashCache};
use bitcoin::transaction::Version;
use bitcoin::{
    Address, Amount, Network, OutPoint, Psbt, ScriptBuf, Sequence, TapSighashType, Transaction,
    TxIn, TxOut, Txid, Witness,
};
use clap::Args;
use serde_json::{Value, json};
use thresig_adapters::solana::{self as sol, Pubkey, SolanaTransaction};
use thresig_contracts::Chain;
use thresig_contracts::bindings::BridgeVault::BridgeVaultErrors;
use thresig_contracts::eip712::{self, Withdraw};
use thresig_sidecar::api::client::RpcClient;
use thresig_sidecar::cluster::client_auth::ClientKey;
use thresig_sidecar::cluster::layout::ClusterLayout;
use thresig_sidecar::run::devnet::{self, DevnetOptions, HsmChoice};

/// Arguments of `thresig demo`.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Number of signer nodes.
    #[arg(long, default_value_t = 3)]
    nodes: u16,
    /// Signatures need this many nodes.
    #[arg(long, default_value_t = 2)]
    threshold: u16,
    /// The cluster directory (default: a new temporary directory, removed afterwards).
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Keep the cluster directory afterwards.
    #[arg(long)]
    keep: bool,
}

/// Runs `thresig demo`.
pub fn demo(args: DemoArgs) -> ExitCode {
    thresig_sidecar::install_crypto_provider();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: starting the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    let (dir, temporary) = match &args.data_dir {
        Some(dir) => (dir.clone(), false),
        None => (
            std::env::temp_dir().join(format!(
                "thresig-demo-{}-{:08x}",
                std::process::id(),
                rand::random::<u32>()
            )),
            true,
        ),
    };
    let outcome = runtime.block_on(run(&args, dir.clone()));
    if temporary && !args.keep {
        let _ = std::fs::remove_dir_all(&dir);
    }
    match outcome {
        Ok(()) => {
            println!("demo: every step verified");
            ExitCode::SUCCESS
        }
        Err(error) => {
            println!("demo: FAILED: {error}");
            ExitCode::FAILURE
        }
    }
}

/// Prints one finished step.
fn step(number: usize, title: &str, started: Instant, detail: &str) {
    let millis = started.elapsed().as_secs_f64() * 1e3;
    println!("  ok  {number}. {title:<58} {millis:>8.1} ms  {detail}");
}

async fn run(args: &DemoArgs, dir: PathBuf) -> Result<(), String> {
    let executable = std::env::current_exe()
        .map_err(|error| format!("finding the thresig executable: {error}"))?;
    println!(
        "thresig demo: a {}-of-{} signer cluster on this machine ({})",
        args.threshold,
        args.nodes,
        dir.display()
    );

    let started = Instant::now();
    let options = DevnetOptions {
        nodes: args.nodes,
        threshold: args.threshold,
        data_dir: dir,
        // Any free port: the demo talks to the cluster through `cluster.url()`.
        port: 0,
        network: "regtest".to_owned(),
        executable,
        hsm: HsmChoice::File,
        cggmp21_primes: None,
        // The demo shows FROST; its nodes need not spend minutes finding primes.
        cggmp21: false,
        presignature_pool: thresig_sidecar::coordinator::DEFAULT_PRESIGNATURE_POOL,
    };
    let cluster = devnet::start(&options)
        .await
        .map_err(|error| format!("starting the cluster: {error}"))?;
    step(
        1,
        &format!(
            "cluster up: {} node processes + coordinator, mutual TLS",
            args.nodes
        ),
        started,
        &cluster.url(),
    );
    let client_key = ClientKey::load(&ClusterLayout::new(cluster.data_dir()).client_key())?;
    let client = RpcClient::new(cluster.url(), Duration::from_secs(60))
        .map_err(|error| error.to_string())?
        .with_client_key(client_key);

    let started = Instant::now();
    let taproot = call(
        &client,
        "thresig_createWallet",
        json!({ "scheme": "frost-secp256k1-tr" }),
    )
    .await?;
    let taproot_address = text(&taproot["addresses"]["bitcoin"], "addresses.bitcoin")?;
    step(
        2,
        "Taproot wallet (frost-secp256k1-tr) created by DKG",
        started,
        taproot_address,
    );

    let started = Instant::now();
    let ed25519 = call(
        &client,
        "thresig_createWallet",
        json!({ "scheme": "frost-ed25519" }),
    )
    .await?;
    let solana_address = text(&ed25519["addresses"]["solana"], "addresses.solana")?;
    step(
        3,
        "Ed25519 wallet (frost-ed25519) created by DKG",
        started,
        solana_address,
    );

    let started = Instant::now();
    let txid = sign_psbt(&client, &taproot).await?;
    step(
        4,
        "Taproot PSBT (2 inputs) signed, every input checked",
        started,
        &format!("txid {txid}"),
    );

    let started = Instant::now();
    let signature = sign_solana_transfer(&client, &ed25519).await?;
    step(
        5,
        "Solana transfer signed, signature checked",
        started,
        &format!("signature {}…", &signature[..16.min(signature.len())]),
    );

    let started = Instant::now();
    let summary = bridge_vault_withdrawal(&client, &taproot).await?;
    step(
        6,
        "BridgeVault in revm: withdrawal signed by the cluster paid",
        started,
        &summary,
    );

    let started = Instant::now();
    cluster.stop();
    step(7, "cluster stopped", started, "");
    Ok(())
}

async fn call(client: &RpcClient, method: &str, params: Value) -> Result<Value, String> {
    client
        .call(method, params)
        .await
        .map_err(|error| error.to_string())
}

fn text<'a>(value: &'a Value, what: &str) -> Result<&'a str, String> {
    value
        .as_str()
        .ok_or_else(|| format!("the answer has no {what}"))
}

/// Spends two (made-up) outputs of the wallet, one in SIGHASH_DEFAULT and one in
/// SIGHASH_ALL|ANYONECANPAY, and checks each signature of the answer against its BIP-341
/// sighash computed here with the `bitcoin` crate.
async fn sign_psbt(client: &RpcClient, wallet: &Value) -> Result<String, String> {
    let address = Address::from_str(text(&wallet["addresses"]["bitcoin"], "address")?)
        .map_err(|error| error.to_string())?
        .require_network(Network::Regtest)
        .map_err(|error| error.to_string())?;
    let ours = address.script_pubkey();
    let recipient = ScriptBuf::from_bytes([&[0x00, 0x14][..], &[0x42; 20]].concat());
    let prevouts: Vec<TxOut> = (0..2)
        .map(|_| TxOut {
            value: Amount::from_sat(50_000),
            script_pubkey: ours.clone(),
        })
        .collect();
    let unsigned = Transaction {
        version: Version::TWO,
        lock_time: LockTime::ZERO,
        input: (0u8..2)
            .map(|index| TxIn {
                previous_output: OutPoint {
                    txid: Txid::from_byte_array([index + 1; 32]),
                    vout: 0,
                },
                script_sig: ScriptBuf::new(),
                sequence: Sequence::ENABLE_RBF_NO_LOCKTIME,
                witness: Witness::new(),
            })
            .collect(),
        output: vec![
            TxOut {
                value: Amount::from_sat(80_000),
                script_pubkey: recipient,
            },
            TxOut {
                value: Amount::from_sat(19_000),
                script_pubkey: ours.clone(),
            },
        ],
    };
    let mut psbt = Psbt::from_unsigned_tx(unsigned).map_err(|error| error.to_string())?;
    let types = [None, Some(TapSighashType::AllPlusAnyoneCanPay)];
    for ((input, prevout), ty) in psbt.inputs.iter_mut().zip(&prevouts).zip(types) {
        input.witness_utxo = Some(prevout.clone());
        input.sighash_type = ty.map(PsbtSighashType::from);
    }
    let answer = call(
        client,
        "thresig_signTransaction",
        json!({
            "walletId": wallet["walletId"],
            "chain": "bitcoin",
            "transaction": psbt.to_string(),
            // Input 1 signs ALL|ANYONECANPAY, which leaves other inputs open.
            "allowPartialSighash": true,
        }),
    )
    .await?;
    let raw = hex::decode(text(&answer["signedTransaction"], "signedTransaction")?)
        .map_err(|error| format!("signedTransaction: {error}"))?;
    let tx: Transaction = bitcoin::consensus::deserialize(&raw)
        .map_err(|error| format!("signedTransaction does not decode: {error}"))?;
    let output_key = &ours.as_bytes()[2..34];
    let mut cache = SighashCache::new(&tx);
    for (index, ty) in types.iter().enumerate() {
        let item = tx.input[index]
            .witness
            .nth(0)
            .ok_or_else(|| format!("input {index} has no witness"))?;
        let sighash = cache
            .taproot_key_spend_signature_hash(
                index,
                &Prevouts::All(&prevouts),
                ty.unwrap_or(TapSighashType::Default),
            )
            .map_err(|error| error.to_string())?;
        let valid = item.len() == 64 + usize::from(ty.is_some())
            && thresig_precompiles::bip340::verify(
                output_key,
                sighash.as_byte_array(),
                &item[..64],
            )
            .unwrap_or(false);
        if !valid {
            return Err(format!("input {index}: the signature does not verify"));
        }
    }
    let txid = tx.compute_txid().to_string();
    if answer["txid"] != txid.as_str() {
        return Err(format!("txid {} is not {txid}", answer["txid"]));
    }
    Ok(txid)
}

/// Signs a 0.0015 SOL transfer from the wallet and checks the signature with ed25519-dalek
/// over the exact message bytes.
async fn sign_solana_transfer(client: &RpcClient, wallet: &Value) -> Result<String, String> {
    let from: Pubkey = text(&wallet["addresses"]["solana"], "address")?
        .parse()
        .map_err(|error: sol::SolanaError| error.to_string())?;
    let message = sol::transfer_message(from, Pubkey([9u8; 32]), 1_500_000, [3u8; 32])
        .serialize()
        .map_err(|error| error.to_string())?;
    let answer = call(
        client,
        "thresig_signTransaction",
        json!({
            "walletId": wallet["walletId"],
            "chain": "solana",
            "transaction": base64::engine::general_purpose::STANDARD.encode(&message),
        }),
    )
    .await?;
    let signed =
        SolanaTransaction::from_base64(text(&answer["signedTransaction"], "signedTransaction")?)
            .map_err(|error| format!("signedTransaction: {error}"))?;
    let key =
        ed25519_dalek::VerifyingKey::from_bytes(&from.0).map_err(|error| error.to_string())?;
    let signature = signed
        .signatures
        .first()
        .ok_or("the transaction has no signature")?;
    key.verify_strict(&message, &ed25519_dalek::Signature::from_bytes(signature))
        .map_err(|_| "the wallet's signature does not verify over the message".to_owned())?;
    Ok(bs58::encode(signature).into_string())
}

/// Deploys BridgeVault into revm (with thresig's precompiles) guarded by the Taproot wallet's
/// x-only group key and holding 10 ETH, has the cluster sign an EIP-712 withdrawal of 1.5 ETH
/// (tweak "none": the contract checks the untweaked key), executes it, checks that the balances
/// moved and that replaying it reverts.
async fn bridge_vault_withdrawal(client: &RpcClient, wallet: &Value) -> Result<String, String> {
    const ETHER: u64 = 1_000_000_000_000_000_000;
    let key: alloy_primitives::B256 = text(&wallet["publicKey"], "publicKey")?
        .parse()
        .map_err(|error| format!("publicKey: {error}"))?;
    let count = |field: &str| {
        wallet[field]
            .as_u64()
            .and_then(|value| u32::try_from(value).ok())
            .ok_or_else(|| format!("the wallet has no {field}"))
    };
    let mut chain = Chain::default();
    let funds = U256::from(10 * ETHER);
    let vault = chain
        .deploy_bridge_vault(key, count("threshold")?, count("parties")?, funds)
        .map_err(|error| error.to_string())?;
    let recipient = alloy_primitives::Address::repeat_byte(0x42);
    let amount = U256::from(3 * ETHER / 2);
    let message = Withdraw::new(
        recipient,
        amount,
        U256::from(1),
        U256::from(chain.timestamp() + 3600),
    );
    let digest = message.digest(&eip712::domain(
        eip712::BRIDGE_VAULT_NAME,
        chain.chain_id(),
        vault.address,
    ));
    let on_chain = chain
        .withdraw_digest(vault.address, &message)
        .map_err(|error| error.to_string())?;
    if on_chain != digest {
        return Err(format!(
            "the vault's EIP-712 digest {on_chain} is not {digest}"
        ));
    }
    let answer = call(
        client,
        "thresig_signMessage",
        json!({ "walletId": wallet["walletId"], "message": digest.to_string(), "tweak": "none" }),
    )
    .await?;
    let signature: alloy_primitives::Bytes = text(&answer["signature"], "signature")?
        .parse()
        .map_err(|error| format!("signature: {error}"))?;
    let paid = chain
        .withdraw(vault.address, &message, signature.clone())
        .map_err(|error| error.to_string())?;
    if !paid.success {
        return Err(format!(
            "the withdrawal reverted: {:?}",
            paid.revert::<BridgeVaultErrors>()
        ));
    }
    if chain.balance(recipient) != amount || chain.balance(vault.address) != funds - amount {
        return Err("the withdrawal did not move the balances".to_owned());
    }
    let replay = chain
        .withdraw(vault.address, &message, signature)
        .map_err(|error| error.to_string())?;
    if !matches!(
        replay.revert::<BridgeVaultErrors>(),
        Some(BridgeVaultErrors::NonceAlreadyUsed(_))
    ) {
        return Err(format!(
            "the replayed withdrawal was not refused: {replay:?}"
        ));
    }
    Ok(format!(
        "vault {}, 1.5 ETH paid, replay refused; gas: deploy {}, withdraw {}",
        vault.address, vault.gas_used, paid.gas_used
    ))
}
