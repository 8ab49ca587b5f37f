//! The cluster's certificate authority and the mutual-TLS configurations built on it.
//!
//! Nodes accept only client certificates issued by the cluster CA; coordinators accept only node
//! certificates issued by it. The CA key stays in the cluster directory (for a devnet) or
//! offline (in production): only its certificate is needed to run.

use std::sync::Arc;

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, SanType,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, pem::PemObject};
use rustls::server::WebPkiClientVerifier;
use rustls::{ClientConfig, RootCertStore, ServerConfig};
use thiserror::Error;

/// Certificates could not be made or loaded.
#[derive(Debug, Error)]
pub enum PkiError {
    /// rcgen failed.
    #[error("certificate generation: {0}")]
    Generate(#[from] rcgen::Error),
    /// A PEM file did not parse.
    #[error("{what}: {reason}")]
    Pem {
        /// Which file.
        what: String,
        /// The parser's complaint.
        reason: String,
    },
    /// rustls refused the configuration.
    #[error("TLS configuration: {0}")]
    Tls(String),
}

/// A PEM certificate and its PEM private key.
#[derive(Clone)]
pub struct CertifiedKey {
    /// The certificate, PEM.
    pub cert_pem: String,
    /// The private key, PEM (PKCS#8).
    pub key_pem: String,
}

impl std::fmt::Debug for CertifiedKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CertifiedKey")
            .field("cert_pem", &self.cert_pem)
            .finish_non_exhaustive()
    }
}

fn ca_params() -> Result<CertificateParams, PkiError> {
    let mut params = CertificateParams::new(Vec::<String>::new())?;
    let mut name = DistinguishedName::new();
    name.push(DnType::CommonName, "thresig cluster CA");
    params.distinguished_name = name;
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    Ok(params)
}

/// Creates a new cluster CA.
pub fn generate_ca() -> Result<CertifiedKey, PkiError> {
    let key = KeyPair::generate()?;
    let cert = ca_params()?.self_signed(&key)?;
    Ok(CertifiedKey {
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
    })
}

/// What a coordinator may ask the nodes to do; written into its certificate, enforced by
/// every node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CoordinatorRole {
    /// Create and derive wallets; never sign.
    Address,
    /// Sign with existing wallets; never create them.
    Signing,
    /// Both.
    All,
}

/// The URI prefix of the subject alternative name that carries a coordinator's role.
const ROLE_URI_PREFIX: &str = "urn:thresig:coordinator-role:";

impl CoordinatorRole {
    /// Every role.
    pub const ALL: [CoordinatorRole; 3] = [
        CoordinatorRole::Address,
        CoordinatorRole::Signing,
        CoordinatorRole::All,
    ];

    /// The role's name: `address`, `signing` or `all`.
    pub fn name(self) -> &'static str {
        match self {
            CoordinatorRole::Address => "address",
            CoordinatorRole::Signing => "signing",
            CoordinatorRole::All => "all",
        }
    }

    /// Whether the role may run DKGs (create and derive wallets).
    pub fn may_create(self) -> bool {
        matches!(self, CoordinatorRole::Address | CoordinatorRole::All)
    }

    /// Whether the role may run signing sessions.
    pub fn may_sign(self) -> bool {
        matches!(self, CoordinatorRole::Signing | CoordinatorRole::All)
    }
}

impl std::str::FromStr for CoordinatorRole {
    type Err = String;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|role| role.name() == name)
            .ok_or_else(|| format!("unknown coordinator role {name:?} (address, signing or all)"))
    }
}

/// What a leaf certificate is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// A signer node: a TLS server for coordinators.
    Node,
    /// A coordinator with its role: a TLS client of the nodes.
    Coordinator(CoordinatorRole),
}

/// The coordinator role a certificate (DER) carries, if any. Nodes read it from the verified
/// client certificate of each connection; a certificate with no role, or with more than one,
/// gets none.
pub fn coordinator_role(cert_der: &[u8]) -> Option<CoordinatorRole> {
    let (_, cert) = x509_parser::parse_x509_certificate(cert_der).ok()?;
    let names = cert.subject_alternative_name().ok()??;
    let mut roles = names
        .value
        .general_names
        .iter()
        .filter_map(|name| match name {
            x509_parser::extensions::GeneralName::URI(uri) => uri.strip_prefix(ROLE_URI_PREFIX),
            _ => None,
        });
    let role = roles.next()?.parse().ok()?;
    roles.next().is_none().then_some(role)
}

/// The coordinator role of a PEM certificate, if any.
pub fn coordinator_role_of_pem(cert_pem: &str) -> Option<CoordinatorRole> {
    let der = CertificateDer::from_pem_slice(cert_pem.as_bytes()).ok()?;
    coordinator_role(&der)
}

/// Issues a leaf certificate for `name` (a node id or `coordinator`) valid for 127.0.0.1 and
/// localhost.
pub fn issue(ca: &CertifiedKey, name: &str, role: Role) -> Result<CertifiedKey, PkiError> {
    let ca_key = KeyPair::from_pem(&ca.key_pem)?;
    let issuer = Issuer::new(ca_params()?, ca_key);
    let mut params = CertificateParams::new(vec!["localhost".to_owned(), name.to_owned()])?;
    params
        .subject_alt_names
        .push(SanType::IpAddress(std::net::IpAddr::from([127, 0, 0, 1])));
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, name);
    params.distinguished_name = dn;
    params.extended_key_usages = match role {
        Role::Node => vec![ExtendedKeyUsagePurpose::ServerAuth],
        Role::Coordinator(_) => vec![ExtendedKeyUsagePurpose::ClientAuth],
    };
    if let Role::Coordinator(role) = role {
        params.subject_alt_names.push(SanType::URI(
            format!("{ROLE_URI_PREFIX}{}", role.name()).try_into()?,
        ));
    }
    let key = KeyPair::generate()?;
    let cert = params.signed_by(&key, &issuer)?;
    Ok(CertifiedKey {
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
    })
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn roots(ca_pem: &str) -> Result<RootCertStore, PkiError> {
    let mut roots = RootCertStore::empty();
    let ca = CertificateDer::from_pem_slice(ca_pem.as_bytes()).map_err(|error| PkiError::Pem {
        what: "CA certificate".into(),
        reason: error.to_string(),
    })?;
    roots
        .add(ca)
        .map_err(|error| PkiError::Tls(error.to_string()))?;
    Ok(roots)
}

fn chain_and_key(
    leaf: &CertifiedKey,
) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>), PkiError> {
    let cert = CertificateDer::from_pem_slice(leaf.cert_pem.as_bytes()).map_err(|error| {
        PkiError::Pem {
            what: "certificate".into(),
            reason: error.to_string(),
        }
    })?;
    let key =
        PrivateKeyDer::from_pem_slice(leaf.key_pem.as_bytes()).map_err(|error| PkiError::Pem {
            what: "private key".into(),
            reason: error.to_string(),
        })?;
    Ok((vec![cert], key))
}

/// A node's TLS server configuration: its certificate, and client certificates required from
/// the cluster CA.
pub fn node_server_config(
    ca_pem: &str,
    node: &CertifiedKey,
) -> Result<Arc<ServerConfig>, PkiError> {
    let verifier =
        WebPkiClientVerifier::builder_with_provider(Arc::new(roots(ca_pem)?), provider())
            .build()
            .map_err(|error| PkiError::Tls(error.to_string()))?;
    let (chain, key) = chain_and_key(node)?;
    let config = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|error| PkiError::Tls(error.to_string()))?
        .with_client_cert_verifier(verifier)
        .with_single_cert(chain, key)
        .map_err(|error| PkiError::Tls(error.to_string()))?;
    Ok(Arc::new(config))
}

/// A coordinator's TLS client configuration: trust only the cluster CA, present its own
/// certificate.
pub fn coordinator_client_config(
    ca_pem: &str,
    coordinator: &CertifiedKey,
) -> Result<ClientConfig, PkiError> {
    let (chain, key) = chain_and_key(coordinator)?;
    ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|error| PkiError::Tls(error.to_string()))?
        .with_root_certificates(roots(ca_pem)?)
        .with_client_auth_cert(chain, key)
        .map_err(|error| PkiError::Tls(error.to_string()))
}
