//! The calls to the operator API and the reading of its answers into the
//! engine's answer types ([`engine::api::answers`]), the ones the Worker
//! writes: a field missing or renamed is an error naming it, not a `0`.

use serde::de::DeserializeOwned;
use serde_json::error::Category;
use serde_json::Value;

use super::ApiArgs;
use crate::credential::Credential;
use crate::Failure;

/// An answer: its text, and the continuation cursor header if any.
pub struct Answer {
    pub text: String,
    pub next: Option<String>,
}

pub struct Client {
    http: reqwest::Client,
    base: String,
    credential: Credential,
}

impl Client {
    /// A client for `--url` with the credential options, or a usage error
    /// without one.
    pub fn new(args: &ApiArgs) -> Result<Client, Failure> {
        Ok(Client {
            http: reqwest::Client::new(),
            base: args.url.trim_end_matches('/').to_owned(),
            credential: Credential::from_args(&args.credential)?,
        })
    }

    pub async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<String>,
    ) -> Result<Answer, Failure> {
        let request = self
            .http
            .request(method, format!("{}{path}", self.base))
            .query(query);
        let mut request = self.credential.apply(request);
        if let Some(body) = body {
            request = request
                .header("Content-Type", "application/json")
                .body(body);
        }
        let response = request
            .send()
            .await
            .map_err(|e| Failure::usage(format!("cannot reach {}: {e}", self.base)))?;
        let status = response.status().as_u16();
        let next = response
            .headers()
            .get("x-next-cursor")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let url = response.url().to_string();
        let text = response.text().await.unwrap_or_default();
        if let Some(hint) = self.credential.access_hint(status, &url, &text) {
            return Err(Failure::refused(format!(
                "{hint} (HTTP {status} from {url})"
            )));
        }
        if !(200..300).contains(&status) {
            return Err(Failure::refused(format!("{status}: {}", refusal(text))));
        }
        Ok(Answer { text, next })
    }

    pub async fn get(&self, path: &str, query: &[(&str, String)]) -> Result<String, Failure> {
        Ok(self
            .call(reqwest::Method::GET, path, query, None)
            .await?
            .text)
    }

    pub async fn post(&self, path: &str, body: Option<String>) -> Result<String, Failure> {
        Ok(self
            .call(reqwest::Method::POST, path, &[], body)
            .await?
            .text)
    }
}

/// What a refusal says: the error body's `message`, else the whole text.
fn refusal(text: String) -> String {
    serde_json::from_str::<Value>(&text)
        .ok()
        .and_then(|v| v["message"].as_str().map(str::to_owned))
        .unwrap_or(text)
}

/// An answer read into its type; a field missing, renamed or of another
/// type is an error that names where.
pub fn decode<T: DeserializeOwned>(text: &str) -> Result<T, Failure> {
    let mut deserializer = serde_json::Deserializer::from_str(text);
    serde_path_to_error::deserialize(&mut deserializer).map_err(|error| {
        let path = error.path().to_string();
        let inner = error.into_inner();
        Failure::refused(match inner.classify() {
            Category::Data => {
                format!("the API's answer is not what this qase-hook reads (at `{path}`): {inner}")
            }
            _ => format!("the API answered non-JSON: {inner}"),
        })
    })
}

/// The answer as it came with `--json`, else read into its type and shown.
pub fn print<T: DeserializeOwned>(
    json: bool,
    text: &str,
    human: impl FnOnce(T),
) -> Result<(), Failure> {
    if json {
        println!("{text}");
        return Ok(());
    }
    human(decode(text)?);
    Ok(())
}
