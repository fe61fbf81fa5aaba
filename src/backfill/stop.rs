//! Stopping between batches: Ctrl-C / SIGTERM (or a caller) asks, the engine finishes the
//! current batch, saves and returns.

use std::sync::Arc;

use tokio::sync::watch;

/// A shared "please stop" flag that sleeps and pauses can wait on.
#[derive(Debug, Clone)]
pub struct StopSignal {
    tx: Arc<watch::Sender<Option<String>>>,
}

impl Default for StopSignal {
    fn default() -> Self {
        StopSignal { tx: Arc::new(watch::channel(None).0) }
    }
}

impl StopSignal {
    /// Ask the backfill to stop after its current batch; `why` is shown in the summary.
    pub fn request(&self, why: &str) {
        self.tx.send_if_modified(|v| {
            if v.is_none() {
                *v = Some(why.to_string());
                true
            } else {
                false
            }
        });
    }

    /// Why a stop was requested, if it was.
    pub fn requested(&self) -> Option<String> {
        self.tx.borrow().clone()
    }

    /// Resolves once a stop is requested.
    pub async fn wait(&self) {
        let mut rx = self.tx.subscribe();
        let _ = rx.wait_for(|v| v.is_some()).await;
    }

    /// Sleep for `d`, waking early when a stop is requested.
    pub async fn sleep(&self, d: std::time::Duration) {
        if d.is_zero() {
            return;
        }
        tokio::select! {
            _ = tokio::time::sleep(d) => {}
            _ = self.wait() => {}
        }
    }

    /// Turn Ctrl-C and SIGTERM into a stop request (for the lifetime of the process).
    pub fn listen_for_signals(&self) {
        let ctrl_c = self.clone();
        tokio::spawn(async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                ctrl_c.request("interrupted (Ctrl-C)");
            }
        });
        #[cfg(unix)]
        {
            use tokio::signal::unix::{signal, SignalKind};
            if let Ok(mut term) = signal(SignalKind::terminate()) {
                let stop = self.clone();
                tokio::spawn(async move {
                    if term.recv().await.is_some() {
                        stop.request("terminated (SIGTERM)");
                    }
                });
            }
        }
    }
}
