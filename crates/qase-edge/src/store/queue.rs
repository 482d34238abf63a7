//! The two queues' messages in and out, as JSON text, one way each: a
//! message is serialized with `serde_json` and handed to the queue as the
//! object `JSON.parse` makes of it (as the ingest module's messages are,
//! `js/entry.mjs`), and a received body is read back as text with
//! `JSON.stringify`, for its kind's one decode
//! ([`engine::delivery::queue`]). Nothing goes through `serde_wasm_bindgen`,
//! so no message type carries a second serializer or deserializer in the
//! Wasm.

use serde::Serialize;
use worker::{Env, QueueContentType, RawMessage, RawMessageBuilder, SendMessage};

/// Sends `message` to the queue bound as `binding`, after `delay_seconds`.
pub async fn send<T: Serialize>(
    env: &Env,
    binding: &str,
    message: &T,
    delay_seconds: u32,
) -> worker::Result<()> {
    env.queue(binding)?
        .send_raw(outgoing(message, delay_seconds)?)
        .await
}

/// Sends `messages` to the queue bound as `binding`, in one batch, at once.
pub async fn send_batch<T: Serialize>(
    env: &Env,
    binding: &str,
    messages: impl IntoIterator<Item = T>,
) -> worker::Result<()> {
    let batch = messages
        .into_iter()
        .map(|message| outgoing(&message, 0))
        .collect::<worker::Result<Vec<_>>>()?;
    env.queue(binding)?.send_raw_batch(batch).await
}

/// A message's body as its JSON text.
pub fn body_text(message: &RawMessage) -> Result<String, String> {
    js_sys::JSON::stringify(&message.body())
        .map_err(|error| format!("the body is not JSON: {error:?}"))?
        .as_string()
        .ok_or_else(|| "the body is not JSON".to_owned())
}

fn outgoing<T: Serialize>(
    message: &T,
    delay_seconds: u32,
) -> worker::Result<SendMessage<wasm_bindgen::JsValue>> {
    let text = serde_json::to_string(message)?;
    let body = js_sys::JSON::parse(&text)?;
    let builder = RawMessageBuilder::new(body);
    let builder = match delay_seconds {
        0 => builder,
        delay => builder.delay_seconds(delay),
    };
    Ok(builder.build_with_content_type(QueueContentType::Json))
}
