//! A TCP proxy on loopback that a test can cut and restore, to take a
//! database away from a running server and give it back.

use std::sync::{
    atomic::{AtomicBool, Ordering},
    Arc, Mutex,
};

use tokio::{
    net::{TcpListener, TcpStream},
    task::JoinHandle,
};

pub struct TcpProxy {
    pub port: u16,
    up: Arc<AtomicBool>,
    connections: Arc<Mutex<Vec<JoinHandle<()>>>>,
    listener: JoinHandle<()>,
}

impl TcpProxy {
    /// Forwards a loopback port to `target` (`host:port`).
    pub async fn start(target: String) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let up = Arc::new(AtomicBool::new(true));
        let connections = Arc::new(Mutex::new(Vec::new()));
        let listener = tokio::spawn({
            let up = up.clone();
            let connections = connections.clone();
            async move {
                while let Ok((mut client, _)) = listener.accept().await {
                    // While cut, a connection is closed at once, as a
                    // database host that went away resets it.
                    if !up.load(Ordering::SeqCst) {
                        continue;
                    }
                    let target = target.clone();
                    let forward = tokio::spawn(async move {
                        if let Ok(mut server) = TcpStream::connect(&target).await {
                            let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                        }
                    });
                    connections.lock().unwrap().push(forward);
                }
            }
        });
        Self {
            port,
            up,
            connections,
            listener,
        }
    }

    /// Drops every open connection and refuses new ones.
    pub fn cut(&self) {
        self.up.store(false, Ordering::SeqCst);
        for connection in self.connections.lock().unwrap().drain(..) {
            connection.abort();
        }
    }

    pub fn restore(&self) {
        self.up.store(true, Ordering::SeqCst);
    }
}

impl Drop for TcpProxy {
    fn drop(&mut self) {
        self.cut();
        self.listener.abort();
    }
}
