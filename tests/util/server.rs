//! A neardup gRPC server on 127.0.0.1:0 for one test, stopped by a oneshot.

use std::net::SocketAddr;
use std::sync::Arc;

use neardup::engine::Settings;
use neardup::grpc::Limits;
use neardup::grpc::pb::near_dup_client::NearDupClient;
use neardup::server::{ServeError, ServerConfig, serve};
use neardup::store::{MemStore, Store, StoreError, StoredDocument, StoredRecord};
use std::sync::atomic::{AtomicBool, Ordering};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tonic::transport::Channel;

/// A running server.
pub struct TestServer {
    /// Where it listens.
    pub addr: SocketAddr,
    shutdown: Option<oneshot::Sender<()>>,
    task: JoinHandle<Result<(), ServeError>>,
}

impl TestServer {
    /// Starts a server with default settings and limits.
    pub async fn start() -> TestServer {
        TestServer::with(Limits::default(), Arc::new(MemStore::default())).await
    }

    /// Starts a server with these limits over this store.
    pub async fn with(limits: Limits, store: Arc<dyn Store>) -> TestServer {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let config = ServerConfig {
            listen: addr,
            data_dir: std::env::temp_dir(),
            settings: Settings::default(),
            limits,
            store: Default::default(),
        };
        let (tx, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(serve(config, store, listener, async {
            let _ = rx.await;
        }));
        TestServer {
            addr,
            shutdown: Some(tx),
            task,
        }
    }

    /// A channel to the server (retries briefly while it loads).
    pub async fn channel(&self) -> Channel {
        let url = format!("http://{}", self.addr);
        for _ in 0..100 {
            if let Ok(channel) = Channel::from_shared(url.clone()).unwrap().connect().await {
                return channel;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        panic!("server at {url} did not come up");
    }

    /// A NearDup client.
    pub async fn client(&self) -> NearDupClient<Channel> {
        NearDupClient::new(self.channel().await)
    }

    /// Stops the server and waits for it to return.
    pub async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        (&mut self.task).await.unwrap().unwrap();
    }
}

/// A store that can be made to fail or to hold `put` until released, for the rollback and
/// overload tests.
#[derive(Debug, Default)]
pub struct FlakyStore {
    /// The records.
    pub inner: MemStore,
    /// `put` and `delete` fail while set.
    pub fail: AtomicBool,
    /// `put` waits while set.
    pub hold: AtomicBool,
    /// Set once a `put` has started.
    pub entered: AtomicBool,
}

impl Store for FlakyStore {
    fn put(&self, record: &StoredRecord) -> Result<(), StoreError> {
        self.entered.store(true, Ordering::SeqCst);
        while self.hold.load(Ordering::SeqCst) {
            std::thread::sleep(std::time::Duration::from_millis(2));
        }
        if self.fail.load(Ordering::SeqCst) {
            return Err(StoreError::Io(std::io::Error::other("disk on fire")));
        }
        self.inner.put(record)
    }

    fn delete(&self, namespace: &str, name: &str) -> Result<(), StoreError> {
        if self.fail.load(Ordering::SeqCst) {
            return Err(StoreError::Io(std::io::Error::other("disk on fire")));
        }
        self.inner.delete(namespace, name)
    }

    fn load(&self) -> Result<Vec<StoredDocument>, StoreError> {
        self.inner.load()
    }

    fn text(&self, namespace: &str, name: &str) -> Result<Option<String>, StoreError> {
        self.inner.text(namespace, name)
    }
}
