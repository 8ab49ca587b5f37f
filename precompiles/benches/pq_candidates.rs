//! The post-quantum candidates compared on verify speed, each verifying the same signature
//! through the external (pure, empty context) interface: RustCrypto `ml-dsa` (chosen),
//! integritychain `fips204`, PQClean via `pqcrypto-mldsa`; RustCrypto `slh-dsa` (chosen) and
//! integritychain `fips205`. `cargo bench -p thresig-precompiles --bench pq_candidates`.

use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use fips204::traits::{SerDes as _, Signer as _, Verifier as _};
use fips205::traits::{SerDes as _, Signer as _, Verifier as _};
use pqcrypto_traits::sign::{DetachedSignature as _, PublicKey as _};
use thresig_precompiles::Interface;
use thresig_precompiles::ml_dsa::{self, MlDsaParameterSet};
use thresig_precompiles::slh_dsa::{self, SlhDsaParameterSet};

const MESSAGE: &[u8] = &[0x5a; 32];

macro_rules! compare_ml_dsa {
    ($c:expr, $fips:ident, $pqclean:ident, $set:expr) => {{
        let (public_key, private_key) = fips204::$fips::try_keygen().unwrap();
        let signature = private_key.try_sign(MESSAGE, b"").unwrap();
        let key_bytes = public_key.clone().into_bytes();
        let pq_key = pqcrypto_mldsa::$pqclean::PublicKey::from_bytes(&key_bytes).unwrap();
        let pq_signature =
            pqcrypto_mldsa::$pqclean::DetachedSignature::from_bytes(&signature).unwrap();
        let mut group = $c.benchmark_group(format!("{}-verify", $set.name()));
        group
            .sample_size(20)
            .warm_up_time(Duration::from_millis(300))
            .measurement_time(Duration::from_secs(2));
        group.bench_function("rustcrypto-ml-dsa", |b| {
            b.iter(|| {
                ml_dsa::verify(
                    $set,
                    &key_bytes,
                    MESSAGE,
                    &signature,
                    Interface::PURE_EMPTY_CONTEXT,
                )
                .unwrap()
            })
        });
        group.bench_function("fips204", |b| {
            b.iter(|| {
                let key = fips204::$fips::PublicKey::try_from_bytes(key_bytes).unwrap();
                key.verify(MESSAGE, &signature, b"")
            })
        });
        group.bench_function("pqclean", |b| {
            b.iter(|| {
                pqcrypto_mldsa::$pqclean::verify_detached_signature(&pq_signature, MESSAGE, &pq_key)
                    .is_ok()
            })
        });
        group.finish();
    }};
}

macro_rules! compare_slh_dsa {
    ($c:expr, $fips:ident, $set:expr) => {{
        let (public_key, private_key) = fips205::$fips::try_keygen().unwrap();
        let signature = private_key.try_sign(MESSAGE, b"", true).unwrap();
        let key_bytes = public_key.clone().into_bytes();
        let mut group = $c.benchmark_group(format!("{}-verify", $set.name()));
        group
            .sample_size(10)
            .warm_up_time(Duration::from_millis(300))
            .measurement_time(Duration::from_secs(2));
        group.bench_function("rustcrypto-slh-dsa", |b| {
            b.iter(|| {
                slh_dsa::verify(
                    $set,
                    &key_bytes,
                    MESSAGE,
                    &signature,
                    Interface::PURE_EMPTY_CONTEXT,
                )
                .unwrap()
            })
        });
        group.bench_function("fips205", |b| {
            b.iter(|| {
                let key = fips205::$fips::PublicKey::try_from_bytes(key_bytes).unwrap();
                key.verify(MESSAGE, &signature, b"")
            })
        });
        group.finish();
    }};
}

fn candidates(c: &mut Criterion) {
    compare_ml_dsa!(c, ml_dsa_44, mldsa44, MlDsaParameterSet::MlDsa44);
    compare_ml_dsa!(c, ml_dsa_65, mldsa65, MlDsaParameterSet::MlDsa65);
    compare_ml_dsa!(c, ml_dsa_87, mldsa87, MlDsaParameterSet::MlDsa87);
    compare_slh_dsa!(c, slh_dsa_sha2_128s, SlhDsaParameterSet::Sha2_128s);
    compare_slh_dsa!(c, slh_dsa_sha2_256f, SlhDsaParameterSet::Sha2_256f);
    compare_slh_dsa!(c, slh_dsa_shake_128f, SlhDsaParameterSet::Shake128f);
    compare_slh_dsa!(c, slh_dsa_shake_256f, SlhDsaParameterSet::Shake256f);
}

criterion_group!(benches, candidates);
criterion_main!(benches);
