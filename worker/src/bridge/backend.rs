//! The apalis `Backend` side of the bridge: a channel of deliveries.

use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use apalis_core::backend::finalize::Ephemeral;
use apalis_core::backend::{Backend, BackendConfig};
use apalis_core::task::Task;
use apalis_core::task::builder::TaskBuilder;
use apalis_core::task::task_id::TaskId;
use apalis_core::worker::context::WorkerContext;
use bullmq::Worker;
use serde::de::DeserializeOwned;
use tokio::sync::mpsc;

use super::{AckLayer, Delivery};

/// How long a shutting-down worker waits for the jobs it holds.
const CLOSE_GRACE: Duration = Duration::from_secs(30);

/// Errors the backend could report. It never does: a transient Redis error is
/// retried inside bullmq, and an unreadable job is failed, not surfaced, because any
/// backend error stops an apalis worker.
#[derive(Debug, thiserror::Error)]
#[error("bridge closed")]
pub struct BridgeError;

/// Jobs from BullMQ, as apalis tasks of `Args` (deserialized from the job's data).
pub struct BullmqBackend<Args> {
    rx: mpsc::Receiver<Delivery>,
    worker: Arc<Worker>,
    grace: Duration,
    closing: Option<Pin<Box<dyn Future<Output = ()> + Send>>>,
    _args: PhantomData<fn() -> Args>,
}

impl<Args> BullmqBackend<Args> {
    pub(super) fn new(rx: mpsc::Receiver<Delivery>, worker: Arc<Worker>) -> Self {
        Self {
            rx,
            worker,
            grace: CLOSE_GRACE,
            closing: None,
            _args: PhantomData,
        }
    }

    /// How long shutdown waits for running jobs before leaving them to be picked
    /// up again elsewhere.
    pub fn with_grace(mut self, grace: Duration) -> Self {
        self.grace = grace;
        self
    }
}

impl<Args: DeserializeOwned + Send + 'static> BullmqBackend<Args> {
    fn task(delivery: Delivery) -> Result<Task<Args>, Box<(Delivery, String)>> {
        match serde_json::from_value::<Args>(delivery.job.data().clone()) {
            Ok(args) => {
                // One id per delivery: BullMQ may hand the same job out again while
                // an earlier run is still finishing.
                let id = format!(
                    "{}:{}",
                    delivery.job.id(),
                    delivery.job.token().unwrap_or_default()
                );
                Ok(TaskBuilder::new(args)
                    .task_id(TaskId::from_string(id))
                    .attempt(delivery.attempts_made() as usize)
                    .max_attempts(delivery.max_attempts() as usize)
                    .priority(delivery.job.priority() as usize)
                    .data(delivery)
                    .build())
            }
            Err(e) => Err(Box::new((delivery, e.to_string()))),
        }
    }
}

impl<Args: DeserializeOwned + Send + 'static> Backend for BullmqBackend<Args> {
    type Task = Task<Args>;
    type Error = BridgeError;

    fn poll_ready(
        &mut self,
        _: &mut Context<'_>,
        _: &WorkerContext,
    ) -> Poll<Result<(), BridgeError>> {
        Poll::Ready(Ok(()))
    }

    fn poll_next(
        &mut self,
        cx: &mut Context<'_>,
        _: &WorkerContext,
    ) -> Poll<Option<Result<Task<Args>, BridgeError>>> {
        loop {
            match self.rx.poll_recv(cx) {
                Poll::Ready(Some(delivery)) => match Self::task(delivery) {
                    Ok(task) => return Poll::Ready(Some(Ok(task))),
                    Err(refused) => {
                        let (delivery, reason) = *refused;
                        tracing::error!(queue.id = %delivery.job.id(), %reason, "job data unreadable; failing it");
                        delivery.answer(Err(bullmq::Error::Unrecoverable(format!(
                            "job data is not a valid job envelope: {reason}"
                        ))));
                    }
                },
                Poll::Ready(None) => return Poll::Ready(None),
                Poll::Pending => return Poll::Pending,
            }
        }
    }

    fn poll_close(
        &mut self,
        cx: &mut Context<'_>,
        _: &WorkerContext,
    ) -> Poll<Result<(), BridgeError>> {
        if self.closing.is_none() {
            // Stop taking jobs; those still in the channel go back to waiting.
            self.rx.close();
            while let Ok(delivery) = self.rx.try_recv() {
                drop(delivery);
            }
            let worker = self.worker.clone();
            let grace = self.grace.as_millis() as u64;
            self.closing = Some(Box::pin(async move {
                if let Err(e) = worker.close(grace).await {
                    tracing::warn!(error = %e, "queue worker did not close cleanly");
                }
            }));
        }
        match self.closing.as_mut().map(|f| f.as_mut().poll(cx)) {
            Some(Poll::Pending) => Poll::Pending,
            _ => Poll::Ready(Ok(())),
        }
    }
}

impl<Args> BackendConfig for BullmqBackend<Args> {
    type Args = Args;
    type Id = String;
    type Kind = Ephemeral;
    type Config = ();
    type Layer = AckLayer;

    fn config(&self) -> &() {
        &()
    }

    fn middleware(&mut self, _: &mut WorkerContext) -> AckLayer {
        AckLayer
    }
}
