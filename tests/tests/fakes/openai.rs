//! The fake OpenAI: auth, rate limiting and injected failures, and chat
//! completions (queued replies, usage, response formats, strict schemas).

use std::sync::Arc;
use std::time::Duration;

use ai_video_tests::fakes::{ChatReply, FakeOpenAi, FakeOptions};
use serde_json::{Value, json};

use crate::{Answer, client};

const KEY: &str = "sk-test-0123456789";

pub(super) fn fake() -> FakeOpenAi {
    FakeOpenAi::start(FakeOptions::with_key(KEY))
}

async fn post(fake: &FakeOpenAi, path: &str, body: &Value) -> Answer {
    let resp = client()
        .post(format!("{}{path}", fake.api_base()))
        .bearer_auth(KEY)
        .json(body)
        .send()
        .await
        .expect("request");
    Answer::read(resp).await
}

async fn chat(fake: &FakeOpenAi, body: &Value) -> Answer {
    post(fake, "/chat/completions", body).await
}

pub(super) async fn speech(fake: &FakeOpenAi, body: &Value) -> Answer {
    post(fake, "/audio/speech", body).await
}

fn ask(text: &str) -> Value {
    json!({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": text}]})
}

fn with_schema(schema: Value, strict: bool) -> Value {
    let mut body = ask("Plan the scenes as JSON.");
    body["response_format"] = json!({"type": "json_schema", "json_schema": {
        "name": "scene_plan", "strict": strict, "schema": schema}});
    body
}

#[track_caller]
pub(super) fn assert_error(r: &Answer, status: u16, code: Option<&str>) {
    r.assert_status(status);
    let error = &r.json["error"];
    assert!(error["message"].is_string(), "{}", r.json);
    assert!(error.get("param").is_some(), "{}", r.json);
    assert_eq!(error["code"].as_str(), code, "{}", r.json);
    assert!(r.header("x-request-id").is_some());
}

#[tokio::test]
async fn a_wrong_or_missing_key_is_refused_in_openais_envelope() {
    let fake = fake();
    let url = format!("{}/chat/completions", fake.api_base());
    let wrong = client()
        .post(&url)
        .bearer_auth("sk-wrong-key-123456")
        .json(&ask("hello"))
        .send();
    let r = Answer::read(wrong.await.unwrap()).await;
    assert_error(&r, 401, Some("invalid_api_key"));
    assert_eq!(r.json["error"]["type"], "invalid_request_error");
    assert_eq!(r.json["error"]["param"], Value::Null);
    let message = r.json["error"]["message"].as_str().unwrap();
    assert!(
        message.starts_with("Incorrect API key provided"),
        "{message}"
    );
    assert!(
        !message.contains("sk-wrong-key-123456"),
        "the key is masked"
    );

    let missing = client().post(&url).json(&ask("hello")).send();
    assert_error(
        &Answer::read(missing.await.unwrap()).await,
        401,
        Some("invalid_api_key"),
    );
    let speech_url = format!("{}/audio/speech", fake.api_base());
    let r = client()
        .post(&speech_url)
        .bearer_auth("nope")
        .json(&json!({}))
        .send();
    assert_error(
        &Answer::read(r.await.unwrap()).await,
        401,
        Some("invalid_api_key"),
    );
    assert!(fake.chat_log().is_empty());
    assert!(fake.creates().is_empty(), "refused before the rate limiter");
}

#[tokio::test]
async fn a_rate_limit_answers_429_with_retry_after_and_failures_are_server_errors() {
    let fake = fake();
    fake.set_rate_limit(Some((2, Duration::from_secs(2))));
    let first = chat(&fake, &ask("one")).await;
    first.assert_status(200);
    assert_eq!(first.header("x-ratelimit-remaining-requests"), Some("1"));
    let second = speech(
        &fake,
        &json!({"model": "tts-1", "input": "two", "voice": "alloy", "response_format": "pcm"}),
    )
    .await;
    second.assert_status(200);
    assert_eq!(second.header("x-ratelimit-remaining-requests"), Some("0"));

    for r in [
        chat(&fake, &ask("three")).await,
        speech(&fake, &json!({})).await,
    ] {
        assert_error(&r, 429, Some("rate_limit_exceeded"));
        assert_eq!(r.json["error"]["type"], "requests");
        let retry: u64 = r.header("retry-after").unwrap().parse().unwrap();
        assert!((1..=2).contains(&retry), "{retry}");
    }
    assert_eq!(fake.refused_creates().len(), 2);
    fake.set_rate_limit(None);

    fake.fail_next(1, 503);
    let r = chat(&fake, &ask("four")).await;
    assert_error(&r, 503, None);
    assert_eq!(r.json["error"]["type"], "server_error");
    assert_eq!(
        r.json["error"]["message"],
        "The server had an error while processing your request."
    );
    chat(&fake, &ask("five")).await.assert_status(200);
    assert_eq!(
        fake.chat_log().len(),
        2,
        "refused and failed are not logged"
    );
}

#[tokio::test]
async fn queued_replies_come_back_in_order_with_usage() {
    let fake = fake();
    fake.push_chat(ChatReply::Content(r#"{"scenes":[]}"#.into()));
    fake.push_chat(ChatReply::Refusal("I can't help with that.".into()));
    fake.push_chat(ChatReply::Truncated(r#"{"sce"#.into()));
    fake.push_chat(ChatReply::Filtered);
    assert_eq!(fake.queued_chats(), 4);
    let question = "Plan three scenes about a lighthouse."; // 37 characters
    let mut answers = Vec::new();
    for _ in 0..5 {
        let r = chat(&fake, &ask(question)).await;
        r.assert_status(200);
        for name in [
            "x-request-id",
            "openai-processing-ms",
            "x-ratelimit-remaining-requests",
        ] {
            assert!(r.header(name).is_some(), "{name}");
        }
        answers.push(r.json);
    }
    let got: Vec<(Value, Value, Value)> = answers
        .iter()
        .map(|a| {
            let choice = &a["choices"][0];
            (
                choice["message"]["content"].clone(),
                choice["message"]["refusal"].clone(),
                choice["finish_reason"].clone(),
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            (json!(r#"{"scenes":[]}"#), Value::Null, json!("stop")),
            (Value::Null, json!("I can't help with that."), json!("stop")),
            (json!(r#"{"sce"#), Value::Null, json!("length")),
            (Value::Null, Value::Null, json!("content_filter")),
            (json!("{}"), Value::Null, json!("stop")),
        ]
    );
    let first = &answers[0];
    assert!(first["id"].as_str().unwrap().starts_with("chatcmpl-"));
    assert_eq!(first["object"], "chat.completion");
    assert_eq!(first["model"], "gpt-4o-mini");
    assert!(first["created"].as_i64().is_some());
    assert_eq!(first["choices"][0]["message"]["role"], "assistant");
    let usage = &first["usage"];
    assert_eq!(usage["prompt_tokens"], 10, "ceil(37 / 4)");
    assert_eq!(usage["completion_tokens"], 4, "ceil(13 / 4)");
    assert_eq!(usage["total_tokens"], 14);
    assert_eq!(usage["prompt_tokens_details"]["cached_tokens"], 0);
    assert_eq!(usage["completion_tokens_details"]["reasoning_tokens"], 0);
    assert_eq!(answers[3]["usage"]["completion_tokens"], 1, "at least one");

    let log = fake.chat_log();
    assert_eq!(log.len(), 5);
    assert_eq!(
        log[1].reply,
        ChatReply::Refusal("I can't help with that.".into())
    );
    assert_eq!(log[0].request["messages"][0]["content"], question);
    assert_eq!((log[0].prompt_tokens, log[0].completion_tokens), (10, 4));

    fake.set_chat_responder(Some(Arc::new(|body: &Value| {
        ChatReply::Content(format!("model {}", body["model"].as_str().unwrap_or("")))
    })));
    fake.push_chat(ChatReply::Content("queued first".into()));
    let mut body = ask(question);
    body["model"] = json!("llama3.1:8b");
    let queued = chat(&fake, &body).await;
    assert_eq!(
        queued.json["choices"][0]["message"]["content"],
        "queued first"
    );
    let made = chat(&fake, &body).await;
    assert_eq!(
        made.json["choices"][0]["message"]["content"],
        "model llama3.1:8b"
    );
}

#[tokio::test]
async fn strict_schemas_are_checked_as_structured_outputs_checks_them() {
    let fake = fake();
    let scene = |closed: bool| {
        let mut item = json!({"type": "object",
            "properties": {"title": {"type": "string"}, "seconds": {"type": ["number", "null"]}},
            "required": ["title", "seconds"]});
        if closed {
            item["additionalProperties"] = json!(false);
        }
        json!({"type": "object", "additionalProperties": false, "required": ["scenes"],
               "properties": {"scenes": {"type": "array", "items": item}}})
    };
    let r = chat(&fake, &with_schema(scene(false), true)).await;
    assert_error(&r, 400, None);
    assert_eq!(r.json["error"]["type"], "invalid_request_error");
    assert_eq!(r.json["error"]["param"], "response_format");
    let message = r.json["error"]["message"].as_str().unwrap();
    assert!(message.contains("'scene_plan'"), "{message}");
    assert!(
        message.contains("('properties', 'scenes', 'items')"),
        "{message}"
    );
    assert!(message.contains("'additionalProperties'"), "{message}");
    chat(&fake, &with_schema(scene(false), false))
        .await
        .assert_status(200);
    chat(&fake, &with_schema(scene(true), true))
        .await
        .assert_status(200);

    let mut not_required = scene(true);
    not_required["properties"]["scenes"]["items"]["required"] = json!(["title"]);
    let r = chat(&fake, &with_schema(not_required, true)).await;
    assert_error(&r, 400, None);
    assert!(
        r.json["error"]["message"]
            .as_str()
            .unwrap()
            .contains("Missing 'seconds'")
    );

    let defs = json!({"type": "object", "additionalProperties": false, "required": ["shot"],
        "properties": {"shot": {"anyOf": [{"$ref": "#/$defs/still"}, {"type": "null"}]}},
        "$defs": {"still": {"type": "object", "properties": {"prompt": {"type": "string"}},
                            "required": ["prompt"]}}});
    let r = chat(&fake, &with_schema(defs.clone(), true)).await;
    assert_error(&r, 400, None);
    assert!(
        r.json["error"]["message"]
            .as_str()
            .unwrap()
            .contains("('$defs', 'still')")
    );
    let mut closed = defs;
    closed["$defs"]["still"]["additionalProperties"] = json!(false);
    chat(&fake, &with_schema(closed, true))
        .await
        .assert_status(200);

    let root = json!({"type": "array", "items": {"type": "string"}});
    assert_error(&chat(&fake, &with_schema(root, true)).await, 400, None);
    let mut bad_name = with_schema(scene(true), true);
    bad_name["response_format"]["json_schema"]["name"] = json!("scene plan");
    assert_error(&chat(&fake, &bad_name).await, 400, Some("invalid_value"));
    assert_eq!(fake.chat_log().len(), 3, "only the accepted ones");
}

#[tokio::test]
async fn requests_are_checked_as_openai_checks_them() {
    let fake = fake();
    let mut json_mode = ask("Plan three scenes.");
    json_mode["response_format"] = json!({"type": "json_object"});
    let r = chat(&fake, &json_mode).await;
    assert_error(&r, 400, None);
    assert_eq!(
        r.json["error"]["message"],
        "'messages' must contain the word 'json' in some form, to use 'response_format' of \
         type 'json_object'."
    );
    json_mode["messages"][0]["content"] = json!("Answer in JSON.");
    chat(&fake, &json_mode).await.assert_status(200);

    let empty = json!({"model": "gpt-4o-mini", "messages": []});
    assert_error(&chat(&fake, &empty).await, 400, Some("empty_array"));
    let no_messages = json!({"model": "gpt-4o-mini"});
    assert_error(
        &chat(&fake, &no_messages).await,
        400,
        Some("missing_required_parameter"),
    );
    let bad_role = json!({"model": "m", "messages": [{"role": "narrator", "content": "x"}]});
    let r = chat(&fake, &bad_role).await;
    assert_error(&r, 400, Some("invalid_value"));
    assert_eq!(r.json["error"]["param"], "messages[0].role");
    let mut bad_format = ask("x");
    bad_format["response_format"] = json!({"type": "yaml"});
    assert_error(&chat(&fake, &bad_format).await, 400, Some("invalid_value"));

    fake.set_models(Some(vec!["gpt-4o-mini".into()]));
    let mut other = ask("hello");
    other["model"] = json!("gpt-5-imaginary");
    let r = chat(&fake, &other).await;
    assert_error(&r, 404, Some("model_not_found"));
    assert!(
        r.json["error"]["message"]
            .as_str()
            .unwrap()
            .contains("`gpt-5-imaginary`")
    );
    chat(&fake, &ask("hello")).await.assert_status(200);

    fake.set_moderate_word(Some("forbidden"));
    let r = chat(&fake, &ask("Something FORBIDDEN")).await;
    assert_error(&r, 400, Some("content_policy_violation"));
    let said = json!({"model": "tts-1", "input": "a forbidden line", "voice": "alloy"});
    assert_error(
        &speech(&fake, &said).await,
        400,
        Some("content_policy_violation"),
    );
}
