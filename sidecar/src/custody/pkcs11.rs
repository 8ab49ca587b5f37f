//! The `pkcs11` key provider: a node's root secret is a non-extractable HMAC-SHA256 key inside
//! a PKCS#11 token (a hardware security module, or SoftHSM2 on a devnet), reached through the
//! `cryptoki` crate. The token computes the HMAC; HKDF on its output happens in software, so a
//! stolen disk holds nothing that decrypts without the token and its PIN.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::error::{Error as CryptokiError, RvError};
use cryptoki::mechanism::Mechanism;
use cryptoki::object::{Attribute, KeyType, ObjectClass, ObjectHandle};
use cryptoki::session::{Session, UserType};
use cryptoki::slot::Slot;
use cryptoki::types::AuthPin;
use zeroize::Zeroizing;

use crate::custody::key_provider::{KeyProvider, KeyProviderError, SecretKey};

/// Where SoftHSM2's module is installed by Debian and other distributions.
pub const SOFTHSM2_MODULES: &[&str] = &[
    "/usr/lib/softhsm/libsofthsm2.so",
    "/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so",
    "/usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so",
    "/usr/local/lib/softhsm/libsofthsm2.so",
];

/// The first SoftHSM2 module found on this machine.
pub fn find_softhsm2_module() -> Option<PathBuf> {
    SOFTHSM2_MODULES
        .iter()
        .map(PathBuf::from)
        .find(|path| path.exists())
}

/// Which token and key a node uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pkcs11Config {
    /// The PKCS#11 module (shared library).
    pub module: PathBuf,
    /// The label of the node's token.
    pub token_label: String,
    /// The label of the HMAC key in the token.
    pub key_label: String,
}

/// What to do when the token has no key of the configured label.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MissingKey {
    /// Refuse: a node that already holds wallets must never silently get a new root key.
    Refuse,
    /// Generate it in the token (initialising a node).
    Generate,
}

/// A node's root secret in a PKCS#11 token.
pub struct Pkcs11KeyProvider {
    /// One logged-in session; PKCS#11 sessions may not be used from two threads at once.
    session: Mutex<Session>,
    key: ObjectHandle,
    token_label: String,
    // Kept so the library stays loaded and initialised while the session lives.
    _context: Pkcs11,
}

impl std::fmt::Debug for Pkcs11KeyProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Pkcs11KeyProvider {{ token: {:?} }}", self.token_label)
    }
}

fn pkcs11_error(operation: &str, error: CryptokiError) -> KeyProviderError {
    KeyProviderError::Pkcs11 {
        operation: operation.to_owned(),
        reason: error.to_string(),
    }
}

fn load(module: &Path) -> Result<Pkcs11, KeyProviderError> {
    let shown = module.display().to_string();
    if !module.exists() {
        return Err(KeyProviderError::Pkcs11Module {
            module: shown,
            reason: "no such file".into(),
        });
    }
    let context = Pkcs11::new(module).map_err(|error| KeyProviderError::Pkcs11Module {
        module: shown.clone(),
        reason: error.to_string(),
    })?;
    context
        .initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK))
        .map_err(|error| KeyProviderError::Pkcs11Module {
            module: shown,
            reason: format!("C_Initialize: {error}"),
        })?;
    Ok(context)
}

/// The slot holding the initialised token labelled `label`.
fn find_token(context: &Pkcs11, module: &Path, label: &str) -> Result<Slot, KeyProviderError> {
    let slots = context
        .get_slots_with_initialized_token()
        .map_err(|error| pkcs11_error("listing slots", error))?;
    let mut labels = Vec::new();
    for slot in slots {
        let info = context
            .get_token_info(slot)
            .map_err(|error| pkcs11_error("reading token info", error))?;
        if info.label().trim_end() == label {
            return Ok(slot);
        }
        labels.push(info.label().trim_end().to_owned());
    }
    Err(KeyProviderError::MissingToken {
        label: label.to_owned(),
        module: module.display().to_string(),
        present: labels,
    })
}

fn login(session: &Session, token_label: &str, pin: &str) -> Result<(), KeyProviderError> {
    match session.login(UserType::User, Some(&AuthPin::from(pin))) {
        Ok(()) => Ok(()),
        Err(CryptokiError::Pkcs11(RvError::PinIncorrect | RvError::PinLenRange, _)) => {
            Err(KeyProviderError::WrongPin(token_label.to_owned()))
        }
        Err(CryptokiError::Pkcs11(RvError::PinLocked, _)) => Err(KeyProviderError::Pkcs11 {
            operation: format!("logging in to token {token_label}"),
            reason: "the user PIN is locked after too many wrong attempts".into(),
        }),
        Err(error) => Err(pkcs11_error(
            &format!("logging in to token {token_label}"),
            error,
        )),
    }
}

/// Initialises a free token of `module` as `label`, with `user_pin` as its user PIN, all
/// through PKCS#11, so that no PIN is ever on a command line. The security officer's PIN is
/// random and forgotten when this returns: meant for devnet tokens, which no one administers
/// later. A token labelled `label` must not exist yet. The module is finalised before this
/// returns, so the caller may load it again.
pub fn init_free_token(module: &Path, label: &str, user_pin: &str) -> Result<(), KeyProviderError> {
    let refused = |reason: String| KeyProviderError::Pkcs11 {
        operation: format!("initialising token {label}"),
        reason,
    };
    // PKCS#11 labels are 32 bytes: a longer one would be cut, and then never found again.
    if label.is_empty() || label.len() > 32 {
        return Err(refused(format!(
            "a token label is 1 to 32 bytes, this one is {}",
            label.len()
        )));
    }
    let context = load(module)?;
    let result = init_token_in(&context, module, label, user_pin, refused);
    let finalized = context
        .finalize()
        .map_err(|error| pkcs11_error("finalising the module", error));
    result.and(finalized)
}

fn init_token_in(
    context: &Pkcs11,
    module: &Path,
    label: &str,
    user_pin: &str,
    refused: impl Fn(String) -> KeyProviderError,
) -> Result<(), KeyProviderError> {
    match find_token(context, module, label) {
        Err(KeyProviderError::MissingToken { .. }) => {}
        Ok(_) => {
            return Err(refused(
                "a token with this label exists already (a devnet whose set-up failed part-way: \
                 delete its data directory and start again)"
                    .into(),
            ));
        }
        Err(error) => return Err(error),
    }
    let slots = context
        .get_slots_with_token()
        .map_err(|error| pkcs11_error("listing slots", error))?;
    let free = slots
        .into_iter()
        .find(|slot| {
            context
                .get_token_info(*slot)
                .is_ok_and(|info| !info.token_initialized())
        })
        .ok_or_else(|| {
            refused(format!(
                "{} offers no uninitialised token",
                module.display()
            ))
        })?;
    let mut random = Zeroizing::new([0u8; 16]);
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, random.as_mut_slice());
    let so_pin = AuthPin::from(hex::encode(random.as_slice()));
    context
        .init_token(free, &so_pin, label)
        .map_err(|error| pkcs11_error(&format!("initialising token {label}"), error))?;
    // SoftHSM2 moves a token it initialises to a new slot: look it up by its label again.
    let slot = find_token(context, module, label)?;
    let session = context
        .open_rw_session(slot)
        .map_err(|error| pkcs11_error("opening a session", error))?;
    session
        .login(UserType::So, Some(&so_pin))
        .map_err(|error| pkcs11_error(&format!("logging in to token {label} as SO"), error))?;
    session
        .init_pin(&AuthPin::from(user_pin))
        .map_err(|error| pkcs11_error(&format!("setting the user PIN of token {label}"), error))?;
    session
        .logout()
        .map_err(|error| pkcs11_error(&format!("logging out of token {label}"), error))
}

/// The attributes of the root key: a 256-bit generic secret that signs (HMAC) and never
/// leaves the token.
fn root_key_template(label: &str) -> Vec<Attribute> {
    vec![
        Attribute::Class(ObjectClass::SECRET_KEY),
        Attribute::KeyType(KeyType::GENERIC_SECRET),
        Attribute::ValueLen(32.into()),
        Attribute::Label(label.as_bytes().to_vec()),
        Attribute::Token(true),
        Attribute::Private(true),
        Attribute::Sensitive(true),
        Attribute::Extractable(false),
        Attribute::Sign(true),
        Attribute::Verify(true),
    ]
}

impl Pkcs11KeyProvider {
    /// Opens the token of `config` with `pin` and finds the root key, generating it when
    /// absent only if `missing` says so. Each failure says which part is wrong: the module,
    /// the token (and the labels present), the PIN, or the key.
    pub fn open(
        config: &Pkcs11Config,
        pin: &str,
        missing: MissingKey,
    ) -> Result<Self, KeyProviderError> {
        let context = load(&config.module)?;
        let slot = find_token(&context, &config.module, &config.token_label)?;
        let session = context
            .open_rw_session(slot)
            .map_err(|error| pkcs11_error("opening a session", error))?;
        login(&session, &config.token_label, pin)?;
        let search = [
            Attribute::Class(ObjectClass::SECRET_KEY),
            Attribute::Label(config.key_label.as_bytes().to_vec()),
        ];
        let found = session
            .find_objects(&search)
            .map_err(|error| pkcs11_error("finding the root key", error))?;
        let key = match (found.as_slice(), missing) {
            ([key], _) => *key,
            ([], MissingKey::Generate) => session
                .generate_key(
                    &Mechanism::GenericSecretKeyGen,
                    &root_key_template(&config.key_label),
                )
                .map_err(|error| pkcs11_error("generating the root key", error))?,
            ([], MissingKey::Refuse) => {
                return Err(KeyProviderError::MissingKey {
                    label: config.key_label.clone(),
                    token: config.token_label.clone(),
                });
            }
            (several, _) => {
                return Err(KeyProviderError::Pkcs11 {
                    operation: "finding the root key".into(),
                    reason: format!(
                        "token {} holds {} keys labelled {:?}; exactly one is expected",
                        config.token_label,
                        several.len(),
                        config.key_label
                    ),
                });
            }
        };
        Ok(Self {
            session: Mutex::new(session),
            key,
            token_label: config.token_label.clone(),
            _context: context,
        })
    }
}

impl KeyProvider for Pkcs11KeyProvider {
    fn hmac_sha256(&self, data: &[u8]) -> Result<SecretKey, KeyProviderError> {
        let session = self.session.lock().map_err(|_| KeyProviderError::Pkcs11 {
            operation: "HMAC".into(),
            reason: "the session lock is poisoned".into(),
        })?;
        let mac = Zeroizing::new(
            session
                .sign(&Mechanism::Sha256Hmac, self.key, data)
                .map_err(|error| pkcs11_error("computing an HMAC in the token", error))?,
        );
        let bytes: [u8; 32] = mac
            .as_slice()
            .try_into()
            .map_err(|_| KeyProviderError::Pkcs11 {
                operation: "HMAC".into(),
                reason: format!("the token returned {} bytes, not 32", mac.len()),
            })?;
        Ok(Zeroizing::new(bytes))
    }
}
