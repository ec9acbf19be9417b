//! The v7 `UPLOADTHING_TOKEN`: standard base64 of a JSON object with the API key, the
//! app id and the regions.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::Deserialize;

use crate::config::Secret;

/// The ingest host used when the token names none.
const DEFAULT_INGEST_HOST: &str = "ingest.uploadthing.com";

/// What an UploadThing token holds. The API key stays a [`Secret`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Token {
    /// The `sk_…` API key: it authenticates REST calls and signs URLs and webhooks.
    pub api_key: Secret,
    /// The app id, which names the app's file host.
    pub app_id: String,
    /// The app's regions; the first one receives uploads.
    pub regions: Vec<String>,
    /// The ingest host, `ingest.uploadthing.com` unless the token says otherwise.
    pub ingest_host: String,
}

/// Why a token could not be read. The messages never quote the token.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TokenError {
    /// Not standard base64.
    #[error("the token is not base64")]
    NotBase64,
    /// Not the JSON object expected.
    #[error("the token does not hold the expected JSON object ({0})")]
    NotJson(String),
    /// The API key does not start with `sk_`.
    #[error("the token's apiKey does not start with sk_")]
    BadApiKey,
    /// The app id is empty or not usable in a host name.
    #[error("the token's appId is empty or holds characters a host name cannot")]
    BadAppId,
    /// No region is given.
    #[error("the token names no region")]
    NoRegion,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Fields {
    api_key: String,
    app_id: String,
    regions: Vec<String>,
    ingest_host: Option<String>,
}

impl Token {
    /// Reads a token; fields other than the four known ones are ignored.
    pub fn parse(text: &str) -> Result<Self, TokenError> {
        let text = text.trim().trim_matches(|c| c == '\'' || c == '"');
        let json = STANDARD.decode(text).map_err(|_| TokenError::NotBase64)?;
        // serde_json's message names the field, never the value of a string.
        let fields: Fields = serde_json::from_slice(&json).map_err(|err| {
            let message = err.to_string();
            TokenError::NotJson(message.split(" at line").next().unwrap_or("").to_owned())
        })?;
        if !fields.api_key.starts_with("sk_") {
            return Err(TokenError::BadApiKey);
        }
        let host_safe = |c: char| c.is_ascii_alphanumeric() || c == '-';
        if fields.app_id.is_empty() || !fields.app_id.chars().all(host_safe) {
            return Err(TokenError::BadAppId);
        }
        if fields.regions.is_empty() {
            return Err(TokenError::NoRegion);
        }
        Ok(Self {
            api_key: Secret::new(fields.api_key),
            app_id: fields.app_id,
            regions: fields.regions,
            ingest_host: fields.ingest_host.unwrap_or_else(|| DEFAULT_INGEST_HOST.to_owned()),
        })
    }

    /// Encodes a token the way the UploadThing dashboard hands it out (for tests and for
    /// fakes of the service).
    pub fn encode(api_key: &str, app_id: &str, regions: &[&str]) -> String {
        let json = serde_json::json!({ "apiKey": api_key, "appId": app_id, "regions": regions });
        STANDARD.encode(json.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dashboard_token_is_read() {
        // base64 of {"apiKey":"sk_live_abc","appId":"app1","regions":["sea1"]}, made with
        // `printf '%s' '<json>' | base64 -w0`.
        let text =
            "eyJhcGlLZXkiOiJza19saXZlX2FiYyIsImFwcElkIjoiYXBwMSIsInJlZ2lvbnMiOlsic2VhMSJdfQ==";
        let token = Token::parse(text).unwrap();
        assert_eq!(token.api_key.expose(), "sk_live_abc");
        assert_eq!(token.app_id, "app1");
        assert_eq!(token.regions, ["sea1"]);
        assert_eq!(token.ingest_host, "ingest.uploadthing.com");
        assert!(!format!("{token:?}").contains("sk_live_abc"));
        assert_eq!(Token::parse(&Token::encode("sk_live_abc", "app1", &["sea1"])), Ok(token));
    }

    #[test]
    fn bad_tokens_are_refused_without_quoting_them() {
        assert_eq!(Token::parse("not base64!"), Err(TokenError::NotBase64));
        let no_sk = Token::encode("pk_abc", "app1", &["sea1"]);
        assert_eq!(Token::parse(&no_sk), Err(TokenError::BadApiKey));
        let no_region = Token::encode("sk_abc", "app1", &[]);
        assert_eq!(Token::parse(&no_region), Err(TokenError::NoRegion));
        let bad_app = Token::encode("sk_abc", "app.evil.com/", &["sea1"]);
        assert_eq!(Token::parse(&bad_app), Err(TokenError::BadAppId));
        let missing = STANDARD.encode(r#"{"apiKey":"sk_secret_value"}"#);
        let err = Token::parse(&missing).unwrap_err();
        assert!(!err.to_string().contains("sk_secret_value"), "{err}");
    }
}
