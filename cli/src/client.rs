//! A blocking client for a node's local API.

use std::path::Path;
use std::time::Duration;

use serde_json::Value;

use crate::datadir::{API_ADDR_FILE, API_TOKEN_FILE};

/// Exit codes of the `stoop` CLI, one per kind of failure.
pub mod exit {
    /// Success.
    pub const OK: u8 = 0;
    /// Anything not covered below.
    pub const FAILURE: u8 = 1;
    /// Bad usage (flags, arguments, ids).
    pub const USAGE: u8 = 2;
    /// The node could not be reached (or found).
    pub const UNREACHABLE: u8 = 3;
    /// The node refused the token.
    pub const UNAUTHORIZED: u8 = 4;
    /// The node (or the CLI's own check) refused the request, with a reason.
    pub const REJECTED: u8 = 5;
    /// No such alert, member or endpoint.
    pub const NOT_FOUND: u8 = 6;
}

/// Why a call failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// Bad input before anything was sent.
    #[error("{0}")]
    Usage(String),
    /// No node at the address, or no address/token files.
    #[error("cannot reach the node: {0}")]
    Unreachable(String),
    /// 401.
    #[error("unauthorized: {0}")]
    Unauthorized(String),
    /// Refused by validation (400, 409, 413, 422, 429), with the named reason.
    #[error("rejected ({reason}): {message}")]
    Rejected {
        /// Stable reason code.
        reason: String,
        /// Explanation.
        message: String,
    },
    /// 404.
    #[error("not found: {0}")]
    NotFound(String),
    /// Anything else (5xx, unreadable answer).
    #[error("{0}")]
    Other(String),
}

impl ClientError {
    /// The exit code for this error.
    pub fn exit_code(&self) -> u8 {
        match self {
            ClientError::Usage(_) => exit::USAGE,
            ClientError::Unreachable(_) => exit::UNREACHABLE,
            ClientError::Unauthorized(_) => exit::UNAUTHORIZED,
            ClientError::Rejected { .. } => exit::REJECTED,
            ClientError::NotFound(_) => exit::NOT_FOUND,
            ClientError::Other(_) => exit::FAILURE,
        }
    }
}

/// A node's API.
#[derive(Debug, Clone)]
pub struct Client {
    base: String,
    token: String,
    http: reqwest::blocking::Client,
}

fn read_trimmed(path: &Path, what: &str) -> Result<String, ClientError> {
    std::fs::read_to_string(path).map(|s| s.trim().to_owned()).map_err(|e| {
        ClientError::Unreachable(format!("cannot read the {what} file {}: {e} (is stoopd running?)", path.display()))
    })
}

impl Client {
    /// A client for `url` with `token`.
    pub fn new(url: &str, token: &str) -> Result<Self, ClientError> {
        let http = reqwest::blocking::Client::builder()
            .timeout(Duration::from_secs(15))
            .build()
            .map_err(|e| ClientError::Other(e.to_string()))?;
        Ok(Self { base: url.trim_end_matches('/').to_owned(), token: token.to_owned(), http })
    }

    /// Finds the node from its data directory (`api.addr`, `api.token`).
    pub fn from_data_dir(dir: &Path) -> Result<Self, ClientError> {
        let addr = read_trimmed(&dir.join(API_ADDR_FILE), "API address")?;
        let token = read_trimmed(&dir.join(API_TOKEN_FILE), "API token")?;
        Self::new(&format!("http://{addr}"), &token)
    }

    /// A remote node: URL plus a token file.
    pub fn from_url(url: &str, token_file: &Path) -> Result<Self, ClientError> {
        let token = read_trimmed(token_file, "token")?;
        Self::new(url, &token)
    }

    fn check(resp: reqwest::blocking::Response) -> Result<Value, ClientError> {
        let status = resp.status().as_u16();
        let body: Value = resp.json().unwrap_or(Value::Null);
        if (200..300).contains(&status) {
            return Ok(body);
        }
        let reason = body["error"]["reason"].as_str().unwrap_or("unknown").to_owned();
        let message = body["error"]["message"].as_str().unwrap_or("").to_owned();
        Err(match status {
            401 => ClientError::Unauthorized(message),
            404 => ClientError::NotFound(message),
            400 | 409 | 413 | 422 | 429 => ClientError::Rejected { reason, message },
            _ => ClientError::Other(format!("node answered {status}: {message}")),
        })
    }

    fn transport(&self, e: reqwest::Error) -> ClientError {
        ClientError::Unreachable(format!("{}: {e}", self.base))
    }

    /// GET a JSON resource.
    pub fn get(&self, path: &str) -> Result<Value, ClientError> {
        self.get_query(path, &[])
    }

    /// GET a JSON resource with query parameters, which the client encodes
    /// (so a value may hold `&`, `=`, `#`, spaces or any other text).
    pub fn get_query(&self, path: &str, query: &[(&str, String)]) -> Result<Value, ClientError> {
        let resp = self
            .http
            .get(format!("{}{path}", self.base))
            .query(query)
            .bearer_auth(&self.token)
            .send()
            .map_err(|e| self.transport(e))?;
        Self::check(resp)
    }

    /// POST a JSON body.
    pub fn post(&self, path: &str, body: &Value) -> Result<Value, ClientError> {
        let resp = self
            .http
            .post(format!("{}{path}", self.base))
            .bearer_auth(&self.token)
            .json(body)
            .send()
            .map_err(|e| self.transport(e))?;
        Self::check(resp)
    }

    /// Streams the live feed: calls `on_event` with each event's JSON until
    /// the stream ends or `on_event` returns false.
    pub fn follow(&self, mut on_event: impl FnMut(Value) -> bool) -> Result<(), ClientError> {
        use std::io::BufRead;
        let http = reqwest::blocking::Client::builder()
            .timeout(None)
            .build()
            .map_err(|e| ClientError::Other(e.to_string()))?;
        let resp = http
            .get(format!("{}/v1/events", self.base))
            .bearer_auth(&self.token)
            .send()
            .map_err(|e| self.transport(e))?;
        if !resp.status().is_success() {
            return Self::check(resp).map(|_| ());
        }
        for line in std::io::BufReader::new(resp).lines() {
            let line = line.map_err(|e| ClientError::Unreachable(e.to_string()))?;
            if let Some(data) = line.strip_prefix("data:")
                && let Ok(v) = serde_json::from_str::<Value>(data.trim())
                && !on_event(v)
            {
                return Ok(());
            }
        }
        Ok(())
    }
}
