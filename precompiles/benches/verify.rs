//! Verify speed of every scheme through the shared verification function, as the precompiles,
//! the CLI and the sidecar call it. `cargo bench -p thresig-precompiles --bench verify`.

use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use ed25519_dalek::Signer as _;
use fips204::traits::{SerDes as _, Signer as _};
use fips205::traits::{SerDes as _, Signer as _};
use thresig_precompiles::ml_dsa::MlDsaParameterSet;
use thresig_precompiles::slh_dsa::SlhDsaParameterSet;
use thresig_precompiles::{Scheme, VerifyRequest, verify};

struct Signed {
    scheme: Scheme,
    public_key: Vec<u8>,
    message: Vec<u8>,
    signature: Vec<u8>,
}

fn classical() -> Vec<Signed> {
    let secp = secp256k1::Secp256k1::new();
    let secret = [0x42u8; 32];
    let hash = [0x17u8; 32];
    let keypair = secp256k1::Keypair::from_seckey_byte_array(&secp, secret).unwrap();
    let schnorr = secp.sign_schnorr_no_aux_rand(&hash, &keypair);
    let secret_key = secp256k1::SecretKey::from_byte_array(secret).unwrap();
    let (recovery_id, rs) = secp
        .sign_ecdsa_recoverable(secp256k1::Message::from_digest(hash), &secret_key)
        .serialize_compact();
    let mut ecdsa = rs.to_vec();
    ecdsa.push(i32::from(recovery_id) as u8);
    let ed_key = ed25519_dalek::SigningKey::from_bytes(&secret);
    vec![
        Signed {
            scheme: Scheme::Bip340,
            public_key: keypair.x_only_public_key().0.serialize().to_vec(),
            message: hash.to_vec(),
            signature: schnorr.to_byte_array().to_vec(),
        },
        Signed {
            scheme: Scheme::Ed25519,
            public_key: ed_key.verifying_key().to_bytes().to_vec(),
            message: hash.to_vec(),
            signature: ed_key.sign(&hash).to_bytes().to_vec(),
        },
        Signed {
            scheme: Scheme::EcdsaSecp256k1,
            public_key: secp256k1::PublicKey::from_secret_key(&secp, &secret_key)
                .serialize()
                .to_vec(),
            message: hash.to_vec(),
            signature: ecdsa,
        },
    ]
}

macro_rules! ml_dsa {
    ($module:ident, $set:expr) => {{
        let (public_key, private_key) = fips204::$module::try_keygen().unwrap();
        let message = vec![0x5a; 32];
        let signature = private_key.try_sign(&message, b"").unwrap().to_vec();
        Signed {
            scheme: Scheme::MlDsa($set),
            public_key: public_key.into_bytes().to_vec(),
            message,
            signature,
        }
    }};
}

macro_rules! slh_dsa {
    ($module:ident, $set:expr) => {{
        let (public_key, private_key) = fips205::$module::try_keygen().unwrap();
        let message = vec![0x5a; 32];
        let signature = private_key.try_sign(&message, b"", true).unwrap().to_vec();
        Signed {
            scheme: Scheme::SlhDsa($set),
            public_key: public_key.into_bytes().to_vec(),
            message,
            signature,
        }
    }};
}

fn post_quantum() -> Vec<Signed> {
    vec![
        ml_dsa!(ml_dsa_44, MlDsaParameterSet::MlDsa44),
        ml_dsa!(ml_dsa_65, MlDsaParameterSet::MlDsa65),
        ml_dsa!(ml_dsa_87, MlDsaParameterSet::MlDsa87),
        slh_dsa!(slh_dsa_sha2_128s, SlhDsaParameterSet::Sha2_128s),
        slh_dsa!(slh_dsa_sha2_128f, SlhDsaParameterSet::Sha2_128f),
        slh_dsa!(slh_dsa_sha2_192s, SlhDsaParameterSet::Sha2_192s),
        slh_dsa!(slh_dsa_sha2_192f, SlhDsaParameterSet::Sha2_192f),
        slh_dsa!(slh_dsa_sha2_256s, SlhDsaParameterSet::Sha2_256s),
        slh_dsa!(slh_dsa_sha2_256f, SlhDsaParameterSet::Sha2_256f),
        slh_dsa!(slh_dsa_shake_128s, SlhDsaParameterSet::Shake128s),
        slh_dsa!(slh_dsa_shake_128f, SlhDsaParameterSet::Shake128f),
        slh_dsa!(slh_dsa_shake_192s, SlhDsaParameterSet::Shake192s),
        slh_dsa!(slh_dsa_shake_192f, SlhDsaParameterSet::Shake192f),
        slh_dsa!(slh_dsa_shake_256s, SlhDsaParameterSet::Shake256s),
        slh_dsa!(slh_dsa_shake_256f, SlhDsaParameterSet::Shake256f),
    ]
}

fn bench_verify(c: &mut Criterion) {
    let mut group = c.benchmark_group("verify");
    group
        .sample_size(20)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(2));
    for signed in classical().into_iter().chain(post_quantum()) {
        let request = VerifyRequest {
            scheme: signed.scheme,
            public_key: &signed.public_key,
            message: &signed.message,
            signature: &signed.signature,
            context: None,
            internal: false,
        };
        assert_eq!(
            verify(&request),
            Ok(true),
            "{} benchmark signature is valid",
            signed.scheme
        );
        group.bench_function(signed.scheme.name(), |b| {
            b.iter(|| verify(std::hint::black_box(&request)))
        });
    }
    group.finish();
}

criterion_group!(benches, bench_verify);
criterion_main!(benches);
