//! The harness of the guest reconcile scenarios (`tests/suite/guest_*.rs`): a fakepve, a stateful fake
//! Kubernetes API, and an operator context connected to both. Reconciles run pass after pass,
//! as the controller would run them, always bounded.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use kubepve::context::{Context, Settings};
use kubepve::guest::GuestContext;
use kubepve::guest::{GuestError, GuestObject, reconcile};
use kubepve::metrics::Metrics;
use kubepve::proxmox::registry::{Connection, Policy};
use pve_client::{Client, Upid, WaitOptions};
use pve_testkit::{FakePve, RecordedRequest, VmSeed};
use serde_json::Value;

use super::fakekube::FakeKube;
// Each test binary uses some of them.
#[allow(unused_imports)]
pub use super::guest_objects::{
    clone_vm, condition, condition_message, ct, gone, ready, ready_now, stalled, tags, vm,
};
use super::lab::client;

/// How many passes a scenario may take to reach a state before it fails.
pub const MAX_PASSES: usize = 300;

/// How long the connection's `/cluster/resources` read stays fresh, unless a scenario says.
pub const POLL_INTERVAL: Duration = Duration::from_millis(50);

/// The operator's own namespace, where it keeps configuration backups.
pub const BACKUP_NS: &str = "kubepve-system";

/// The name of the cloud-init template the VM scenarios clone.
pub const TEMPLATE: &str = "debian-12-cloudinit";

/// A fake Proxmox, a fake Kubernetes API and an operator context connected to them.
pub struct Env {
    /// The fake Proxmox.
    pub pve: FakePve,
    /// The fake Kubernetes API.
    pub kube: FakeKube,
    token: pve_testkit::Token,
    settings: Settings,
    poll_interval: Duration,
    make_client: MakeClient,
    policy: Mutex<Policy>,
    ctx: Mutex<Arc<GuestContext>>,
}

/// How the operator's Proxmox client is made from the fake and its token.
pub type MakeClient = fn(&FakePve, &pve_testkit::Token) -> Client;

/// The operator's timings in these scenarios: short, so that a scenario takes about a second.
pub fn fast_settings() -> Settings {
    Settings {
        task_poll: Duration::from_millis(20),
        drift_interval: Duration::from_millis(200),
        connection_retry: Duration::from_millis(200),
        backoff: (Duration::from_millis(20), Duration::from_millis(200)),
        // The default interval (minutes: never due within a scenario), and a pace that never
        // holds a scenario's restarted operator back; `tests/suite/guest_resync.rs` sets its own.
        full_resync: kubepve::proxmox::resync::ResyncSettings {
            reads_per_second: 1e6,
            ..Default::default()
        },
        ..Settings::default()
    }
}

impl Env {
    /// An environment serving objects of `plural` (`proxmoxvms`, `proxmoxcontainers`), with the
    /// cloud-init template VM 9000 seeded.
    pub async fn new(plural: &str) -> Self {
        Self::with_settings(plural, fast_settings(), POLL_INTERVAL).await
    }

    /// Like [`Env::new`], with these operator timings and this `/cluster/resources` cache time.
    pub async fn with_settings(plural: &str, settings: Settings, poll_interval: Duration) -> Self {
        Self::with_client(plural, settings, poll_interval, client).await
    }

    /// Like [`Env::with_settings`], with the operator's client made by `make_client` (other
    /// timeouts, another login); [`Env::pve_client`] keeps using the token.
    pub async fn with_client(
        plural: &str,
        settings: Settings,
        poll_interval: Duration,
        make_client: MakeClient,
    ) -> Self {
        let pve = FakePve::builder().time_scale(0.001).start().await;
        pve.add_vm(
            VmSeed::new(9000, TEMPLATE)
                .template()
                .config("memory", 2048)
                .config("scsi0", "local-lvm:base-9000-disk-0,size=8G")
                .config("ide2", "local-lvm:vm-9000-cloudinit,media=cdrom")
                .config("net0", "virtio=BC:24:11:00:00:01,bridge=vmbr0"),
        )
        .await;
        let token = pve.create_token("root@pam", "kubepve").await;
        let kube = FakeKube::new(plural);
        kube.create_namespace(BACKUP_NS);
        let policy = Policy::default();
        let ctx = Mutex::new(new_context(
            make_client(&pve, &token),
            &kube,
            &settings,
            poll_interval,
            &policy,
        ));
        Env {
            pve,
            kube,
            token,
            settings,
            poll_interval,
            make_client,
            policy: Mutex::new(policy),
            ctx,
        }
    }

    /// The operator's context.
    pub fn ctx(&self) -> Arc<GuestContext> {
        self.ctx.lock().unwrap().clone()
    }

    /// "Kill and restart the operator": a brand-new context (no remembered observations,
    /// repeats, backoff or reserved VMIDs) with a new client for the same Proxmox.
    pub fn restart_operator(&self) {
        *self.ctx.lock().unwrap() = self.operator(&self.kube);
    }

    /// A brand-new operator context for the same Proxmox that serves objects of `kube`: another
    /// operator (or replica) racing this one.
    pub fn operator(&self, kube: &FakeKube) -> Arc<GuestContext> {
        new_context(
            (self.make_client)(&self.pve, &self.token),
            kube,
            &self.settings,
            self.poll_interval,
            &self.policy.lock().unwrap(),
        )
    }

    /// The connection's VMID range, placement defaults and create limits, as its spec would set
    /// them (the operator keeps what it remembers, as on a spec change).
    pub fn set_policy(&self, policy: Policy) {
        *self.policy.lock().unwrap() = policy.clone();
        let conn = Connection::new(
            (self.make_client)(&self.pve, &self.token),
            self.poll_interval,
            "test".into(),
        )
        .with_policy(policy);
        self.ctx()
            .connections
            .set(("default".into(), "pve".into()), Ok(Arc::new(conn)));
    }

    /// The real pvectl, configured for this fakepve.
    pub fn pvectl(&self) -> super::pvectl::Pvectl {
        super::pvectl::Pvectl::new(&self.pve, &self.token)
    }

    /// A Proxmox client of its own, to change things behind the operator's back.
    pub fn pve_client(&self) -> Client {
        client(&self.pve, &self.token)
    }

    /// The API token the operator's client logs in with.
    pub fn token(&self) -> &pve_testkit::Token {
        &self.token
    }

    /// One reconcile of `name`, as the controller would run it.
    pub async fn pass<K: GuestObject>(&self, name: &str) -> Result<(), GuestError> {
        Self::pass_on::<K>(&self.kube, self.ctx(), name).await
    }

    /// One reconcile of `name` in namespace `ns`.
    pub async fn pass_in<K: GuestObject>(&self, ns: &str, name: &str) -> Result<(), GuestError> {
        let plural = self.kube.plural().to_string();
        self.pass_kind::<K>(&plural, ns, name).await
    }

    /// One reconcile of the object `name` of the kind served under `plural` in `ns` (for
    /// scenarios with more than one guest kind).
    pub async fn pass_kind<K: GuestObject>(
        &self,
        plural: &str,
        ns: &str,
        name: &str,
    ) -> Result<(), GuestError> {
        let object = self
            .kube
            .get_kind(plural, ns, name)
            .unwrap_or_else(|| panic!("{ns}/{name} is gone"));
        let typed: K = serde_json::from_value(object).unwrap();
        reconcile(Arc::new(typed), self.ctx()).await.map(|_| ())
    }

    /// The connection controller's context over the operator's shared one.
    pub fn connection_ctx(&self) -> Arc<kubepve::connection::ConnectionContext> {
        Arc::new(kubepve::connection::ConnectionContext::new(
            self.ctx().shared.clone(),
        ))
    }

    /// One reconcile of the ProxmoxConnection `name` in `ns` by the connection controller.
    pub async fn connection_pass(&self, ns: &str, name: &str) {
        let object = self
            .kube
            .get_kind("proxmoxconnections", ns, name)
            .unwrap_or_else(|| panic!("connection {ns}/{name} is gone"));
        let typed = serde_json::from_value(object).unwrap();
        if let Err(e) = kubepve::connection::reconcile(Arc::new(typed), self.connection_ctx()).await
        {
            eprintln!("connection {ns}/{name}: {e}");
        }
    }

    /// One reconcile of `name` stored in `kube` by the operator `ctx` (see [`Env::operator`]).
    pub async fn pass_on<K: GuestObject>(
        kube: &FakeKube,
        ctx: Arc<GuestContext>,
        name: &str,
    ) -> Result<(), GuestError> {
        let object = kube.get(name).unwrap_or_else(|| panic!("{name} is gone"));
        let typed: K = serde_json::from_value(object).unwrap();
        reconcile(Arc::new(typed), ctx).await.map(|_| ())
    }

    /// Runs reconciles of `name` until `done` holds for the stored object (bounded).
    pub async fn drive<K: GuestObject>(
        &self,
        name: &str,
        done: impl Fn(Option<&Value>) -> bool,
    ) -> Option<Value> {
        self.drive_watching::<K>(name, done, |_| {}).await
    }

    /// Like [`Env::drive`], calling `watch` with the stored object before every pass.
    pub async fn drive_watching<K: GuestObject>(
        &self,
        name: &str,
        done: impl Fn(Option<&Value>) -> bool,
        watch: impl FnMut(&Value),
    ) -> Option<Value> {
        self.drive_in::<K>(super::fakekube::DEFAULT_NS, name, done, watch)
            .await
    }

    /// Like [`Env::drive_watching`], for the object `name` in namespace `ns`.
    pub async fn drive_in<K: GuestObject>(
        &self,
        ns: &str,
        name: &str,
        done: impl Fn(Option<&Value>) -> bool,
        mut watch: impl FnMut(&Value),
    ) -> Option<Value> {
        let plural = self.kube.plural().to_string();
        for _ in 0..MAX_PASSES {
            let object = self.kube.get_kind(&plural, ns, name);
            if done(object.as_ref()) {
                return object;
            }
            let Some(object) = object else {
                panic!("{name} is gone")
            };
            watch(&object);
            // Errors are retried by the controller; here the next pass retries.
            if let Err(e) = self.pass_in::<K>(ns, name).await {
                eprintln!("pass of {name} failed: {e}");
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        for r in self.pve.requests().await.iter().rev().take(30) {
            eprintln!("{} {} {}", r.method, r.path, r.body);
        }
        panic!(
            "{name} did not reach the expected state: {:#}",
            self.kube.get_kind(&plural, ns, name).unwrap_or_default()
        )
    }

    /// What one trigger (a poll, a resync) of `name` costs, as the controller would run it: one
    /// reconcile, and another each time a pass changed the stored object (its watch would see
    /// that write), at most `bound`. Returns the reconciles run; a status write that changes
    /// the object on every pass (a feedback loop) shows up as `bound`.
    pub async fn reconciles_per_trigger<K: GuestObject>(&self, name: &str, bound: usize) -> usize {
        let plural = self.kube.plural().to_string();
        let writes = || self.kube.writes(&plural, super::fakekube::DEFAULT_NS, name);
        for n in 1..=bound {
            let before = writes();
            let _ = self.pass::<K>(name).await;
            if writes() == before {
                return n;
            }
        }
        bound
    }

    /// Runs exactly `n` reconciles of `name` (the object must stay).
    pub async fn passes<K: GuestObject>(&self, name: &str, n: usize) {
        for _ in 0..n {
            let _ = self.pass::<K>(name).await;
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Requests that change something (anything but GET) whose path names `vmid`, or whose
    /// body creates it (`vmid=` or `newid=`).
    pub async fn writes_for(&self, vmid: u32) -> Vec<RecordedRequest> {
        self.pve
            .requests()
            .await
            .into_iter()
            .filter(|r| r.method != "GET" && names_vmid(r, vmid))
            .collect()
    }

    /// Creating requests (create or clone) for `vmid`.
    pub async fn creates_for(&self, vmid: u32) -> Vec<RecordedRequest> {
        let created = [format!("vmid={vmid}"), format!("newid={vmid}")];
        self.pve
            .requests()
            .await
            .into_iter()
            .filter(|r| r.method == "POST" && created.iter().any(|c| form_has(&r.body, c)))
            .collect()
    }

    /// How many requests had this method and a path ending with `suffix`.
    pub async fn count(&self, method: &str, suffix: &str) -> usize {
        self.pve.count(method, suffix).await
    }

    /// The events recorded with this reason.
    pub fn events_with(&self, reason: &str) -> Vec<Value> {
        self.kube
            .events()
            .into_iter()
            .filter(|e| e["reason"] == reason)
            .collect()
    }

    /// Fails the test if `secret` appears in the stored object, an event, or a Proxmox request
    /// log (fakepve redacts passwords in what it records).
    pub fn assert_no_leak(&self, name: &str, secret: &str) {
        if let Some(object) = self.kube.get(name) {
            assert!(
                !object.to_string().contains(secret),
                "the secret leaked into the object: {object:#}"
            );
        }
        for event in self.kube.events() {
            assert!(
                !event.to_string().contains(secret),
                "the secret leaked into an event: {event:#}"
            );
        }
        for request in self.kube.mock.requests() {
            assert!(
                !request.body.to_string().contains(secret),
                "the secret was sent to Kubernetes: {} {}",
                request.method,
                request.uri
            );
        }
    }

    /// Waits for a Proxmox task started out of band.
    pub async fn wait(&self, upid: &Upid) {
        let opts = WaitOptions {
            poll_interval: Duration::from_millis(10),
            timeout: Duration::from_secs(20),
            ..WaitOptions::default()
        };
        self.pve_client().wait_task(upid, opts).await.unwrap();
    }
}

fn names_vmid(r: &RecordedRequest, vmid: u32) -> bool {
    let segment = format!("/{vmid}");
    let in_path = r
        .path
        .match_indices(&segment)
        .any(|(i, _)| matches!(r.path[i + segment.len()..].chars().next(), None | Some('/')));
    in_path
        || form_has(&r.body, &format!("vmid={vmid}"))
        || form_has(&r.body, &format!("newid={vmid}"))
}

/// Whether a form (or JSON) body holds `key=value` as one field.
fn form_has(body: &str, field: &str) -> bool {
    if body.split('&').any(|f| f == field) {
        return true;
    }
    let Some((key, value)) = field.split_once('=') else {
        return false;
    };
    serde_json::from_str::<Value>(body).is_ok_and(|v| {
        v.get(key)
            .is_some_and(|x| x.to_string().trim_matches('"') == value)
    })
}

/// The operator's context over `kube`, with backups in [`BACKUP_NS`] and the connection
/// `default/pve` reaching Proxmox through `client`.
pub fn new_context(
    client: Client,
    kube: &FakeKube,
    settings: &Settings,
    poll_interval: Duration,
    policy: &Policy,
) -> Arc<GuestContext> {
    let backups = kubepve::guest::backup::BackupSettings {
        namespace: BACKUP_NS.into(),
        ..Default::default()
    };
    let ctx = Context::new(kube.mock.client.clone(), Metrics::new(), settings.clone());
    let conn = Connection::new(client, poll_interval, "test".into()).with_policy(policy.clone());
    ctx.connections
        .set(("default".into(), "pve".into()), Ok(Arc::new(conn)));
    Arc::new(GuestContext::new(Arc::new(ctx), backups))
}

/// The VMIDs of every guest in `pve` but templates.
pub async fn pve_guests(pve: &FakePve, token: &pve_testkit::Token) -> Vec<u64> {
    client(pve, token)
        .guests()
        .await
        .unwrap()
        .into_iter()
        .filter(|g| g.template != Some(true))
        .filter_map(|g| g.vmid)
        .collect()
}
