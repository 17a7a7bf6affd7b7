//! The fake Replicate's predictions: the store its handlers share, and the one
//! place a prediction is moved along, its deadline enforced, its files made and
//! its JSON written.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use serde_json::Value;

use super::control::Shared;
use super::media;
use super::prediction::Prediction;
use super::replicate_input::OutputKind;
use super::webhook::WebhookDelivery;

/// A fake Replicate's state, shared by its handlers, its webhook senders and its owner.
pub(crate) struct Replicate {
    pub shared: Arc<Shared>,
    pub inner: Mutex<Inner>,
    /// The `whsec_` key webhooks are signed with.
    pub secret: Mutex<String>,
}

#[derive(Default)]
pub(crate) struct Inner {
    pub predictions: HashMap<String, Prediction>,
    pub order: Vec<String>,
    pub cancelled: Vec<String>,
    pub kinds: HashMap<String, OutputKind>,
    pub versions: HashMap<String, String>,
    pub deliveries: Vec<WebhookDelivery>,
}

/// How a read moves a prediction along.
pub(crate) enum Advance {
    /// A client poll: one step, recorded.
    Poll,
    /// One step of a prediction that moves on its own (it has a webhook).
    Tick,
    /// At least this many steps, as if the client had waited.
    To(u32),
    None,
}

impl Replicate {
    pub fn inner(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn secret(&self) -> MutexGuard<'_, String> {
        self.secret.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Advances prediction `id`, makes its output once it has succeeded, and
    /// returns its JSON; `None` if there is no such prediction.
    pub async fn view(&self, id: &str, advance: Advance) -> Option<Value> {
        let opts = self.shared.opts();
        let render = {
            let mut inner = self.inner();
            let p = inner.predictions.get_mut(id)?;
            p.enforce_deadline();
            match advance {
                Advance::Poll => {
                    p.poll_times.push(Instant::now());
                    p.step(1, &opts);
                }
                Advance::Tick => p.step(1, &opts),
                Advance::To(n) => p.step(n.saturating_sub(p.polls), &opts),
                Advance::None => {}
            }
            p.needs_output()
                .then_some((p.planned.spec, p.planned.count))
        };
        if let Some((spec, count)) = render {
            let urls = match media::render(spec).await {
                Ok(path) => {
                    let expires = {
                        let inner = self.inner();
                        let done = inner.predictions.get(id)?.completed;
                        done.and_then(|at| media::expiry(opts.output_ttl, at))
                    };
                    (0..count)
                        .map(|i| {
                            if let Some(url) = &opts.output_url {
                                return url.clone();
                            }
                            let token =
                                self.shared.files.issue(&path, spec.content_type(), expires);
                            let name = format!("out-{i}.{}", spec.extension());
                            format!("{}/delivery/{token}/{name}", self.shared.base_url)
                        })
                        .collect()
                }
                Err(e) => {
                    let mut inner = self.inner();
                    inner.predictions.get_mut(id)?.fail_with(e);
                    Vec::new()
                }
            };
            let mut inner = self.inner();
            let p = inner.predictions.get_mut(id)?;
            if p.needs_output() {
                p.set_output(urls);
            }
        }
        let inner = self.inner();
        Some(
            inner
                .predictions
                .get(id)?
                .to_json(&self.shared.base_url, &opts),
        )
    }
}
