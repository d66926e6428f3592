//! A server run as a task that can be told to stop.

use std::future::Future;
use std::pin::Pin;

use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// The signal a [`Serving`] task is given: it resolves when the task is to
/// stop (on [`Serving::stop`], or when the `Serving` is dropped).
pub type Stopped = Pin<Box<dyn Future<Output = ()> + Send>>;

/// A server task spawned with its stop signal.
#[derive(Debug)]
pub struct Serving {
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<std::io::Result<()>>>,
}

impl Serving {
    /// Spawn `serve(stopped)` on the current runtime.
    pub fn spawn<F, Fut>(serve: F) -> Serving
    where
        F: FnOnce(Stopped) -> Fut,
        Fut: Future<Output = std::io::Result<()>> + Send + 'static,
    {
        let (tx, rx) = oneshot::channel::<()>();
        let stopped: Stopped = Box::pin(async move {
            let _ = rx.await;
        });
        Serving {
            stop: Some(tx),
            task: Some(tokio::spawn(serve(stopped))),
        }
    }

    /// Tell the task to stop and wait until it has; what it returned (a
    /// task that panicked or was cancelled is an error too).
    pub async fn stop(&mut self) -> std::io::Result<()> {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        match self.task.take() {
            Some(task) => task.await.map_err(std::io::Error::other)?,
            None => Ok(()),
        }
    }
}
