//! The two HTTP calls of file recognition. Both carry the app key, access key, resource id and
//! request id in headers; the outcome is in the `X-Api-Status-Code`/`X-Api-Message` answer
//! headers (submit answers with an empty body).
use std::time::Duration;

use bytes::Bytes;
use secrecy::{ExposeSecret, SecretString};

use super::protocol::{self, Status, SubmitBody};
use crate::egress::EgressPolicy;
use crate::providers::http::{
    body_excerpt, build_client, classify_transport, parse_retry_after, read_body_capped,
    MAX_BODY_BYTES,
};
use crate::providers::ProviderError;

/// One answer: its classified status, the server's log id (for support tickets) and the body.
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: Status,
    /// The raw `X-Api-Status-Code`, for the few codes whose meaning depends on context.
    pub api_code: Option<i64>,
    pub logid: Option<String>,
    pub body: Bytes,
}

#[derive(Debug, Clone)]
pub struct Client {
    provider: String,
    http: reqwest::Client,
    timeout: Duration,
    submit_url: String,
    query_url: String,
    app_key: String,
    resource_id: String,
}

impl Client {
    pub fn new(
        provider: &str,
        submit_url: &str,
        query_url: &str,
        app_key: &str,
        resource_id: &str,
        timeout: Duration,
        egress: &EgressPolicy,
    ) -> Result<Client, ProviderError> {
        Ok(Client {
            provider: provider.to_string(),
            http: build_client(provider, timeout, egress)?,
            timeout,
            submit_url: submit_url.trim().to_string(),
            query_url: query_url.trim().to_string(),
            app_key: app_key.trim().to_string(),
            resource_id: resource_id.trim().to_string(),
        })
    }

    /// `POST …/submit` for `request_id`.
    pub async fn submit(
        &self,
        key: &SecretString,
        request_id: &str,
        body: &SubmitBody,
    ) -> Result<Answer, ProviderError> {
        let req = self
            .request(&self.submit_url, key, request_id)
            .header("X-Api-Sequence", "-1")
            .json(body);
        self.exchange(req, key).await
    }

    /// `POST …/query` for `request_id` (the body is an empty JSON object).
    pub async fn query(
        &self,
        key: &SecretString,
        request_id: &str,
    ) -> Result<Answer, ProviderError> {
        let req = self
            .request(&self.query_url, key, request_id)
            .header("Content-Type", "application/json")
            .body("{}");
        self.exchange(req, key).await
    }

    fn request(&self, url: &str, key: &SecretString, request_id: &str) -> reqwest::RequestBuilder {
        self.http
            .post(url)
            .header("X-Api-App-Key", &self.app_key)
            .header("X-Api-Access-Key", key.expose_secret())
            .header("X-Api-Resource-Id", &self.resource_id)
            .header("X-Api-Request-Id", request_id)
    }

    async fn exchange(
        &self,
        req: reqwest::RequestBuilder,
        key: &SecretString,
    ) -> Result<Answer, ProviderError> {
        let mut resp = req
            .send()
            .await
            .map_err(|e| classify_transport(&self.provider, self.timeout, &e))?;
        let http_status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let header = |name: &str| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(|v| v.trim().to_string())
        };
        let api_code = header("X-Api-Status-Code").and_then(|c| c.parse::<i64>().ok());
        // The gateway may echo the key in an auth error message; never keep it.
        let message = header("X-Api-Message")
            .map(|m| m.replace(key.expose_secret(), "[redacted]"))
            .unwrap_or_default();
        let body =
            match read_body_capped(&self.provider, self.timeout, &mut resp, MAX_BODY_BYTES).await {
                Ok(body) => body,
                // A failed answer is classified by its status even when the body is unreadable.
                Err(e) if api_code.is_some_and(|c| c != protocol::code::OK) => {
                    tracing::debug!(error = %e, "volcano error body unreadable");
                    Bytes::new()
                }
                Err(e) => return Err(e),
            };
        let message = if message.is_empty() {
            body_excerpt(&body, Some(key.expose_secret()))
        } else {
            message
        };
        Ok(Answer {
            api_code,
            status: protocol::classify(
                &self.provider,
                api_code,
                &message,
                http_status,
                parse_retry_after(&headers, chrono::Utc::now()),
            ),
            logid: header("X-Tt-Logid"),
            body,
        })
    }
}
