//! Live events for the SSE streams of this replica: one Redis subscription to the
//! announcer's channel (`ai_video_shared::announce`), fanned out in process to every
//! open stream, and the single-use tickets a browser's `EventSource` presents
//! instead of a header.
//!
//! A notice only wakes the streams it concerns; each stream then reads the event log
//! after the last id it sent, so a lost or late notice delays an event but never
//! drops or repeats one.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ai_video_shared::announce::{Notice, channel};
use ai_video_shared::config::{QueueConfig, RedisConfig};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use futures::StreamExt;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use tokio::sync::broadcast;

use ai_video_shared::store::Viewer;

/// Notices buffered per owner; a stream that falls further behind rereads the log.
const CAPACITY: usize = 64;

/// What streams hear: a notice, or `None` for "reread, something may have been
/// missed" (after Redis comes back).
pub type Heard = Option<Arc<Notice>>;

/// The in-process fan-out: one channel per owner with open streams, so a notice
/// wakes only the streams of its owner, however many others are open.
#[derive(Clone, Default)]
pub struct Hub {
    owners: Arc<Mutex<HashMap<String, broadcast::Sender<Heard>>>>,
}

/// A stream's place in the hub; leaving it drops the owner's channel when it was
/// the last one listening.
pub struct Subscription {
    hub: Hub,
    owner: String,
    pub heard: broadcast::Receiver<Heard>,
}

impl Drop for Subscription {
    fn drop(&mut self) {
        let mut owners = self.hub.owners.lock().expect("hub lock");
        if owners
            .get(&self.owner)
            .is_some_and(|tx| tx.receiver_count() <= 1)
        {
            owners.remove(&self.owner);
        }
    }
}

impl Hub {
    /// Listens for the notices of `owner`'s events.
    pub fn subscribe(&self, owner: &str) -> Subscription {
        let mut owners = self.owners.lock().expect("hub lock");
        let heard = owners
            .entry(owner.to_owned())
            .or_insert_with(|| broadcast::channel(CAPACITY).0)
            .subscribe();
        Subscription {
            hub: self.clone(),
            owner: owner.to_owned(),
            heard,
        }
    }

    /// Open streams on this replica.
    pub fn streams(&self) -> usize {
        let owners = self.owners.lock().expect("hub lock");
        owners.values().map(|tx| tx.receiver_count()).sum()
    }

    fn tell(&self, notice: Notice) {
        let owners = self.owners.lock().expect("hub lock");
        if let Some(tx) = owners.get(&notice.owner) {
            let _ = tx.send(Some(Arc::new(notice)));
        }
    }

    fn tell_everyone(&self) {
        let owners = self.owners.lock().expect("hub lock");
        for tx in owners.values() {
            let _ = tx.send(None);
        }
    }

    /// Listens on Redis until the process ends, reconnecting after outages.
    pub async fn listen(self, redis: RedisConfig, queue: QueueConfig) {
        let channel = channel(&queue);
        let mut reported = false;
        loop {
            match self.listen_once(&redis, &channel).await {
                Ok(()) => reported = false,
                Err(e) if !reported => {
                    tracing::warn!(error = %e, "event listener lost Redis; reconnecting");
                    reported = true;
                }
                Err(_) => {}
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }

    async fn listen_once(&self, redis: &RedisConfig, channel: &str) -> redis::RedisResult<()> {
        let client = redis::Client::open(redis.url.expose())?;
        let mut pubsub = client.get_async_pubsub().await?;
        pubsub.subscribe(channel).await?;
        // Whatever was announced while nobody listened is in the log.
        self.tell_everyone();
        let mut messages = pubsub.on_message();
        while let Some(msg) = messages.next().await {
            let payload: String = msg.get_payload()?;
            match serde_json::from_str::<Notice>(&payload) {
                Ok(notice) => self.tell(notice),
                Err(e) => tracing::debug!(error = %e, "ignoring a malformed event notice"),
            }
        }
        Ok(())
    }
}

/// Why a ticket is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TicketError {
    Invalid,
    Expired,
}

/// Signs and checks tickets: `<payload>.<signature>`, both base64url, the payload
/// `user \n admin \n expires \n nonce`.
#[derive(Clone)]
pub struct Tickets {
    key: Vec<u8>,
    pub ttl: Duration,
}

impl std::fmt::Debug for Tickets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tickets")
            .field("ttl", &self.ttl)
            .finish_non_exhaustive()
    }
}

/// A checked ticket: who it speaks for, and its nonce (to be used once).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ticket {
    pub viewer: Viewer,
    pub nonce: String,
    pub expires: i64,
}

impl Tickets {
    /// Tickets keyed from another secret (the media signing key).
    pub fn derived(secret: &[u8], ttl: Duration) -> Self {
        let mut m = <Hmac<Sha256> as KeyInit>::new_from_slice(secret).expect("any key length");
        m.update(b"ai-video event tickets");
        Self {
            key: m.finalize().into_bytes().to_vec(),
            ttl,
        }
    }

    fn mac(&self, payload: &[u8]) -> Vec<u8> {
        let mut m = <Hmac<Sha256> as KeyInit>::new_from_slice(&self.key).expect("any key length");
        m.update(payload);
        m.finalize().into_bytes().to_vec()
    }

    /// A ticket for `viewer`, valid for the ticket lifetime from `now`.
    pub fn issue(&self, viewer: &Viewer, now: i64) -> (String, i64) {
        let expires = now + self.ttl.as_secs() as i64;
        let nonce = uuid::Uuid::new_v4().simple().to_string();
        let payload = format!(
            "{}\n{}\n{expires}\n{nonce}",
            viewer.user_id,
            u8::from(viewer.is_admin)
        );
        let ticket = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(payload.as_bytes()),
            URL_SAFE_NO_PAD.encode(self.mac(payload.as_bytes()))
        );
        (ticket, expires)
    }

    /// Checks the signature and the expiry (not the single use: see the caller).
    pub fn check(&self, ticket: &str, now: i64) -> Result<Ticket, TicketError> {
        let (payload, signature) = ticket.split_once('.').ok_or(TicketError::Invalid)?;
        let payload = URL_SAFE_NO_PAD
            .decode(payload)
            .map_err(|_| TicketError::Invalid)?;
        let signature = URL_SAFE_NO_PAD
            .decode(signature)
            .map_err(|_| TicketError::Invalid)?;
        let mut m = <Hmac<Sha256> as KeyInit>::new_from_slice(&self.key).expect("any key length");
        m.update(&payload);
        m.verify_slice(&signature)
            .map_err(|_| TicketError::Invalid)?;
        let text = String::from_utf8(payload).map_err(|_| TicketError::Invalid)?;
        let parts: Vec<&str> = text.split('\n').collect();
        let [user, admin, expires, nonce] = parts[..] else {
            return Err(TicketError::Invalid);
        };
        let expires: i64 = expires.parse().map_err(|_| TicketError::Invalid)?;
        if expires < now {
            return Err(TicketError::Expired);
        }
        Ok(Ticket {
            viewer: Viewer {
                user_id: user.to_owned(),
                is_admin: admin == "1",
            },
            nonce: nonce.to_owned(),
            expires,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tickets_verify_until_they_expire_and_not_after_tampering() {
        let t = Tickets::derived(b"0123456789abcdef0123456789abcdef", Duration::from_secs(60));
        let viewer = Viewer {
            user_id: "alice".into(),
            is_admin: false,
        };
        let (ticket, expires) = t.issue(&viewer, 1_000);
        assert_eq!(expires, 1_060);
        let checked = t.check(&ticket, 1_030).unwrap();
        assert_eq!(checked.viewer, viewer);
        assert_eq!(t.check(&ticket, 1_061), Err(TicketError::Expired));
        let (payload, sig) = ticket.split_once('.').unwrap();
        let forged = URL_SAFE_NO_PAD.encode("alice\n1\n9999\nx");
        assert_eq!(
            t.check(&format!("{forged}.{sig}"), 1_000),
            Err(TicketError::Invalid)
        );
        assert_eq!(t.check(payload, 1_000), Err(TicketError::Invalid));
        let other = Tickets::derived(b"another key of thirty-two bytes!", Duration::from_secs(60));
        assert_eq!(other.check(&ticket, 1_000), Err(TicketError::Invalid));
    }
}
