//! A neardup gRPC server on 127.0.0.1:0 for one test, stopped by a oneshot.

use std::net::SocketAddr;
use std::sync::Arc;

use neardup::engine::Settings;
use neardup::grpc::Limits;
use neardup::grpc::pb::near_dup_client::NearDupClient;
use neardup::server::{EdgeConfig, Listeners, ServeError, ServerConfig, serve};
use neardup::store::{MemStore, Store, StoreError, StoredDocument, StoredRecord};
use std::sync::atomic::{AtomicBool, Ordering};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tonic::transport::Channel;

/// A running server.
pub struct TestServer {
    /// Where it listens.
    pub addr: SocketAddr,
    /// Where it serves metrics, if asked to.
    pub metrics_addr: Option<SocketAddr>,
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
        TestServer::with_edge(limits, store, EdgeConfig::default(), false).await
    }

    /// Starts a server with these engine settings, default limits and a fresh store.
    pub async fn with_settings(settings: Settings) -> TestServer {
        let store = Arc::new(MemStore::default());
        TestServer::with_everything(
            settings,
            Limits::default(),
            store,
            Default::default(),
            false,
        )
        .await
    }

    /// Starts a server with these limits, store and edge, and a metrics listener if asked.
    pub async fn with_edge(
        limits: Limits,
        store: Arc<dyn Store>,
        edge: EdgeConfig,
        metrics: bool,
    ) -> TestServer {
        TestServer::with_everything(Settings::default(), limits, store, edge, metrics).await
    }

    /// Starts a server with these engine settings, limits, store and edge, and a metrics
    /// listener if asked.
    pub async fn with_everything(
        settings: Settings,
        limits: Limits,
        store: Arc<dyn Store>,
        edge: EdgeConfig,
        metrics: bool,
    ) -> TestServer {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let metrics = match metrics {
            true => Some(tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap()),
            false => None,
        };
        let metrics_addr = metrics.as_ref().map(|l| l.local_addr().unwrap());
        let config = ServerConfig {
            listen: addr,
            data_dir: std::env::temp_dir(),
            settings,
            limits,
            store: Default::default(),
            edge,
        };
        let (tx, rx) = oneshot::channel::<()>();
        let listeners = Listeners {
            grpc: listener,
            metrics,
        };
        let task = tokio::spawn(serve(config, store, listeners, async {
            let _ = rx.await;
        }));
        TestServer {
            addr,
            metrics_addr,
            shutdown: Some(tx),
            task,
        }
    }

    /// A plaintext channel to the server, once it has come up and is SERVING.
    pub async fn channel(&self) -> Channel {
        let channel = self.channel_now().await;
        wait_serving(&channel).await;
        channel
    }

    /// A plaintext channel to the server, as soon as it accepts connections (it may
    /// still be restoring).
    pub async fn channel_now(&self) -> Channel {
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

    /// Asks the server to stop, without waiting.
    pub fn begin_stop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }

    /// Stops the server and waits for it to return.
    pub async fn stop(mut self) {
        self.begin_stop();
        (&mut self.task).await.unwrap().unwrap();
    }

    /// Waits for the server to return on its own, with its result.
    pub async fn join(mut self) -> Result<(), ServeError> {
        (&mut self.task).await.unwrap()
    }
}

/// The health status the server gives for `neardup.v1.NearDup`.
pub async fn health(channel: &Channel) -> tonic_health::pb::health_check_response::ServingStatus {
    use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};
    HealthClient::new(channel.clone())
        .check(HealthCheckRequest {
            service: "neardup.v1.NearDup".into(),
        })
        .await
        .unwrap()
        .into_inner()
        .status()
}

/// Waits (up to 20 s) until health says SERVING.
pub async fn wait_serving(channel: &Channel) {
    use tonic_health::pb::health_check_response::ServingStatus;
    for _ in 0..1000 {
        if health(channel).await == ServingStatus::Serving {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    panic!("the server did not become SERVING");
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
    /// `load` waits while set.
    pub hold_load: AtomicBool,
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

    fn create_namespace(&self, namespace: &str) -> Result<bool, StoreError> {
        if self.fail.load(Ordering::SeqCst) {
            return Err(StoreError::Io(std::io::Error::other("disk on fire")));
        }
        self.inner.create_namespace(namespace)
    }

    fn delete_namespace(&self, namespace: &str) -> Result<usize, StoreError> {
        if self.fail.load(Ordering::SeqCst) {
            return Err(StoreError::Io(std::io::Error::other("disk on fire")));
        }
        self.inner.delete_namespace(namespace)
    }

    fn namespaces(&self) -> Result<Vec<String>, StoreError> {
        self.inner.namespaces()
    }

    fn load(&self) -> Result<Vec<StoredDocument>, StoreError> {
        while self.hold_load.load(Ordering::SeqCst) {
            std::thread::sleep(std::time::Duration::from_millis(2));
        }
        self.inner.load()
    }

    fn text(&self, namespace: &str, name: &str) -> Result<Option<String>, StoreError> {
        self.inner.text(namespace, name)
    }
}
