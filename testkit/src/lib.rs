//! Test support for pdfx: a real S3-protocol server for tests, in-process.
//!
//! [`S3Server`] runs `s3s-fs` (an S3 server over a directory) on 127.0.0.1 with
//! SigV4 authentication, on a thread and runtime of its own, so that it works
//! from any test (`#[test]` or `#[tokio::test]`, either runtime flavour) and keeps
//! serving while the test's runtime is blocked. Dropping it stops the server and
//! removes its temporary directory.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let server = pdfx_testkit::S3Server::start()?;
//! let store = server.store("pdfx").await?; // creates the bucket
//! store.put_bytes("a.txt", "hello".into(), None).await?;
//! # Ok(()) }
//! ```
//!
//! Known gap of `s3s-fs` 0.14 (docs/architecture.md, "Dependencies"): no `ListMultipartUploads`, so tests
//! check "no leftover upload" through listings and HEAD instead.
//! Only for tests: never a dependency of a shipped binary.

use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::thread::JoinHandle;

use bytes::{Bytes, BytesMut};
use futures::Stream;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder as ConnBuilder;
use pdfx_storage::{S3Config, StorageError, Store};
use s3s::auth::SimpleAuth;
use s3s::service::{S3Service, S3ServiceBuilder};
use tempfile::TempDir;
use tokio::sync::oneshot;
use tokio::task::JoinSet;

/// The access key id the server accepts.
pub const ACCESS_KEY: &str = "pdfx-test-access-key";
/// The secret access key the server accepts.
pub const SECRET_KEY: &str = "pdfx-test-secret-key";
/// The region clients sign with (the server accepts any).
pub const REGION: &str = "us-east-1";

/// A running S3 server backed by a directory; stops when dropped.
pub struct S3Server {
    endpoint: String,
    addr: SocketAddr,
    root: PathBuf,
    shutdown: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
    // Declared last: removed after the server has stopped (see Drop).
    _tempdir: Option<TempDir>,
}

impl std::fmt::Debug for S3Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Server")
            .field("endpoint", &self.endpoint)
            .field("root", &self.root)
            .finish_non_exhaustive()
    }
}

impl S3Server {
    /// Starts a server over a new temporary directory.
    pub fn start() -> io::Result<Self> {
        let tempdir = tempfile::Builder::new().prefix("pdfx-s3-").tempdir()?;
        let mut server = Self::start_in(tempdir.path())?;
        server._tempdir = Some(tempdir);
        Ok(server)
    }

    /// Starts a server over `root` (created if missing, kept afterwards). Each
    /// bucket is a subdirectory; each object a file under it.
    pub fn start_in(root: impl AsRef<Path>) -> io::Result<Self> {
        let root = root.as_ref().to_owned();
        std::fs::create_dir_all(&root)?;
        let fs = s3s_fs::FileSystem::new(&root).map_err(|e| io::Error::other(format!("{e:?}")))?;
        let service = {
            let mut builder = S3ServiceBuilder::new(fs);
            builder.set_auth(SimpleAuth::from_single(ACCESS_KEY, SECRET_KEY));
            builder.build()
        };
        // Bound here, synchronously, so the port is known before returning and a
        // client can never race the server's start.
        let listener = std::net::TcpListener::bind(("127.0.0.1", 0))?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let (shutdown, stop) = oneshot::channel();
        let thread = std::thread::Builder::new()
            .name(format!("pdfx-test-s3-{}", addr.port()))
            .spawn(move || runtime.block_on(serve(listener, service, stop)))?;
        tracing::debug!(%addr, root = %root.display(), "test S3 server started");
        Ok(S3Server {
            endpoint: format!("http://{addr}"),
            addr,
            root,
            shutdown: Some(shutdown),
            thread: Some(thread),
            _tempdir: None,
        })
    }

    /// The endpoint URL, e.g. `http://127.0.0.1:40123`.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// The socket address the server listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The directory holding the data (bucket `b`'s object `k` is `root/b/k`).
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// A [`pdfx_storage::S3Config`] for this server: endpoint, region, path-style,
    /// the test credentials.
    pub fn config(&self) -> S3Config {
        S3Config::compatible(&self.endpoint, REGION, ACCESS_KEY, SECRET_KEY)
    }

    /// The `PDFX_S3_*` environment variables that make
    /// [`pdfx_storage::S3Config::from_env`] point at this server: for child
    /// processes (the runner started by a test).
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("PDFX_S3_ENDPOINT", self.endpoint.clone()),
            ("PDFX_S3_REGION", REGION.to_owned()),
            ("PDFX_S3_ACCESS_KEY_ID", ACCESS_KEY.to_owned()),
            ("PDFX_S3_SECRET_ACCESS_KEY", SECRET_KEY.to_owned()),
            ("PDFX_S3_FORCE_PATH_STYLE", "true".to_owned()),
        ]
    }

    /// How many multipart uploads are open (created, neither completed nor
    /// aborted). `s3s-fs` has no `ListMultipartUploads`; this counts its
    /// bookkeeping files (`.upload-<id>.json` in the root) instead, so tests can
    /// assert that a failed or cancelled upload was aborted.
    pub fn open_multipart_uploads(&self) -> io::Result<usize> {
        let mut open = 0;
        for entry in std::fs::read_dir(&self.root)? {
            let name = entry?.file_name();
            let name = name.to_string_lossy();
            if name.starts_with(".upload-") && name.ends_with(".json") {
                open += 1;
            }
        }
        Ok(open)
    }

    /// Creates a bucket through the S3 API; an existing one is fine.
    pub async fn create_bucket(&self, bucket: &str) -> Result<(), StorageError> {
        let client = self.config().client().await?;
        match client.create_bucket().bucket(bucket).send().await {
            Ok(_) => Ok(()),
            Err(err)
                if matches!(
                    aws_sdk_s3::error::ProvideErrorMetadata::code(&err),
                    Some("BucketAlreadyOwnedByYou" | "BucketAlreadyExists")
                ) =>
            {
                Ok(())
            }
            Err(err) => Err(StorageError::Backend {
                op: "CreateBucket",
                status: err.raw_response().map(|r| r.status().as_u16()),
                code: None,
                message: aws_sdk_s3::error::DisplayErrorContext(&err).to_string(),
                transient: false,
            }),
        }
    }

    /// Creates `bucket` (if needed) and returns a [`Store`] on it.
    pub async fn store(&self, bucket: &str) -> Result<Store, StorageError> {
        self.store_with(bucket, self.config()).await
    }

    /// Like [`S3Server::store`], with a configuration the caller adjusted
    /// (e.g. a small `list_page_size`); start from [`S3Server::config`].
    pub async fn store_with(&self, bucket: &str, config: S3Config) -> Result<Store, StorageError> {
        self.create_bucket(bucket).await?;
        Store::s3(&config, bucket).await
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(thread) = self.thread.take()
            && thread.join().is_err()
        {
            tracing::warn!(endpoint = %self.endpoint, "test S3 server thread panicked");
        }
    }
}

/// Accepts connections until `stop` fires; dropping the `JoinSet` then closes
/// every open connection.
async fn serve(
    listener: std::net::TcpListener,
    service: S3Service,
    mut stop: oneshot::Receiver<()>,
) {
    let listener = match tokio::net::TcpListener::from_std(listener) {
        Ok(listener) => listener,
        Err(err) => {
            tracing::error!(%err, "test S3 server could not register its listener");
            return;
        }
    };
    let http = ConnBuilder::new(TokioExecutor::new());
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            _ = &mut stop => break,
            accepted = listener.accept() => match accepted {
                Ok((socket, _)) => {
                    let conn = http
                        .serve_connection(TokioIo::new(socket), service.clone())
                        .into_owned();
                    connections.spawn(async move {
                        if let Err(err) = conn.await {
                            tracing::debug!(%err, "test S3 connection ended with an error");
                        }
                    });
                }
                Err(err) => tracing::warn!(%err, "test S3 server: accept failed"),
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
}

/// A deterministic body of `len` bytes as a stream of odd-sized chunks (1 byte
/// to ~1 MB, never aligned to a power of two), of unknown length to the
/// consumer: what an upload from a client socket looks like. The same
/// `(len, seed)` always gives the same bytes, however they are chunked, so a
/// test can generate the body a second time to hash it instead of keeping it.
pub fn generated_body(
    len: u64,
    seed: u64,
) -> impl Stream<Item = io::Result<Bytes>> + Send + 'static {
    body_then(len, seed, None)
}

/// Like [`generated_body`], but after `len` bytes the stream yields an error
/// instead of ending: an upload whose client disconnects midway.
pub fn failing_body(len: u64, seed: u64) -> impl Stream<Item = io::Result<Bytes>> + Send + 'static {
    body_then(
        len,
        seed,
        Some(io::Error::new(
            io::ErrorKind::ConnectionReset,
            "client went away",
        )),
    )
}

/// The bytes of [`generated_body`] in one buffer (for small bodies).
pub fn generated_bytes(len: usize, seed: u64) -> Vec<u8> {
    let mut generator = Generator::new(seed);
    let mut out = BytesMut::with_capacity(len);
    generator.fill(&mut out, len);
    out.to_vec()
}

const CHUNK_SIZES: [usize; 8] = [1, 4093, 65_537, 1_000_003, 13, 8191, 262_147, 7];

fn body_then(
    len: u64,
    seed: u64,
    error: Option<io::Error>,
) -> impl Stream<Item = io::Result<Bytes>> + Send + 'static {
    let state = (Generator::new(seed), len, 0usize, error);
    futures::stream::unfold(
        state,
        |(mut generator, remaining, turn, error)| async move {
            if remaining == 0 {
                return error.map(|e| (Err(e), (generator, 0, turn, None)));
            }
            let size = CHUNK_SIZES[turn % CHUNK_SIZES.len()]
                .min(usize::try_from(remaining).unwrap_or(usize::MAX));
            let mut chunk = BytesMut::with_capacity(size);
            generator.fill(&mut chunk, size);
            Some((
                Ok(chunk.freeze()),
                (generator, remaining - size as u64, turn + 1, error),
            ))
        },
    )
}

/// xorshift64*: fast, deterministic, incompressible enough for transfer tests.
struct Generator {
    state: u64,
    word: [u8; 8],
    used: usize,
}

impl Generator {
    fn new(seed: u64) -> Self {
        Generator {
            state: seed ^ 0x9E37_79B9_7F4A_7C15 | 1,
            word: [0; 8],
            used: 8,
        }
    }

    fn fill(&mut self, out: &mut BytesMut, mut n: usize) {
        while n > 0 {
            if self.used == 8 {
                self.state ^= self.state >> 12;
                self.state ^= self.state << 25;
                self.state ^= self.state >> 27;
                self.word = self.state.wrapping_mul(0x2545_F491_4F6C_DD1D).to_le_bytes();
                self.used = 0;
            }
            let take = (8 - self.used).min(n);
            out.extend_from_slice(&self.word[self.used..self.used + take]);
            self.used += take;
            n -= take;
        }
    }
}
