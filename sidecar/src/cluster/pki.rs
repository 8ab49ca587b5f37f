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
use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime, pem::PemObject};
use rustls::server::WebPkiClientVerifier;
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, ServerConfig};
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
    pub key_pem: zeroize::Zeroizing<String>,
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
        key_pem: zeroize::Zeroizing::new(key.serialize_pem()),
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
        key_pem: zeroize::Zeroizing::new(key.serialize_pem()),
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

/// Verifies a node's server certificate against the cluster CA for the node's id, whatever
/// address the connection went to: every node certificate is valid for 127.0.0.1 and
/// localhost, so only the node id (a DNS name of the certificate) tells them apart.
#[derive(Debug)]
struct PinnedNode {
    inner: Arc<WebPkiServerVerifier>,
    node: ServerName<'static>,
}

impl ServerCertVerifier for PinnedNode {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        self.inner
            .verify_server_cert(end_entity, intermediates, &self.node, ocsp_response, now)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// A coordinator's TLS client configuration for one node: trust only the cluster CA, accept
/// only a certificate issued to `node_id` (its name in the manifest), present its own.
pub fn coordinator_client_config_for(
    ca_pem: &str,
    coordinator: &CertifiedKey,
    node_id: &str,
) -> Result<ClientConfig, PkiError> {
    let node = ServerName::try_from(node_id.to_owned()).map_err(|error| {
        PkiError::Tls(format!(
            "node id {node_id:?} cannot name a certificate: {error}"
        ))
    })?;
    let inner = WebPkiServerVerifier::builder_with_provider(Arc::new(roots(ca_pem)?), provider())
        .build()
        .map_err(|error| PkiError::Tls(error.to_string()))?;
    let (chain, key) = chain_and_key(coordinator)?;
    ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|error| PkiError::Tls(error.to_string()))?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(PinnedNode { inner, node }))
        .with_client_auth_cert(chain, key)
        .map_err(|error| PkiError::Tls(error.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn der(cert: &CertifiedKey) -> CertificateDer<'static> {
        CertificateDer::from_pem_slice(cert.cert_pem.as_bytes()).unwrap()
    }

    #[test]
    fn a_node_endpoint_accepts_only_that_nodes_certificate() {
        let ca = generate_ca().unwrap();
        let node_1 = issue(&ca, "node-1", Role::Node).unwrap();
        let node_2 = issue(&ca, "node-2", Role::Node).unwrap();
        let other_ca = generate_ca().unwrap();
        let foreign = issue(&other_ca, "node-1", Role::Node).unwrap();
        let pinned = PinnedNode {
            inner: WebPkiServerVerifier::builder_with_provider(
                Arc::new(roots(&ca.cert_pem).unwrap()),
                provider(),
            )
            .build()
            .unwrap(),
            node: ServerName::try_from("node-1".to_owned()).unwrap(),
        };
        // The connection goes to 127.0.0.1, which every node certificate names.
        let address = ServerName::try_from("127.0.0.1".to_owned()).unwrap();
        let check = |cert: &CertifiedKey| {
            pinned.verify_server_cert(&der(cert), &[], &address, &[], UnixTime::now())
        };
        check(&node_1).expect("node-1's own certificate");
        let error = check(&node_2).unwrap_err();
        assert!(
            matches!(
                error,
                rustls::Error::InvalidCertificate(rustls::CertificateError::NotValidForName)
                    | rustls::Error::InvalidCertificate(
                        rustls::CertificateError::NotValidForNameContext { .. }
                    )
            ),
            "{error:?}"
        );
        assert!(check(&foreign).is_err(), "another CA's node-1");
        coordinator_client_config_for(
            &ca.cert_pem,
            &issue(&ca, "coordinator", Role::Coordinator(CoordinatorRole::All)).unwrap(),
            "node-1",
        )
        .unwrap();
    }

    #[test]
    fn tls_private_keys_are_kept_in_zeroizing_buffers_made_and_read() {
        let ca = generate_ca().unwrap();
        let made: &zeroize::Zeroizing<String> = &ca.key_pem;
        let dir = std::env::temp_dir().join(format!("thresig-pki-{}", rand::random::<u64>()));
        std::fs::create_dir_all(&dir).unwrap();
        crate::fsutil::write_public(&dir.join("cert.pem"), ca.cert_pem.as_bytes()).unwrap();
        crate::fsutil::write_private(&dir.join("key.pem"), ca.key_pem.as_bytes()).unwrap();
        let read =
            crate::cluster::layout::read_certified_key(&dir.join("cert.pem"), &dir.join("key.pem"))
                .unwrap();
        let read_key: &zeroize::Zeroizing<String> = &read.key_pem;
        assert_eq!(read_key.as_str(), made.as_str());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
