//! Serves the console's files from the assets binding, with the headers
//! [`engine::console`](engine::http::console) decides.

use worker::wasm_bindgen::JsCast;
use worker::web_sys::{Headers, Request, Response, ResponseInit};
use worker::{Env, Result};

use crate::http::error::ApiError;
use crate::http::respond;
use engine::config::bindings;
use engine::http::console::{self, ConsoleRequest};

/// Carries out [`console::classify`]'s answer for a console request.
pub async fn handle(
    classified: ConsoleRequest,
    req: Request,
    env: &Env,
) -> std::result::Result<Response, ApiError> {
    match classified {
        ConsoleRequest::NotConsole => Err(ApiError::NotFound),
        ConsoleRequest::WrongMethod => Err(ApiError::MethodNotAllowed {
            allow: console::ALLOW.to_owned(),
        }),
        ConsoleRequest::Redirect => redirect().map_err(internal),
        ConsoleRequest::Asset => match env.assets(bindings::ASSETS) {
            Err(_) => Err(ApiError::ConsoleNotDeployed),
            Ok(assets) => asset(&assets, req).await.map_err(internal),
        },
    }
}

/// `GET /api/openapi.json`: the copy of the committed document the build
/// put in the assets ([`console::OPENAPI_ASSET_PATH`]), with the headers of
/// every JSON answer. Without the assets (a deploy without `[assets]`) it
/// answers like the console does then: `404 console_not_deployed`.
pub async fn openapi(env: &Env) -> std::result::Result<Response, ApiError> {
    let assets = env
        .assets(bindings::ASSETS)
        .map_err(|_| ApiError::ConsoleNotDeployed)?;
    let url = format!("https://assets.invalid{}", console::OPENAPI_ASSET_PATH);
    let fetched: Response = assets.fetch(url, None).await.map_err(internal)?.into();
    if fetched.status() != 200 {
        return Err(ApiError::ConsoleNotDeployed);
    }
    respond::json_stream(fetched.body().as_ref(), 200).map_err(internal)
}

fn internal(error: worker::Error) -> ApiError {
    worker::console_error!("console: {error}");
    ApiError::Internal
}

fn redirect() -> Result<Response> {
    let headers = Headers::new()?;
    headers.set("Location", console::CONSOLE_PATH)?;
    let init = ResponseInit::new();
    init.set_status(308);
    init.set_headers(&headers);
    Ok(Response::new_with_opt_str_and_init(None, &init)?)
}

async fn asset(assets: &worker::Fetcher, req: Request) -> Result<Response> {
    let fetched: Response = assets
        .fetch_request(worker::Request::from(req))
        .await?
        .into();
    let fetched: Response = fetched.dyn_into().map_err(|_| "not a Response")?;
    // The fetched response's headers are immutable: copy them, then set ours.
    let headers = Headers::new_with_headers(&fetched.headers())?;
    for (name, value) in console::security_headers() {
        headers.set(name, value)?;
    }
    let init = ResponseInit::new();
    init.set_status(fetched.status());
    init.set_status_text(&fetched.status_text());
    init.set_headers(&headers);
    Ok(Response::new_with_opt_readable_stream_and_init(
        fetched.body().as_ref(),
        &init,
    )?)
}
