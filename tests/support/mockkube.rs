//! A mocked Kubernetes API for reconcile tests (the kube-rs testing approach with `tower-test`):
//! every request the reconcile sends is recorded and answered by a handler the test writes,
//! so a test can both script the API server and assert exactly what the operator wrote.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::sync::{Arc, Mutex};

use http::{Request, Response};
use kube::Client;
use kube::client::Body;
use serde_json::Value;

/// One request the operator sent.
#[derive(Clone, Debug)]
pub struct Recorded {
    /// HTTP method.
    pub method: String,
    /// Path and query.
    pub uri: String,
    /// JSON body (Null when empty or not JSON).
    pub body: Value,
    /// The request's content type (a PATCH says merge, apply or JSON patch with it).
    pub content_type: String,
}

/// The handler's answer: HTTP status and JSON body.
pub type Answer = (u16, Value);

/// A mocked API server; dropping it stops the responder.
pub struct MockKube {
    /// A client whose requests go to the handler.
    pub client: Client,
    requests: Arc<Mutex<Vec<Recorded>>>,
    task: tokio::task::JoinHandle<()>,
}

impl MockKube {
    /// Starts a responder that answers every request with `handler`.
    pub fn new(handler: impl Fn(&Recorded) -> Answer + Send + Sync + 'static) -> Self {
        let (service, mut handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let log = requests.clone();
        let task = tokio::spawn(async move {
            while let Some((request, send)) = handle.next_request().await {
                let (parts, body) = request.into_parts();
                let content_type = parts
                    .headers
                    .get(http::header::CONTENT_TYPE)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default()
                    .to_string();
                let bytes = body.collect_bytes().await.unwrap();
                let recorded = Recorded {
                    method: parts.method.to_string(),
                    uri: parts.uri.to_string(),
                    body: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
                    content_type,
                };
                let (status, answer) = handler(&recorded);
                log.lock().unwrap().push(recorded);
                let response = Response::builder()
                    .status(status)
                    .header("content-type", "application/json")
                    .body(Body::from(serde_json::to_vec(&answer).unwrap()))
                    .unwrap();
                send.send_response(response);
            }
        });
        Self {
            client: Client::new(service, "default"),
            requests,
            task,
        }
    }

    /// Every request so far.
    pub fn requests(&self) -> Vec<Recorded> {
        self.requests.lock().unwrap().clone()
    }

    /// The requests whose method is `method` and whose URI contains `fragment`.
    pub fn matching(&self, method: &str, fragment: &str) -> Vec<Recorded> {
        self.requests()
            .into_iter()
            .filter(|r| r.method == method && r.uri.contains(fragment))
            .collect()
    }
}

impl Drop for MockKube {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A Kubernetes `Status` error body.
pub fn status_error(code: u16, reason: &str, message: &str) -> Answer {
    (
        code,
        serde_json::json!({
            "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": message, "reason": reason, "code": code
        }),
    )
}
