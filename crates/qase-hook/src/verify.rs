//! `qase-hook verify`: checks a forwarded request's Standard Webhooks
//! signature, for people building services behind qase-edge.
//!
//! The request comes as a file (`--request`, `-` for stdin) in this format:
//! header lines `Name: value`, one empty line, then the body exactly as
//! received. Or as `--header` flags and a `--body` file.

use std::collections::BTreeMap;
use std::time::{SystemTime, UNIX_EPOCH};

use clap::Args;
use qase_webhooks::signing::SigningSecret;

use crate::{read_input, Failure};

#[derive(Args)]
pub struct VerifyArgs {
    /// The destination's signing secret, `whsec_...`.
    #[arg(long, env = "QASE_HOOK_SIGNING_SECRET", hide_env_values = true)]
    secret: String,
    /// How far the timestamp may be from now: `300`, `300s`, `5m`, `1h`.
    #[arg(long, default_value = "5m")]
    tolerance: String,
    /// The request: headers, an empty line, the body (`-` for stdin).
    #[arg(long, conflicts_with_all = ["header", "body"])]
    request: Option<String>,
    /// A header, `Name: value` (repeat for each).
    #[arg(long)]
    header: Vec<String>,
    /// A file holding the body exactly as received.
    #[arg(long)]
    body: Option<String>,
}

fn parse_tolerance(text: &str) -> Result<u64, Failure> {
    let (number, unit) = match text
        .trim()
        .char_indices()
        .find(|(_, c)| !c.is_ascii_digit())
    {
        Some((at, _)) => text.trim().split_at(at),
        None => (text.trim(), "s"),
    };
    let n: u64 = number.parse().map_err(|_| {
        Failure::usage(format!(
            "bad --tolerance `{text}`: use e.g. 300, 300s, 5m, 1h"
        ))
    })?;
    match unit {
        "s" => Ok(n),
        "m" => Ok(n * 60),
        "h" => Ok(n * 3600),
        _ => Err(Failure::usage(format!(
            "bad --tolerance `{text}`: use e.g. 300, 300s, 5m, 1h"
        ))),
    }
}

fn parse_request(bytes: &[u8]) -> (BTreeMap<String, String>, Vec<u8>) {
    let (head, body) = match bytes.windows(2).position(|w| w == b"\n\n") {
        Some(at) => (&bytes[..at], bytes[at + 2..].to_vec()),
        None => match bytes.windows(4).position(|w| w == b"\r\n\r\n") {
            Some(at) => (&bytes[..at], bytes[at + 4..].to_vec()),
            None => (bytes, Vec::new()),
        },
    };
    let headers = String::from_utf8_lossy(head)
        .lines()
        .filter_map(|line| line.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    (headers, body)
}

pub fn run(args: VerifyArgs) -> Result<(), Failure> {
    let secret =
        SigningSecret::parse(&args.secret).map_err(|e| Failure::usage(format!("--secret: {e}")))?;
    let tolerance = parse_tolerance(&args.tolerance)?;
    let (headers, body) = match &args.request {
        Some(path) => parse_request(&read_input(path)?),
        None => {
            let headers = args
                .header
                .iter()
                .map(|h| {
                    h.split_once(':')
                        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
                        .ok_or_else(|| {
                            Failure::usage(format!("bad --header `{h}`: use `Name: value`"))
                        })
                })
                .collect::<Result<_, _>>()?;
            let body = match &args.body {
                Some(path) => read_input(path)?,
                None => {
                    return Err(Failure::usage(
                        "give --request, or --header flags and --body",
                    ))
                }
            };
            (headers, body)
        }
    };
    let get = |name: &str| headers.get(name).map(String::as_str).unwrap_or("");
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    secret
        .verify(
            get("webhook-id"),
            get("webhook-timestamp"),
            get("webhook-signature"),
            &body,
            now,
            tolerance,
        )
        .map_err(|e| Failure::refused(format!("signature invalid: {e}")))?;
    println!("signature valid: webhook-id {}", get("webhook-id"));
    Ok(())
}
