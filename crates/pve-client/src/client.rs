//! The client and its builder: one reqwest connection pool over rustls, the cap on requests in
//! flight, authentication (token header, or ticket cookie plus CSRF header), the retry policy,
//! the metrics hook, and the one place where answers become data or an [`Error`].

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::Method;
use serde::de::DeserializeOwned;
use tokio::sync::{Mutex, Semaphore};
use url::Url;

use crate::auth::{Auth, Secret, TICKET_RENEW_AFTER, Ticket, TicketAnswer};
use crate::base_url::normalise_base;
use crate::error::classify;
use crate::metrics::{CallRecord, Metrics};
use crate::retry::RetryPolicy;
use crate::tls::{Tls, client_config};
use crate::{Error, Params};

/// Default cap on requests in flight; PVE serves API calls with 3 worker processes per daemon.
pub const DEFAULT_MAX_IN_FLIGHT: usize = 8;

/// Builds a [`Client`]: the endpoint and credentials are required, the rest has defaults.
pub struct ClientBuilder {
    base_url: String,
    auth: Auth,
    tls: Tls,
    timeout: Duration,
    connect_timeout: Duration,
    max_in_flight: usize,
    user_agent: String,
    retry: RetryPolicy,
    metrics: Option<Arc<dyn Metrics>>,
    ticket_renew_after: Duration,
}

impl fmt::Debug for ClientBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientBuilder")
            .field("base_url", &self.base_url)
            .field("auth", &self.auth)
            .field("tls", &self.tls)
            .field("max_in_flight", &self.max_in_flight)
            .finish_non_exhaustive()
    }
}

impl ClientBuilder {
    /// Trust for the server certificate (default: system roots).
    pub fn tls(mut self, tls: Tls) -> Self {
        self.tls = tls;
        self
    }
    /// Whole-request timeout (default 30 s). A timeout after sending is
    /// [`Error::UnknownOutcome`].
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }
    /// Connect timeout (default 10 s).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }
    /// Cap on requests in flight (default [`DEFAULT_MAX_IN_FLIGHT`], minimum 1).
    pub fn max_in_flight(mut self, n: usize) -> Self {
        self.max_in_flight = n.max(1);
        self
    }
    /// The `User-Agent` header.
    pub fn user_agent(mut self, ua: impl Into<String>) -> Self {
        self.user_agent = ua.into();
        self
    }
    /// How reads are retried (writes are only retried when they were never sent).
    pub fn retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }
    /// Where each HTTP call is reported (operation, outcome, duration).
    pub fn metrics(mut self, metrics: Arc<dyn Metrics>) -> Self {
        self.metrics = Some(metrics);
        self
    }
    /// Renew tickets once they are this old (default 1 h; PVE tickets live 2 h).
    pub fn ticket_renew_after(mut self, age: Duration) -> Self {
        self.ticket_renew_after = age;
        self
    }

    /// Build the client. Fails on a bad URL or TLS setting; does not contact the server.
    pub fn build(self) -> Result<Client, Error> {
        let base = normalise_base(&self.base_url)?;
        let http = reqwest::Client::builder()
            .tls_backend_preconfigured(client_config(&self.tls)?)
            .timeout(self.timeout)
            .connect_timeout(self.connect_timeout)
            .user_agent(self.user_agent)
            .pool_max_idle_per_host(self.max_in_flight)
            .no_proxy()
            .build()
            .map_err(|e| Error::Config(e.to_string()))?;
        Ok(Client {
            inner: Arc::new(Inner {
                http,
                base,
                auth: self.auth,
                ticket: Mutex::new(None),
                limiter: Semaphore::new(self.max_in_flight),
                max_in_flight: self.max_in_flight,
                retry: self.retry,
                metrics: self.metrics,
                renew_after: self.ticket_renew_after,
            }),
        })
    }
}

/// A Proxmox VE API client. Cheap to clone; clones share the pool, limit and ticket.
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

struct Inner {
    http: reqwest::Client,
    base: Url,
    auth: Auth,
    ticket: Mutex<Option<Ticket>>,
    limiter: Semaphore,
    max_in_flight: usize,
    retry: RetryPolicy,
    metrics: Option<Arc<dyn Metrics>>,
    renew_after: Duration,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("base", &self.inner.base.as_str())
            .field("auth", &self.inner.auth)
            .field("max_in_flight", &self.inner.max_in_flight)
            .finish_non_exhaustive()
    }
}

impl Client {
    /// Start building a client for `base_url` (`https://host:8006`) with these credentials.
    pub fn builder(base_url: impl Into<String>, auth: Auth) -> ClientBuilder {
        ClientBuilder {
            base_url: base_url.into(),
            auth,
            tls: Tls::default(),
            timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(10),
            max_in_flight: DEFAULT_MAX_IN_FLIGHT,
            user_agent: concat!("kubepve-pve-client/", env!("CARGO_PKG_VERSION")).to_string(),
            retry: RetryPolicy::default(),
            metrics: None,
            ticket_renew_after: TICKET_RENEW_AFTER,
        }
    }

    /// The cap on requests in flight this client was built with: more work at once than
    /// this only queues inside the client.
    pub fn max_in_flight(&self) -> usize {
        self.inner.max_in_flight
    }

    /// Raw GET of `path` (`nodes/pve1/qemu`), for calls without a typed method.
    pub async fn get<T: DeserializeOwned>(&self, path: &str, params: Params) -> Result<T, Error> {
        self.call("get", Method::GET, &split(path), params).await
    }
    /// Raw POST (form body); not retried unless never sent.
    pub async fn post<T: DeserializeOwned>(&self, path: &str, params: Params) -> Result<T, Error> {
        self.call("post", Method::POST, &split(path), params).await
    }
    /// Raw PUT (form body); not retried unless never sent.
    pub async fn put<T: DeserializeOwned>(&self, path: &str, params: Params) -> Result<T, Error> {
        self.call("put", Method::PUT, &split(path), params).await
    }
    /// Raw DELETE (query parameters); not retried unless never sent.
    pub async fn delete<T: DeserializeOwned>(
        &self,
        path: &str,
        params: Params,
    ) -> Result<T, Error> {
        self.call("delete", Method::DELETE, &split(path), params)
            .await
    }

    /// Raw call of any method with an operation name for metrics (`guest_start`, ...); reads are
    /// retried, writes only when never sent.
    pub async fn request<T: DeserializeOwned>(
        &self,
        op: &'static str,
        method: Method,
        path: &str,
        params: Params,
    ) -> Result<T, Error> {
        self.call(op, method, &split(path), params).await
    }

    /// One API call with retries. `op` names the operation for metrics and logs.
    pub(crate) async fn call<T: DeserializeOwned>(
        &self,
        op: &'static str,
        method: Method,
        segments: &[&str],
        params: Params,
    ) -> Result<T, Error> {
        let url = self.url(segments)?;
        let idempotent = method == Method::GET;
        let mut attempt = 0u32;
        let mut relogged = false;
        loop {
            let started = Instant::now();
            let result = self.send_once(&method, &url, &params).await;
            let outcome = match &result {
                Ok(_) => "ok",
                Err(e) => e.kind(),
            };
            // One event per HTTP exchange (`pvectl -v` shows them): never bodies or queries.
            tracing::info!(
                target: "pve_client::request",
                method = %method,
                path = %url.path(),
                status = %match &result {
                    Ok(_) => "200".to_string(),
                    Err(e) => e.status().map_or_else(|| e.kind().to_string(), |s| s.to_string()),
                },
                ms = started.elapsed().as_millis() as u64,
                attempt,
            );
            if let Some(m) = &self.inner.metrics {
                m.record(&CallRecord {
                    op,
                    method: method_name(&method),
                    outcome,
                    attempt,
                    duration: started.elapsed(),
                });
            }
            let err = match result {
                Ok(bytes) => return decode(url.path(), &bytes),
                Err(e) => e,
            };
            // A 401 on a ticket is refused before any handler runs: log in again, once. A
            // refused login leaves no ticket behind, and is not repeated.
            if matches!(err, Error::Auth { .. })
                && matches!(self.inner.auth, Auth::Password { .. })
                && !relogged
                && self.inner.ticket.lock().await.is_some()
            {
                relogged = true;
                *self.inner.ticket.lock().await = None;
                tracing::debug!(op, "ticket refused; logging in again");
                continue;
            }
            let may_retry = err.is_retryable() || (idempotent && err.is_transient());
            if !may_retry || attempt >= self.inner.retry.max_retries {
                tracing::debug!(op, %method, path = url.path(), error = %err, attempt, "call failed");
                return Err(err);
            }
            let delay = self.inner.retry.delay(attempt);
            tracing::debug!(op, error = %err, attempt, ?delay, "transient failure; retrying");
            tokio::time::sleep(delay).await;
            attempt += 1;
        }
    }

    fn url(&self, segments: &[&str]) -> Result<Url, Error> {
        let mut url = self.inner.base.clone();
        {
            let mut path = url
                .path_segments_mut()
                .map_err(|_| Error::Config("base URL cannot take a path".into()))?;
            path.pop_if_empty();
            path.extend(segments);
        }
        Ok(url)
    }

    /// One HTTP exchange: the body of a 2xx answer, or the classified error.
    async fn send_once(
        &self,
        method: &Method,
        url: &Url,
        params: &Params,
    ) -> Result<Vec<u8>, Error> {
        let ticket = match &self.inner.auth {
            Auth::Password { .. } => Some(self.ticket().await?),
            Auth::Token { .. } => None,
        };
        let _permit = self
            .inner
            .limiter
            .acquire()
            .await
            .map_err(|_| Error::Config("client closed".into()))?;
        let mut req = self.inner.http.request(method.clone(), url.clone());
        req = match &self.inner.auth {
            Auth::Token { id, secret } => req.header(
                reqwest::header::AUTHORIZATION,
                format!("PVEAPIToken={id}={}", secret.expose()),
            ),
            Auth::Password { .. } => {
                let t = ticket
                    .as_ref()
                    .ok_or_else(|| Error::Config("no ticket".into()))?;
                let req = req.header(
                    reqwest::header::COOKIE,
                    format!("PVEAuthCookie={}", t.ticket.expose()),
                );
                if *method == Method::GET {
                    req
                } else {
                    req.header("CSRFPreventionToken", t.csrf.expose())
                }
            }
        };
        req = attach(req, method, params);
        self.exchange(req).await
    }

    async fn exchange(&self, req: reqwest::RequestBuilder) -> Result<Vec<u8>, Error> {
        let resp = req.send().await.map_err(Error::transport)?;
        let status = resp.status();
        let reason = resp
            .extensions()
            .get::<hyper::ext::ReasonPhrase>()
            .map(|r| String::from_utf8_lossy(r.as_bytes()).into_owned());
        let body = resp.bytes().await.map_err(Error::transport)?;
        if status.is_success() {
            Ok(body.to_vec())
        } else {
            Err(classify(status.as_u16(), reason.as_deref(), &body))
        }
    }

    /// A valid ticket: the cached one, a renewed one, or a fresh login. Logins are serialised
    /// so a burst of requests makes one login, not one each.
    async fn ticket(&self) -> Result<Ticket, Error> {
        let mut slot = self.inner.ticket.lock().await;
        if let Some(t) = slot.as_ref()
            && !t.needs_renewal(self.inner.renew_after)
        {
            return Ok(t.clone());
        }
        let Auth::Password { username, password } = &self.inner.auth else {
            return Err(Error::Config("tickets need password credentials".into()));
        };
        // Renew with the old ticket as the password; fall back to the password if refused.
        let renewed = match slot.as_ref() {
            Some(old) => self.login(username, &old.ticket).await.ok(),
            None => None,
        };
        let fresh = match renewed {
            Some(t) => t,
            None => match self.login(username, password).await {
                Ok(t) => t,
                Err(e) => {
                    *slot = None;
                    return Err(e);
                }
            },
        };
        *slot = Some(fresh.clone());
        Ok(fresh)
    }

    async fn login(&self, username: &str, password: &Secret) -> Result<Ticket, Error> {
        let url = self.url(&["access", "ticket"])?;
        let started = Instant::now();
        let result = async {
            let _permit = self
                .inner
                .limiter
                .acquire()
                .await
                .map_err(|_| Error::Config("client closed".into()))?;
            let form = [("username", username), ("password", password.expose())];
            let bytes = self
                .exchange(self.inner.http.post(url.clone()).form(&form))
                .await?;
            decode::<TicketAnswer>(url.path(), &bytes)
        }
        .await;
        if let Some(m) = &self.inner.metrics {
            m.record(&CallRecord {
                op: "login",
                method: "POST",
                outcome: result.as_ref().map_or_else(|e| e.kind(), |_| "ok"),
                attempt: 0,
                duration: started.elapsed(),
            });
        }
        let answer = result?;
        if answer.need_tfa.is_some() {
            return Err(Error::Auth {
                message: "two-factor authentication required (not supported)".into(),
            });
        }
        tracing::debug!(user = username, "logged in");
        Ok(Ticket {
            ticket: Secret::new(answer.ticket),
            csrf: Secret::new(answer.csrf),
            issued: Instant::now(),
        })
    }
}

fn attach(
    req: reqwest::RequestBuilder,
    method: &Method,
    params: &Params,
) -> reqwest::RequestBuilder {
    let pairs = params.pairs();
    if pairs.is_empty() {
        req
    } else if *method == Method::GET || *method == Method::DELETE {
        // PVE refuses a body on GET and DELETE (501 "Unexpected content").
        req.query(pairs)
    } else {
        req.form(pairs)
    }
}

fn method_name(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        _ => "OTHER",
    }
}

fn split(path: &str) -> Vec<&str> {
    path.trim_matches('/')
        .split('/')
        .filter(|s| !s.is_empty())
        .collect()
}

#[derive(serde::Deserialize)]
struct Envelope<T> {
    data: T,
}

fn decode<T: DeserializeOwned>(path: &str, bytes: &[u8]) -> Result<T, Error> {
    serde_json::from_slice::<Envelope<T>>(bytes)
        .map(|e| e.data)
        .map_err(|e| Error::Decode {
            path: path.to_string(),
            message: e.to_string(),
        })
}
