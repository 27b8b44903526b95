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

/// What answers each request.
type Handler = Arc<dyn Fn(&Recorded) -> Reply + Send + Sync>;

/// A mocked API server; dropping it stops the responder.
pub struct MockKube {
    /// A client whose requests go to the handler.
    pub client: Client,
    requests: Arc<Mutex<Vec<Recorded>>>,
    handler: Handler,
    task: tokio::task::JoinHandle<()>,
}

/// Reads one request into what a handler sees.
async fn record<B>(request: Request<B>) -> Recorded
where
    B: http_body::Body,
    B::Error: std::fmt::Debug,
{
    let (parts, body) = request.into_parts();
    let content_type = parts
        .headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let bytes = body.collect().await.unwrap().to_bytes();
    Recorded {
        method: parts.method.to_string(),
        uri: parts.uri.to_string(),
        body: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        content_type,
    }
}

impl MockKube {
    /// Starts a responder that answers every request with `handler`.
    pub fn new(handler: impl Fn(&Recorded) -> Answer + Send + Sync + 'static) -> Self {
        Self::streaming(move |r| Reply::Json(handler(r)))
    }

    /// Starts a responder whose `handler` may answer with a stream.
    pub fn streaming(handler: impl Fn(&Recorded) -> Reply + Send + Sync + 'static) -> Self {
        let handler: Handler = Arc::new(handler);
        let (service, mut handle) =
            tower_test::mock::pair::<Request<Body>, Response<ResponseBody>>();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let log = requests.clone();
        let answer = handler.clone();
        let task = tokio::spawn(async move {
            while let Some((request, send)) = handle.next_request().await {
                let recorded = record(request).await;
                let reply = answer(&recorded);
                log.lock().unwrap().push(recorded);
                send.send_response(response(reply));
            }
        });
        Self {
            client: Client::new(service, "default"),
            requests,
            handler,
            task,
        }
    }

    /// Serves the same handler over plain HTTP on a free loopback port, for a process of its
    /// own (`kubepve run` with a kubeconfig naming the address). Requests served this way are
    /// not recorded (a long run would keep every body). Stops when the returned handle is
    /// dropped.
    pub async fn serve_http(&self) -> HttpServer {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a free loopback port");
        let addr = listener.local_addr().expect("the bound address");
        let handler = self.handler.clone();
        let app = axum::Router::new().fallback(move |request: Request<axum::body::Body>| {
            let handler = handler.clone();
            async move {
                let recorded = record(request).await;
                response(handler(&recorded))
            }
        });
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        HttpServer { addr, task }
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

/// A [`MockKube`] handler served over HTTP; dropping it stops the server.
pub struct HttpServer {
    /// Where it listens (127.0.0.1).
    pub addr: std::net::SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl HttpServer {
    /// A kubeconfig for a client of this server (no credentials: the fake asks for none).
    pub fn kubeconfig(&self, namespace: &str) -> String {
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: fake\n  cluster:\n    server: http://{}\n\
             contexts:\n- name: fake\n  context:\n    cluster: fake\n    user: fake\n    namespace: {namespace}\n\
             current-context: fake\nusers:\n- name: fake\n  user: {{}}\n",
            self.addr
        )
    }
}

impl Drop for HttpServer {
    fn drop(&mut self) {
        self.task.abort();
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
