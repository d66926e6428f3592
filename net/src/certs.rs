//! Certificates for mutual TLS (work in progress: the links do not use
//! them yet). A cluster has one CA; every process (coordinator, storage
//! node) and every client gets a certificate signed by it. A client
//! certificate carries its role as a URI name, `urn:cpg:role:read-only` or
//! `urn:cpg:role:read-write`; processes are `urn:cpg:role:cluster`. Only a
//! certificate signed by the cluster's CA is accepted, so the role cannot
//! be forged.
//!
//! Files in a certs directory: `ca.crt`, `ca.key` (keep it off the
//! servers), `node.crt`/`node.key` for a process, `client.NAME.crt`/`.key`.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, SanType,
};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// What a certificate lets its holder do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// A coordinator or storage node: everything.
    Cluster,
    /// A client that may ingest and change the cluster.
    ReadWrite,
    /// A client that may only query.
    ReadOnly,
}

impl Role {
    /// `Forbidden` unless this role may do `what`, which needs `needed`
    /// (cluster > read-write > read-only).
    pub fn allows(self, needed: Role, what: &str) -> Result<(), proto::CpgError> {
        let rank = |r: Role| match r {
            Role::ReadOnly => 0,
            Role::ReadWrite => 1,
            Role::Cluster => 2,
        };
        if rank(self) >= rank(needed) {
            Ok(())
        } else {
            Err(proto::CpgError::Forbidden {
                reason: format!(
                    "{what} needs a {} certificate; this one is {}",
                    needed.name(),
                    self.name()
                ),
            })
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Role::Cluster => "cluster process",
            Role::ReadWrite => "read-write client",
            Role::ReadOnly => "read-only client",
        }
    }

    fn uri(self) -> &'static str {
        match self {
            Role::Cluster => "urn:cpg:role:cluster",
            Role::ReadWrite => "urn:cpg:role:read-write",
            Role::ReadOnly => "urn:cpg:role:read-only",
        }
    }

    /// The role a (CA-verified) certificate carries; read-only when it
    /// names none.
    pub fn of(cert: &CertificateDer<'_>) -> Role {
        let der = cert.as_ref();
        let has = |r: Role| der.windows(r.uri().len()).any(|w| w == r.uri().as_bytes());
        if has(Role::Cluster) {
            Role::Cluster
        } else if has(Role::ReadWrite) {
            Role::ReadWrite
        } else {
            Role::ReadOnly
        }
    }
}

/// Why certificates could not be made or read.
#[derive(Debug, thiserror::Error)]
pub enum CertError {
    #[error("{0}: {1}")]
    Io(PathBuf, std::io::Error),
    #[error("{0} exists already: remove it first to make a new one")]
    Exists(PathBuf),
    #[error("{0} is missing: run `cpg cert create-ca --certs-dir {1}` first")]
    NoCa(PathBuf, String),
    #[error("making a certificate: {0}")]
    Rcgen(#[from] rcgen::Error),
    #[error("{0}: {1}")]
    Pem(PathBuf, String),
    #[error("TLS configuration: {0}")]
    Tls(#[from] rustls::Error),
}

fn write_new(path: &Path, text: &str) -> Result<(), CertError> {
    if path.exists() {
        return Err(CertError::Exists(path.to_path_buf()));
    }
    std::fs::write(path, text).map_err(|e| CertError::Io(path.to_path_buf(), e))
}

/// The CA's parameters: the same every time, so the CA can sign again from
/// its key alone.
fn ca_params() -> Result<CertificateParams, CertError> {
    let mut params = CertificateParams::new(Vec::<String>::new())?;
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, "cpg cluster CA");
    params.distinguished_name = dn;
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    Ok(params)
}

/// Make the cluster's CA in `dir` (`ca.crt`, `ca.key`).
pub fn create_ca(dir: &Path) -> Result<(), CertError> {
    std::fs::create_dir_all(dir).map_err(|e| CertError::Io(dir.to_path_buf(), e))?;
    let key = KeyPair::generate()?;
    let cert = ca_params()?.self_signed(&key)?;
    write_new(&dir.join("ca.key"), &key.serialize_pem())?;
    write_new(&dir.join("ca.crt"), &cert.pem())
}

fn issuer(dir: &Path) -> Result<Issuer<'static, KeyPair>, CertError> {
    let path = dir.join("ca.key");
    let pem = std::fs::read_to_string(&path)
        .map_err(|_| CertError::NoCa(path.clone(), dir.display().to_string()))?;
    let key = KeyPair::from_pem(&pem)?;
    Ok(Issuer::new(ca_params()?, key))
}

fn signed(
    dir: &Path,
    name: &str,
    names: Vec<SanType>,
    usages: Vec<ExtendedKeyUsagePurpose>,
    role: Role,
    file: &str,
) -> Result<(), CertError> {
    let issuer = issuer(dir)?;
    let mut params = CertificateParams::new(Vec::<String>::new())?;
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, name);
    params.distinguished_name = dn;
    params.subject_alt_names = names;
    params
        .subject_alt_names
        .push(SanType::URI(role.uri().try_into()?));
    params.extended_key_usages = usages;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    let key = KeyPair::generate()?;
    let cert = params.signed_by(&key, &issuer)?;
    write_new(&dir.join(format!("{file}.key")), &key.serialize_pem())?;
    write_new(&dir.join(format!("{file}.crt")), &cert.pem())
}

/// A process's certificate (`node.crt`, `node.key`) for the host names and
/// addresses it is reached at; it serves and dials (server and client
/// authentication).
pub fn create_node(dir: &Path, hosts: &[String]) -> Result<(), CertError> {
    let names = hosts
        .iter()
        .map(|h| match h.parse::<std::net::IpAddr>() {
            Ok(ip) => Ok(SanType::IpAddress(ip)),
            Err(_) => Ok(SanType::DnsName(h.as_str().try_into()?)),
        })
        .collect::<Result<Vec<_>, rcgen::Error>>()?;
    signed(
        dir,
        "cpg process",
        names,
        vec![
            ExtendedKeyUsagePurpose::ServerAuth,
            ExtendedKeyUsagePurpose::ClientAuth,
        ],
        Role::Cluster,
        "node",
    )
}

/// A client's certificate (`client.NAME.crt`, `.key`).
pub fn create_client(dir: &Path, name: &str, read_only: bool) -> Result<(), CertError> {
    signed(
        dir,
        name,
        Vec::new(),
        vec![ExtendedKeyUsagePurpose::ClientAuth],
        if read_only {
            Role::ReadOnly
        } else {
            Role::ReadWrite
        },
        &format!("client.{name}"),
    )
}

fn certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, CertError> {
    CertificateDer::pem_file_iter(path)
        .map_err(|e| CertError::Pem(path.to_path_buf(), e.to_string()))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| CertError::Pem(path.to_path_buf(), e.to_string()))
}

fn key(path: &Path) -> Result<PrivateKeyDer<'static>, CertError> {
    PrivateKeyDer::from_pem_file(path)
        .map_err(|e| CertError::Pem(path.to_path_buf(), e.to_string()))
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn roots(dir: &Path) -> Result<rustls::RootCertStore, CertError> {
    let mut roots = rustls::RootCertStore::empty();
    for c in certs(&dir.join("ca.crt"))? {
        roots.add(c)?;
    }
    Ok(roots)
}

/// A process's server side: its certificate, and every peer must present
/// one signed by the cluster's CA.
pub fn server_config(dir: &Path) -> Result<rustls::ServerConfig, CertError> {
    let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
        Arc::new(roots(dir)?),
        provider(),
    )
    .build()
    .map_err(|e| CertError::Pem(dir.join("ca.crt"), e.to_string()))?;
    Ok(rustls::ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()?
        .with_client_cert_verifier(verifier)
        .with_single_cert(certs(&dir.join("node.crt"))?, key(&dir.join("node.key"))?)?)
}

/// A dialling side with the certificate `name` (`node` for a process,
/// `client.NAME` for a client), trusting only the cluster's CA.
pub fn client_config(dir: &Path, name: &str) -> Result<rustls::ClientConfig, CertError> {
    Ok(rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots(dir)?)
        .with_client_auth_cert(
            certs(&dir.join(format!("{name}.crt")))?,
            key(&dir.join(format!("{name}.key")))?,
        )?)
}

/// How this process's connections are secured: set once at start
/// ([`crate::wire::secure_with`]).
#[derive(Debug, Clone)]
pub struct Tls {
    /// `None` for a client, which serves nothing.
    pub server: Option<Arc<rustls::ServerConfig>>,
    pub client: Arc<rustls::ClientConfig>,
}

/// How a process or client secures its links, from its flags: TLS with the
/// certificates in `certs_dir` (`identity`: `node` for a process,
/// `client.NAME` for a client), or plain TCP only when `insecure` says so.
pub fn security(
    certs_dir: Option<&Path>,
    identity: &str,
    serves: bool,
    insecure: bool,
) -> Result<Option<Tls>, String> {
    match (certs_dir, insecure) {
        (Some(_), true) => Err("give either --certs-dir or --insecure, not both".into()),
        (None, true) => Ok(None),
        (None, false) => Err(
            "links are TLS: give --certs-dir DIR (made with `cpg cert`), or --insecure for plain TCP on a trusted network".into(),
        ),
        (Some(dir), false) => {
            let client = client_config(dir, identity).map_err(|e| e.to_string())?;
            let server = if serves {
                Some(Arc::new(server_config(dir).map_err(|e| e.to_string())?))
            } else {
                None
            };
            Ok(Some(Tls {
                server,
                client: Arc::new(client),
            }))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// Serve one TLS connection with `server`; what the client's
    /// certificate says it is, or why the handshake failed.
    async fn handshake(
        server: rustls::ServerConfig,
        client: rustls::ClientConfig,
    ) -> Result<Role, String> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(server));
        let served = tokio::spawn(async move {
            let (tcp, _) = listener.accept().await.map_err(|e| e.to_string())?;
            let mut tls = acceptor.accept(tcp).await.map_err(|e| e.to_string())?;
            let role = tls
                .get_ref()
                .1
                .peer_certificates()
                .and_then(|c| c.first())
                .map(Role::of)
                .ok_or("no client certificate")?;
            let mut buf = [0u8; 5];
            tls.read_exact(&mut buf).await.map_err(|e| e.to_string())?;
            Ok::<Role, String>(role)
        });
        let connector = tokio_rustls::TlsConnector::from(Arc::new(client));
        let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
        let name = rustls::pki_types::ServerName::try_from("127.0.0.1").unwrap();
        if let Ok(mut tls) = connector.connect(name, tcp).await {
            let _ = tls.write_all(b"hello").await;
            let _ = tls.flush().await;
        }
        served.await.unwrap()
    }

    #[tokio::test]
    async fn only_certificates_of_the_cluster_ca_get_in_with_their_role() {
        let dir = tempfile::tempdir().unwrap();
        let other = tempfile::tempdir().unwrap();
        for d in [dir.path(), other.path()] {
            create_ca(d).unwrap();
            create_node(d, &["127.0.0.1".into(), "localhost".into()]).unwrap();
            create_client(d, "ci", false).unwrap();
            create_client(d, "viewer", true).unwrap();
        }
        assert!(matches!(create_ca(dir.path()), Err(CertError::Exists(_))));
        let server = || server_config(dir.path()).unwrap();
        let as_client = |d: &Path, name: &str| client_config(d, name).unwrap();
        assert_eq!(
            handshake(server(), as_client(dir.path(), "node")).await,
            Ok(Role::Cluster)
        );
        assert_eq!(
            handshake(server(), as_client(dir.path(), "client.ci")).await,
            Ok(Role::ReadWrite)
        );
        assert_eq!(
            handshake(server(), as_client(dir.path(), "client.viewer")).await,
            Ok(Role::ReadOnly)
        );
        // A certificate of another CA is refused.
        assert!(handshake(server(), as_client(other.path(), "client.ci"))
            .await
            .is_err());
        // No certificate at all is refused.
        let anonymous = rustls::ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots(dir.path()).unwrap())
            .with_no_client_auth();
        assert!(handshake(server(), anonymous).await.is_err());
    }
}
