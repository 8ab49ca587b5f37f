//! The cryptography as drivers, with no HTTP and no storage: FROST (DKG, signing, the DKG's
//! encrypted shares) and CGGMP21 (aux info, keygen, presigning, signing, primes).

pub mod cggmp;
pub mod frost;
