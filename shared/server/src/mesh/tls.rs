//! Mutual TLS between the services of a mesh (docs/security.md, "The mesh").
//!
//! Every service presents a certificate signed by the mesh's CA whose DNS name is its service name
//! (`vault`), and accepts only peers that present one too. A callee learns who calls from the
//! certificate the handshake verified ([`MeshPeer`]), never from anything the caller says, and
//! authorizes each method by it (`authorization`). A caller checks that the callee's certificate
//! names the service it meant to call, whatever host its address names.
//!
//! The CA, certificate and key are files (Kubernetes secret mounts, `latchkey mesh-certs`), read
//! again when their content changes ([`MeshTls::reload_if_changed`]), so certificates and the CA
//! rotate without a restart: new connections use the new files, a connection keeps the ones it was
//! made with. Files that no longer load leave the last good ones in use, and say why in the log.

use std::{
    io,
    net::SocketAddr,
    path::{Path, PathBuf},
    pin::Pin,
    sync::{Arc, RwLock},
    task::{Context, Poll},
    time::Duration,
};

use futures::future::BoxFuture;
use hyper_util::rt::TokioIo;
use rustls::{ClientConfig, RootCertStore, ServerConfig, server::WebPkiClientVerifier, version::TLS13};
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName, pem::PemObject};
use sha2::{Digest, Sha256};
use tokio::{
    io::{AsyncRead, AsyncWrite, ReadBuf},
    net::{TcpListener, TcpStream},
    sync::mpsc,
};
use tokio_util::sync::CancellationToken;

use super::identity::{IDENTITIES, MeshPeer};

/// How long a connecting peer has to finish its TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Where a process's mesh TLS material is (`[mesh] tls_ca_file`, `tls_cert_file`, `tls_key_file`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TlsFiles {
    /// The CA certificates (PEM) a peer's certificate must chain to.
    pub ca: PathBuf,
    /// This process's certificate chain (PEM), its own certificate first.
    pub cert: PathBuf,
    /// This process's private key (PEM, PKCS#8, SEC1 or PKCS#1).
    pub key: PathBuf,
}

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read {path}: {error}")]
    Read { path: PathBuf, error: io::Error },
    #[error("{path} holds no {what} in PEM")]
    Empty { path: PathBuf, what: &'static str },
    #[error("{path}: {error}")]
    Pem {
        path: PathBuf,
        error: rustls_pki_types::pem::Error,
    },
    #[error("the certificate in {path} does not name `{identity}` (its DNS name must be the service's name)")]
    NotNamed { path: PathBuf, identity: String },
    #[error("`{0}` is not a mesh identity (one of the services, or `operator`)")]
    UnknownIdentity(String),
    #[error("mesh TLS: {0}")]
    Rustls(#[from] rustls::Error),
    #[error("mesh TLS client verifier: {0}")]
    Verifier(#[from] rustls::server::VerifierBuilderError),
}

/// One process's mesh TLS: who it is, and the configurations its server and its clients use,
/// swapped when the files change.
pub struct MeshTls {
    files: TlsFiles,
    identity: &'static str,
    reload_every: Duration,
    loaded: RwLock<Loaded>,
}

struct Loaded {
    fingerprint: [u8; 32],
    server: Arc<ServerConfig>,
    client: Arc<ClientConfig>,
}

impl std::fmt::Debug for MeshTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MeshTls")
            .field("identity", &self.identity)
            .field("files", &self.files)
            .finish_non_exhaustive()
    }
}

impl MeshTls {
    /// Loads `files` for the process that is `identity` (a service's name, or `operator`), whose
    /// certificate must name it; a server looks at them again every `reload_every`.
    pub fn load(files: TlsFiles, identity: &str, reload_every: Duration) -> Result<Arc<Self>, TlsError> {
        let identity = IDENTITIES
            .iter()
            .copied()
            .find(|known| *known == identity)
            .ok_or_else(|| TlsError::UnknownIdentity(identity.to_owned()))?;
        let loaded = load(&files, identity)?;
        Ok(Arc::new(Self {
            files,
            identity,
            reload_every,
            loaded: RwLock::new(loaded),
        }))
    }

    /// Who this process is in the mesh.
    pub fn identity(&self) -> &'static str {
        self.identity
    }

    fn server_config(&self) -> Arc<ServerConfig> {
        self.loaded
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .server
            .clone()
    }

    fn client_config(&self) -> Arc<ClientConfig> {
        self.loaded
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .client
            .clone()
    }

    /// Reads the files again and uses them from the next connection on, when their content
    /// changed. True when it changed; files that do not load leave the last good ones in use.
    pub fn reload_if_changed(&self) -> Result<bool, TlsError> {
        let fingerprint = fingerprint(&self.files)?;
        let current = self
            .loaded
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .fingerprint;
        if fingerprint == current {
            return Ok(false);
        }
        let loaded = load(&self.files, self.identity)?;
        *self.loaded.write().unwrap_or_else(|poisoned| poisoned.into_inner()) = loaded;
        Ok(true)
    }

    /// Looks at the files every `reload_every` until `shutdown`, reloading them when they change.
    pub async fn watch(self: Arc<Self>, shutdown: CancellationToken) {
        loop {
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = tokio::time::sleep(self.reload_every) => {}
            }
            match self.reload_if_changed() {
                Ok(true) => tracing::info!(
                    identity = self.identity,
                    "mesh TLS files changed: new connections use them"
                ),
                Ok(false) => {}
                Err(error) => tracing::error!(%error, "mesh TLS files do not load; the last good ones stay in use"),
            }
        }
    }
}

/// The SHA-256 of the three files' contents, to notice a change whatever its mtime says (a
/// Kubernetes secret mount swaps a symbolic link).
fn fingerprint(files: &TlsFiles) -> Result<[u8; 32], TlsError> {
    let mut hash = Sha256::new();
    for path in [&files.ca, &files.cert, &files.key] {
        let content = std::fs::read(path).map_err(|error| TlsError::Read {
            path: path.clone(),
            error,
        })?;
        hash.update(Sha256::digest(&content));
    }
    Ok(hash.finalize().into())
}

fn load(files: &TlsFiles, identity: &'static str) -> Result<Loaded, TlsError> {
    let fingerprint = fingerprint(files)?;
    let roots = certificates(&files.ca, "CA certificate")?;
    let chain = certificates(&files.cert, "certificate")?;
    let key = PrivateKeyDer::from_pem_file(&files.key).map_err(|error| TlsError::Pem {
        path: files.key.clone(),
        error,
    })?;
    if identity_of(&chain[0]) != Some(identity) {
        return Err(TlsError::NotNamed {
            path: files.cert.clone(),
            identity: identity.to_owned(),
        });
    }
    let mut store = RootCertStore::empty();
    for root in roots {
        store.add(root)?;
    }
    let store = Arc::new(store);
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());

    let verifier = WebPkiClientVerifier::builder_with_provider(store.clone(), provider.clone()).build()?;
    let mut server = ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&[&TLS13])?
        .with_client_cert_verifier(verifier)
        .with_single_cert(chain.clone(), key.clone_key())?;
    server.alpn_protocols = vec![b"h2".to_vec()];

    let mut client = ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&TLS13])?
        .with_root_certificates(store)
        .with_client_auth_cert(chain, key)?;
    client.alpn_protocols = vec![b"h2".to_vec()];

    Ok(Loaded {
        fingerprint,
        server: Arc::new(server),
        client: Arc::new(client),
    })
}

fn certificates(path: &Path, what: &'static str) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let certificates = CertificateDer::pem_file_iter(path)
        .and_then(|iter| iter.collect::<Result<Vec<_>, _>>())
        .map_err(|error| TlsError::Pem {
            path: path.to_owned(),
            error,
        })?;
    if certificates.is_empty() {
        return Err(TlsError::Empty {
            path: path.to_owned(),
            what,
        });
    }
    Ok(certificates)
}

/// The mesh identity a certificate names: the one of [`IDENTITIES`] it is valid for, when exactly
/// one. (A certificate naming two services, or none, is nobody.)
pub(crate) fn identity_of(certificate: &CertificateDer<'_>) -> Option<&'static str> {
    let certificate = webpki::EndEntityCert::try_from(certificate).ok()?;
    let mut named = IDENTITIES.iter().copied().filter(|identity| {
        ServerName::try_from(*identity)
            .ok()
            .is_some_and(|name| certificate.verify_is_valid_for_subject_name(&name).is_ok())
    });
    let identity = named.next()?;
    named.next().is_none().then_some(identity)
}

/// A mesh connection after its handshake, with the peer it verified.
pub(crate) struct MeshTlsStream {
    stream: tokio_rustls::server::TlsStream<TcpStream>,
    peer: MeshPeer,
}

impl tonic::transport::server::Connected for MeshTlsStream {
    type ConnectInfo = MeshPeer;

    fn connect_info(&self) -> MeshPeer {
        self.peer
    }
}

impl AsyncRead for MeshTlsStream {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for MeshTlsStream {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }
}

/// The connections `listener` accepts, once each finished its handshake with a certificate of the
/// mesh. Handshakes run beside each other, so a slow or silent peer holds up no other; one that
/// fails (a plaintext client, a certificate of another CA) is logged and dropped.
pub(crate) fn incoming(
    listener: TcpListener,
    tls: Arc<MeshTls>,
) -> tokio_stream::wrappers::ReceiverStream<Result<MeshTlsStream, io::Error>> {
    let (accepted, incoming) = mpsc::channel(64);
    crate::spawn_connection(async move {
        loop {
            let (tcp, remote) = tokio::select! {
                () = accepted.closed() => return,
                connection = listener.accept() => match connection {
                    Ok(connection) => connection,
                    Err(error) => {
                        // Out of file descriptors, say: wait instead of spinning.
                        tracing::warn!(%error, "mesh listener cannot accept");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                },
            };
            // Without TCP_NODELAY small gRPC frames wait out the peer's delayed ACK.
            let _ = tcp.set_nodelay(true);
            let acceptor = tokio_rustls::TlsAcceptor::from(tls.server_config());
            let accepted = accepted.clone();
            crate::spawn_connection(async move {
                match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                    Ok(Ok(stream)) => {
                        let identity = stream
                            .get_ref()
                            .1
                            .peer_certificates()
                            .and_then(|chain| chain.first())
                            .and_then(identity_of);
                        let peer = MeshPeer { identity };
                        let _ = accepted.send(Ok(MeshTlsStream { stream, peer })).await;
                    }
                    Ok(Err(error)) => refused(remote, &error.to_string()),
                    Err(_) => refused(remote, "no handshake within 10 s"),
                }
            });
        }
    });
    tokio_stream::wrappers::ReceiverStream::new(incoming)
}

fn refused(remote: SocketAddr, why: &str) {
    tracing::warn!(%remote, why, "mesh connection refused: no valid mesh certificate");
}

/// Connects mesh channels over TLS, presenting this process's certificate and accepting only a
/// callee whose certificate names `callee`.
#[derive(Clone)]
pub(crate) struct TlsConnector {
    tls: Arc<MeshTls>,
    callee: ServerName<'static>,
}

impl TlsConnector {
    pub(crate) fn new(tls: Arc<MeshTls>, callee: ServerName<'static>) -> Self {
        Self { tls, callee }
    }
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

impl tower::Service<http::Uri> for TlsConnector {
    type Response = TokioIo<tokio_rustls::client::TlsStream<TcpStream>>;
    type Error = BoxError;
    type Future = BoxFuture<'static, Result<Self::Response, Self::Error>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, uri: http::Uri) -> Self::Future {
        let connector = tokio_rustls::TlsConnector::from(self.tls.client_config());
        let callee = self.callee.clone();
        // The handshake is bounded here rather than by the endpoint's connect timeout, whose
        // expiry tonic would not report as a failure to connect: a callee that accepts and never
        // answers must be a replica that refused (UNAVAILABLE, the next one tried), as one that
        // refuses the connection is.
        Box::pin(async move {
            let host = uri.host().ok_or("a mesh address names no host")?;
            let host = host.trim_start_matches('[').trim_end_matches(']').to_owned();
            let port = uri.port_u16().unwrap_or(443);
            let connect = async move {
                let tcp = TcpStream::connect((host.as_str(), port)).await?;
                tcp.set_nodelay(true)?;
                connector.connect(callee, tcp).await
            };
            let stream = tokio::time::timeout(super::CONNECT_TIMEOUT, connect)
                .await
                .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "no mesh TLS handshake within 2 s"))??;
            Ok(TokioIo::new(stream))
        })
    }
}
