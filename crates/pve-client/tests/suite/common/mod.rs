//! Shared set-up for the fakepve integration tests: clients wired to a started fake.

#![allow(clippy::unwrap_used, dead_code)]

use std::time::Duration;

use pve_client::{Auth, Client, ClientBuilder, RetryPolicy, Tls, WaitOptions};
use pve_testkit::FakePve;

/// A token client trusting the fake's CA.
pub async fn token_client(pve: &FakePve) -> Client {
    token_builder(pve).await.build().unwrap()
}

/// A token-client builder trusting the fake's CA, with fast retries.
pub async fn token_builder(pve: &FakePve) -> ClientBuilder {
    let token = pve.create_token("root@pam", "test").await;
    Client::builder(pve.url(), Auth::token(token.id, token.secret))
        .tls(Tls::CaBundle(pve.ca_pem().to_string()))
        .retry(fast_retries())
        .timeout(Duration::from_secs(10))
}

/// A password (ticket) client trusting the fake's CA.
pub fn password_client(pve: &FakePve) -> Client {
    Client::builder(pve.url(), Auth::password(pve.user(), pve.password()))
        .tls(Tls::CaBundle(pve.ca_pem().to_string()))
        .retry(fast_retries())
        .build()
        .unwrap()
}

/// Retries that do not slow the tests down.
pub fn fast_retries() -> RetryPolicy {
    RetryPolicy {
        max_retries: 3,
        base_delay: Duration::from_millis(10),
        max_delay: Duration::from_millis(50),
    }
}

/// Task waiting tuned for fakepve (tasks are instant or scaled down).
pub fn quick_wait() -> WaitOptions {
    WaitOptions {
        poll_interval: Duration::from_millis(50),
        timeout: Duration::from_secs(20),
        startup_grace: Duration::from_secs(2),
        follow_log: true,
        skip_log_when_ok_at_once: false,
    }
}
