//! Cancellation across the fleet: the API publishes the BullMQ id of every job it
//! cancels on `<prefix>:<queue>:cancel`; each worker listens and cancels the job if
//! it runs there, so the handler stops at its next step. Missing a message costs
//! little: handlers also check the Job row at every step.

use std::time::Duration;

use ai_video_shared::config::{QueueConfig, RedisConfig};
use futures::StreamExt;

use crate::bridge::BridgeHandle;

/// Listens until the process ends, reconnecting after Redis outages.
pub async fn listen(redis: RedisConfig, queue: QueueConfig, bridge: BridgeHandle) {
    let channel = ai_video_shared::queue::cancel_channel(&queue);
    loop {
        if let Err(e) = listen_once(&redis, &channel, &bridge).await {
            tracing::warn!(error = %e, "cancel listener lost Redis; reconnecting");
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

async fn listen_once(
    redis: &RedisConfig,
    channel: &str,
    bridge: &BridgeHandle,
) -> redis::RedisResult<()> {
    let client = redis::Client::open(redis.url.expose())?;
    let mut pubsub = client.get_async_pubsub().await?;
    pubsub.subscribe(channel).await?;
    let mut messages = pubsub.on_message();
    while let Some(msg) = messages.next().await {
        let queue_id: String = msg.get_payload()?;
        if bridge.cancel_job(&queue_id).await {
            tracing::info!(queue.id = %queue_id, "running job cancelled");
        }
    }
    Ok(())
}
