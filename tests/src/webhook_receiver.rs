//! A webhook receiver that checks deliveries the way a user's would: the
//! `tests/python/webhook_receiver.py` server, verifying each one with the reference
//! Standard Webhooks library, run by the Python of `TEST_PYTHON`. Each name under
//! `/hooks/` is a receiver of its own, with its secrets and a plan of answers.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde::Deserialize;
use serde_json::{Value, json};

use crate::worker::WorkerTweaks;
use crate::{Backend, Options, TestApp};

/// One delivery the receiver got.
#[derive(Debug, Clone, Deserialize)]
pub struct Delivery {
    pub name: String,
    pub webhook_id: Option<String>,
    pub timestamp: Option<String>,
    /// The `webhook-signature` header as sent.
    pub signature: Option<String>,
    /// Whether one of the configured secrets verified it.
    pub verified: bool,
    /// The index of the secret that verified it.
    pub verified_with: Option<usize>,
    pub error: Option<String>,
    #[serde(rename = "type")]
    pub event_type: Option<String>,
    pub body: Value,
    pub status_answered: u16,
    /// Unix seconds.
    pub received_at: f64,
}

impl Delivery {
    /// `data.story_id` of the payload.
    pub fn story(&self) -> Option<&str> {
        self.body["data"]["story_id"].as_str()
    }

    /// The signatures the header carries.
    pub fn signature_count(&self) -> usize {
        self.signature
            .as_deref()
            .map_or(0, |s| s.split_whitespace().count())
    }
}

/// The running receiver; killed on drop.
pub struct WebhookReceiver {
    port: u16,
    child: Child,
    client: reqwest::Client,
}

impl WebhookReceiver {
    /// Starts the receiver on a free port.
    pub fn start() -> Self {
        let python = std::env::var("TEST_PYTHON").unwrap_or_else(|_| {
            panic!(
                "TEST_PYTHON is not set: it names a Python with standardwebhooks installed; \
                 run the tests through scripts/test.sh, which makes one"
            )
        });
        let script =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("python/webhook_receiver.py");
        let mut child = Command::new(&python)
            .arg("-u")
            .arg(&script)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {python} {}: {e}", script.display()));
        let mut line = String::new();
        let read = child
            .stdout
            .take()
            .map(|out| BufReader::new(out).read_line(&mut line));
        let port = match (read, line.trim().parse::<u16>()) {
            (Some(Ok(_)), Ok(port)) => port,
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                panic!("the webhook receiver did not print its port (got {line:?})");
            }
        };
        Self {
            port,
            child,
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .build()
                .expect("client"),
        }
    }

    /// `127.0.0.1:port`, as `OUTBOUND_ALLOW_HOSTS` names it.
    pub fn host_port(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Where deliveries for `name` go.
    pub fn url(&self, name: &str) -> String {
        format!("http://{}/hooks/{name}", self.host_port())
    }

    /// Sets the secrets `name` verifies with and the status codes it answers, in
    /// order (the last one repeats); restarts the plan.
    pub async fn configure(&self, name: &str, secrets: &[&str], plan: &[u16]) {
        self.configure_with(name, secrets, plan, None).await;
    }

    /// [`WebhookReceiver::configure`], answering with `Retry-After: retry_after`.
    pub async fn configure_with(
        &self,
        name: &str,
        secrets: &[&str],
        plan: &[u16],
        retry_after: Option<u64>,
    ) {
        let r = self
            .client
            .put(format!("http://{}/_control/{name}", self.host_port()))
            .json(&json!({"secrets": secrets, "plan": plan, "retry_after": retry_after}))
            .send()
            .await
            .expect("the webhook receiver answers");
        assert!(r.status().is_success(), "configure {name}: {}", r.status());
    }

    /// Every delivery so far, oldest first.
    pub async fn log(&self) -> Vec<Delivery> {
        self.client
            .get(format!("http://{}/_log", self.host_port()))
            .send()
            .await
            .expect("the webhook receiver answers")
            .json()
            .await
            .expect("the log is JSON")
    }

    /// The deliveries to `name` so far, oldest first.
    pub async fn log_of(&self, name: &str) -> Vec<Delivery> {
        self.log()
            .await
            .into_iter()
            .filter(|d| d.name == name)
            .collect()
    }

    /// Polls the log until `check` holds for it, and answers it; panics with the log
    /// after `timeout`.
    pub async fn wait_for(
        &self,
        check: impl Fn(&[Delivery]) -> bool,
        timeout: Duration,
    ) -> Vec<Delivery> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let log = self.log().await;
            if check(&log) {
                return log;
            }
            if tokio::time::Instant::now() >= deadline {
                panic!("the webhook receiver did not get there in {timeout:?}; its log: {log:#?}");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl WebhookReceiver {
    /// An API on `backend` whose webhook endpoints may point at this receiver.
    pub fn options(&self, backend: Backend) -> Options {
        Options {
            backend,
            outbound_allow_hosts: Some(self.host_port()),
            ..Options::default()
        }
    }

    /// A worker that may deliver to this receiver, with `env` besides.
    pub fn worker(&self, env: &[(&str, &str)]) -> WorkerTweaks {
        let mut all = vec![("OUTBOUND_ALLOW_HOSTS".to_string(), self.host_port())];
        all.extend(env.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        WorkerTweaks {
            env: all,
            ..WorkerTweaks::default()
        }
    }
}

impl Drop for WebhookReceiver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// How long the helpers below wait for the worker to settle a delivery.
const SETTLE: Duration = Duration::from_secs(20);

impl TestApp {
    /// Registers a webhook endpoint; answers its id and its secret.
    pub async fn register_webhook(&self, token: &str, body: Value) -> (String, String) {
        let r = self.post("webhooks/", token, body).await;
        r.assert_status(201);
        let secret = r.body["secret"].as_str().expect("secret").to_string();
        assert!(secret.starts_with("whsec_"), "{}", r.text);
        (r.body["id"].as_str().expect("id").to_string(), secret)
    }

    /// An endpoint's deliveries (up to 100), newest first.
    pub async fn deliveries(&self, token: &str, endpoint: &str) -> Vec<Value> {
        let r = self
            .get(
                &format!("webhooks/{endpoint}/deliveries/?page_size=100"),
                token,
            )
            .await;
        r.assert_status(200);
        r.body["results"].as_array().expect("results").clone()
    }

    /// Waits until none of an endpoint's deliveries is pending; answers them.
    pub async fn settled_deliveries(&self, token: &str, endpoint: &str) -> Vec<Value> {
        let deadline = tokio::time::Instant::now() + SETTLE;
        loop {
            let list = self.deliveries(token, endpoint).await;
            if list.iter().all(|d| d["status"] != "pending") {
                return list;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "deliveries still pending after {SETTLE:?}: {list:#?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Polls an endpoint until `check` holds for it; answers it.
    pub async fn webhook_until(
        &self,
        token: &str,
        endpoint: &str,
        check: impl Fn(&Value) -> bool,
    ) -> Value {
        let deadline = tokio::time::Instant::now() + SETTLE;
        loop {
            let r = self.get(&format!("webhooks/{endpoint}/"), token).await;
            r.assert_status(200);
            if check(&r.body) {
                return r.body;
            }
            assert!(tokio::time::Instant::now() < deadline, "{}", r.text);
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// The response codes of a listed delivery's attempts, oldest first.
pub fn attempt_codes(delivery: &Value) -> Vec<Value> {
    delivery["attempt_log"]
        .as_array()
        .expect("attempt_log")
        .iter()
        .map(|a| a["response_code"].clone())
        .collect()
}
