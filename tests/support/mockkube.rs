//! A mocked Kubernetes API for reconcile tests (the kube-rs testing approach with `tower-test`):
//! every request the reconcile sends is recorded and answered by a handler the test writes,
//! so a test can both script the API server and assert exactly what the operator wrote. A
//! handler may also answer with a stream of lines that stays open (a watch).

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;
use http::{Request, Response};
use http_body::Frame;
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Full, StreamBody};
use kube::Client;
use kube::client::Body;
use serde_json::Value;
use tokio::sync::mpsc::UnboundedReceiver;

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

/// What a streaming handler answers.
pub enum Reply {
    /// One JSON document.
    Json(Answer),
    /// `200 OK` and then every chunk the sender sends, until it is dropped or `timeout` passes
    /// (the API server ends a watch after its `timeoutSeconds`).
    Stream {
        /// The chunks (one JSON document and a newline each, for a watch).
        chunks: UnboundedReceiver<Bytes>,
        /// When the server ends the stream.
        timeout: Duration,
    },
}

type ResponseBody = UnsyncBoxBody<Bytes, Infallible>;

fn response(reply: Reply) -> Response<ResponseBody> {
    match reply {
        Reply::Json((status, answer)) => Response::builder()
            .status(status)
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from(serde_json::to_vec(&answer).unwrap())).boxed_unsync())
            .unwrap(),
        Reply::Stream { chunks, timeout } => {
            let lines = futures::stream::unfold(chunks, |mut rx| async move {
                rx.recv()
                    .await
                    .map(|chunk| (Ok::<_, Infallible>(Frame::data(chunk)), rx))
            })
            .take_until(tokio::time::sleep(timeout));
            Response::builder()
                .status(200)
                .header("content-type", "application/json")
                .body(StreamBody::new(lines).boxed_unsync())
                .unwrap()
        }
    }
}

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
        Self::streaming(move |r| Reply::Json(handler(r)))
    }

    /// Starts a responder whose `handler` may answer with a stream.
    pub fn streaming(handler: impl Fn(&Recorded) -> Reply + Send + Sync + 'static) -> Self {
        let (service, mut handle) =
            tower_test::mock::pair::<Request<Body>, Response<ResponseBody>>();
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
                let reply = handler(&recorded);
                log.lock().unwrap().push(recorded);
                send.send_response(response(reply));
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
