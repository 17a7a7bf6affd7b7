//! The backend's layer: answers BullMQ with the outcome of each task. It sits
//! outside every user layer, so it sees the final result, panics included.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use apalis_core::error::{AbortError, BoxDynError, RetryAfterError};
use apalis_core::task::Task;
use serde::Serialize;
use tower::{Layer, Service};

use super::{Delivery, now_ms};

#[derive(Debug, Clone, Copy, Default)]
pub struct AckLayer;

impl<S> Layer<S> for AckLayer {
    type Service = AckService<S>;

    fn layer(&self, inner: S) -> AckService<S> {
        AckService { inner }
    }
}

#[derive(Debug, Clone)]
pub struct AckService<S> {
    inner: S,
}

impl<S, Args> Service<Task<Args>> for AckService<S>
where
    S: Service<Task<Args>>,
    S::Future: Send + 'static,
    S::Error: Into<BoxDynError> + Send,
    S::Response: Serialize + Send + Sync + 'static,
{
    type Response = S::Response;
    type Error = BoxDynError;
    type Future = Pin<Box<dyn Future<Output = Result<S::Response, BoxDynError>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxDynError>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, task: Task<Args>) -> Self::Future {
        let delivery = task.ctx().data().get::<Delivery>().cloned();
        let future = self.inner.call(task);
        Box::pin(async move {
            let result = future.await.map_err(Into::into);
            if let Some(delivery) = delivery {
                let reply = outcome(&delivery, &result).await;
                delivery.answer(reply);
            }
            result
        })
    }
}

/// Maps the service's result to what BullMQ should do with the job.
async fn outcome<R: Serialize>(
    delivery: &Delivery,
    result: &Result<R, BoxDynError>,
) -> super::Reply {
    let err = match result {
        Ok(value) => return Ok(serde_json::to_value(value).unwrap_or(serde_json::Value::Null)),
        Err(err) => err,
    };
    if let Some(abort) = find::<AbortError>(err.as_ref()) {
        return Err(bullmq::Error::Unrecoverable(source_text(abort)));
    }
    if let Some(later) = find::<RetryAfterError>(err.as_ref()) {
        let wait = later.get_duration().max(Duration::from_millis(1));
        let at = now_ms() + wait.as_millis() as u64;
        return match delivery.job.move_to_delayed(at).await {
            Ok(()) => Err(bullmq::Error::Delayed),
            Err(e) => {
                tracing::warn!(error = %e, "could not delay the job; failing this attempt instead");
                Err(bullmq::Error::ProcessingError(source_text(later)))
            }
        };
    }
    Err(bullmq::Error::ProcessingError(err.to_string()))
}

/// The first error of type `E` in the chain.
fn find<'a, E: std::error::Error + 'static>(
    mut err: &'a (dyn std::error::Error + 'static),
) -> Option<&'a E> {
    loop {
        if let Some(found) = err.downcast_ref::<E>() {
            return Some(found);
        }
        err = err.source()?;
    }
}

/// The message of the error an `AbortError` or `RetryAfterError` wraps.
fn source_text(err: &dyn std::error::Error) -> String {
    err.source()
        .map(|s| s.to_string())
        .unwrap_or_else(|| err.to_string())
}
