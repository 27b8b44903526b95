//! Typed helpers over the launcher's control channel: seeding (nodes, storages, files, guests,
//! users, tokens), faults (failures by method and path, slow and flaky network, locks, offline
//! nodes), custom tasks, and the request log. Helpers panic on failure: they are test set-up,
//! and a broken set-up must fail the test loudly.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use crate::{Error, FakePve};

/// A VM to seed.
#[derive(Debug, Clone, Serialize)]
pub struct VmSeed {
    vmid: u32,
    name: String,
    node: String,
    status: String,
    config: Map<String, Value>,
    template: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    lock: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pool: Option<String>,
}

impl VmSeed {
    /// A stopped VM on `pve1`.
    pub fn new(vmid: u32, name: &str) -> Self {
        Self {
            vmid,
            name: name.into(),
            node: "pve1".into(),
            status: "stopped".into(),
            config: Map::new(),
            template: false,
            lock: None,
            pool: None,
        }
    }
    /// Put it on this node.
    pub fn node(mut self, node: &str) -> Self {
        self.node = node.into();
        self
    }
    /// Make it running.
    pub fn running(mut self) -> Self {
        self.status = "running".into();
        self
    }
    /// Set a config key (raw PVE value).
    pub fn config(mut self, key: &str, value: impl Into<Value>) -> Self {
        self.config.insert(key.into(), value.into());
        self
    }
    /// Make it a template.
    pub fn template(mut self) -> Self {
        self.template = true;
        self
    }
    /// Give it a config lock (`backup`, `clone`, ...).
    pub fn lock(mut self, lock: &str) -> Self {
        self.lock = Some(lock.into());
        self
    }
    /// Put it in a pool.
    pub fn pool(mut self, pool: &str) -> Self {
        self.pool = Some(pool.into());
        self
    }
}

/// A container to seed.
#[derive(Debug, Clone, Serialize)]
pub struct CtSeed {
    vmid: u32,
    name: String,
    node: String,
    status: String,
    config: Map<String, Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    ostemplate: Option<String>,
}

impl CtSeed {
    /// A stopped container on `pve1`.
    pub fn new(vmid: u32, name: &str) -> Self {
        Self {
            vmid,
            name: name.into(),
            node: "pve1".into(),
            status: "stopped".into(),
            config: Map::new(),
            ostemplate: None,
        }
    }
    /// Put it on this node.
    pub fn node(mut self, node: &str) -> Self {
        self.node = node.into();
        self
    }
    /// Make it running.
    pub fn running(mut self) -> Self {
        self.status = "running".into();
        self
    }
    /// Set a config key (raw PVE value).
    pub fn config(mut self, key: &str, value: impl Into<Value>) -> Self {
        self.config.insert(key.into(), value.into());
        self
    }
}

/// A failure to inject: requests with this method whose path ends with `path` fail.
#[derive(Debug, Clone, Serialize)]
pub struct Fault {
    method: String,
    path: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    status: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    message: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    times: Option<u32>,
}

impl Fault {
    /// Answer with this status and message (put in the reason phrase and the body, as PVE does).
    /// `path` is an API path without `/api2/json`, e.g. `/nodes/pve1/qemu/100/status/start`.
    pub fn status(method: &str, path: &str, status: u16, message: &str) -> Self {
        Self {
            method: method.into(),
            path: format!("/api2/json{path}"),
            status: Some(status),
            message: Some(message.into()),
            error: None,
            times: None,
        }
    }
    /// Answer with one of PVE's own catalogued errors (fakepve's `errors_for` names); errors PVE
    /// raises inside a worker give a UPID whose task ends in `TASK ERROR`.
    pub fn named(method: &str, path: &str, error: &str) -> Self {
        Self {
            method: method.into(),
            path: format!("/api2/json{path}"),
            status: None,
            message: None,
            error: Some(error.into()),
            times: None,
        }
    }
    /// Fail only this many requests, then answer normally again.
    pub fn times(mut self, n: u32) -> Self {
        self.times = Some(n);
        self
    }
}

/// A task made on fakepve's task machinery, for testing task waiting.
#[derive(Debug, Clone, Serialize)]
pub struct TaskSeed {
    node: String,
    #[serde(rename = "type")]
    kind: String,
    id: String,
    secs: f64,
    log: Vec<String>,
    warnings: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

impl TaskSeed {
    /// A task of this type (`qmstart`, ...) on `pve1` that ends OK at once.
    pub fn new(kind: &str, id: &str) -> Self {
        Self {
            node: "pve1".into(),
            kind: kind.into(),
            id: id.into(),
            secs: 0.0,
            log: Vec::new(),
            warnings: 0,
            error: None,
        }
    }
    /// PVE seconds it runs (scaled by the fake's time scale).
    pub fn secs(mut self, secs: f64) -> Self {
        self.secs = secs;
        self
    }
    /// Log lines it writes, spread over its run.
    pub fn log(mut self, lines: &[&str]) -> Self {
        self.log = lines.iter().map(|s| s.to_string()).collect();
        self
    }
    /// End with `TASK WARNINGS: n`.
    pub fn warnings(mut self, n: u32) -> Self {
        self.warnings = n;
        self
    }
    /// End with `TASK ERROR: message`.
    pub fn error(mut self, message: &str) -> Self {
        self.error = Some(message.into());
        self
    }
}

/// An API token made on the fake.
#[derive(Debug, Clone)]
pub struct Token {
    /// `user@realm!name`.
    pub id: String,
    /// The secret (a UUID-like string).
    pub secret: String,
}

/// One request fakepve saw (secrets already redacted by fakepve).
#[derive(Debug, Clone, Deserialize)]
pub struct RecordedRequest {
    /// HTTP method.
    pub method: String,
    /// Full path, `/api2/json/...`.
    pub path: String,
    /// Body text (form or JSON).
    pub body: String,
}

#[derive(Deserialize)]
struct Answer {
    ok: bool,
    #[serde(default)]
    result: Value,
    #[serde(default)]
    error: String,
}

#[derive(Deserialize)]
struct RequestPage {
    requests: Vec<RecordedRequest>,
}

impl FakePve {
    /// Run a control op; returns its result.
    pub async fn try_op(&self, op: &str, args: Value) -> Result<Value, Error> {
        let mut body = match args {
            Value::Object(map) => map,
            _ => Map::new(),
        };
        body.insert("op".into(), Value::String(op.into()));
        let fail = |message: String| Error::Control {
            op: op.into(),
            message,
        };
        let response = self
            .http
            .post(&self.control_url)
            .json(&body)
            .timeout(std::time::Duration::from_secs(30))
            .send()
            .await
            .map_err(|e| fail(e.to_string()))?;
        let answer: Answer = response.json().await.map_err(|e| fail(e.to_string()))?;
        if answer.ok {
            Ok(answer.result)
        } else {
            Err(fail(answer.error))
        }
    }

    /// Run a control op; panics if it fails.
    pub async fn op(&self, op: &str, args: Value) -> Value {
        match self.try_op(op, args).await {
            Ok(v) => v,
            Err(e) => panic!("{e}"),
        }
    }

    /// Add a node (online or not).
    pub async fn add_node(&self, name: &str, online: bool) {
        self.op("add_node", json!({"name": name, "online": online}))
            .await;
    }

    /// Report `maxmem` bytes of memory on `node`, `mem` of them in use, in `/cluster/resources`
    /// and `/nodes` (fakepve alone reports the same figures for every node).
    pub async fn node_memory(&self, node: &str, maxmem: u64, mem: u64) {
        self.op(
            "node_memory",
            json!({"node": node, "maxmem": maxmem, "mem": mem}),
        )
        .await;
    }

    /// Take a node offline (requests for it get 595) or bring it back.
    pub async fn set_node_offline(&self, node: &str, offline: bool) {
        self.op(
            "set_node_offline",
            json!({"node": node, "offline": offline}),
        )
        .await;
    }

    /// Seed a VM.
    pub async fn add_vm(&self, vm: VmSeed) {
        self.op("add_vm", to_value(&vm)).await;
    }

    /// Seed many VMs with one control request (seeding thousands one by one is slow).
    pub async fn add_vms(&self, vms: &[VmSeed]) {
        self.op("add_vms", json!({ "vms": vms })).await;
    }

    /// Seed a container.
    pub async fn add_ct(&self, ct: CtSeed) {
        self.op("add_ct", to_value(&ct)).await;
    }

    /// Set guest behaviour: `shutdown_secs`, `start_secs`, `stop_secs`, `start_error`, `acpi`.
    pub async fn guest_attrs(&self, vmid: u32, attrs: Value) {
        let mut args = match attrs {
            Value::Object(map) => map,
            _ => Map::new(),
        };
        args.insert("vmid".into(), vmid.into());
        self.op("guest_attrs", Value::Object(args)).await;
    }

    /// The fake's view of a guest: `{vmid,node,status,lock,config,pending}`, or `None`.
    pub async fn guest(&self, vmid: u32) -> Option<Value> {
        let v = self.op("guest", json!({"vmid": vmid})).await;
        (!v.is_null()).then_some(v)
    }

    /// Add a storage (`type` such as `dir`, `lvmthin`; `content` such as `images,rootdir`).
    pub async fn add_storage(&self, name: &str, kind: &str, content: &str) {
        self.op(
            "add_storage",
            json!({"name": name, "type": kind, "content": content}),
        )
        .await;
    }

    /// Put a file on a storage: `content` is `iso` or `vztmpl`.
    pub async fn store_file(&self, storage: &str, name: &str, size: u64, content: &str) {
        self.op(
            "store_file",
            json!({"storage": storage, "name": name, "size": size, "content": content}),
        )
        .await;
    }

    /// Create an API token `user!name` with a fresh secret.
    pub async fn create_token(&self, user: &str, name: &str) -> Token {
        let id = format!("{user}!{name}");
        let secret = random_secret();
        self.op("create_token", json!({"tokenid": id, "secret": secret}))
            .await;
        Token { id, secret }
    }

    /// Add a password login.
    pub async fn add_user(&self, userid: &str, password: &str) {
        self.op("add_user", json!({"userid": userid, "password": password}))
            .await;
    }

    /// Grant privileges; after the first grant only granted users (and root) may act.
    pub async fn grant(&self, user: &str, path: &str, privs: &[&str]) {
        self.op("grant", json!({"user": user, "path": path, "privs": privs}))
            .await;
    }

    /// Inject a failure.
    pub async fn inject_fault(&self, fault: Fault) {
        self.op("fail", to_value(&fault)).await;
    }

    /// Remove every injected failure and network fault.
    pub async fn clear_faults(&self) {
        self.op("clear_faults", json!({})).await;
    }

    /// Add latency (PVE seconds, scaled) to every response.
    pub async fn slow_network(&self, latency: f64) {
        self.op("slow_network", json!({"latency": latency})).await;
    }

    /// Drop a share of connections (reset before any handling), repeatably with `seed`.
    pub async fn flaky_network(&self, drop_rate: f64, seed: u64) {
        self.op(
            "flaky_network",
            json!({"drop_rate": drop_rate, "seed": seed}),
        )
        .await;
    }

    /// Leave a config lock (`backup`, `snapshot`, ...) on a guest.
    pub async fn lock_guest(&self, vmid: u32, lock: &str) {
        self.op("lock_guest", json!({"vmid": vmid, "lock": lock}))
            .await;
    }

    /// Remove a guest's config lock.
    pub async fn unlock_guest(&self, vmid: u32) {
        self.op("unlock_guest", json!({"vmid": vmid})).await;
    }

    /// Hold the guest's config file lock for `secs` PVE seconds (`None`: until released).
    pub async fn hold_config_lock(&self, vmid: u32, secs: Option<f64>) {
        self.op("hold_config_lock", json!({"vmid": vmid, "secs": secs}))
            .await;
    }

    /// Set a model knob: `time_scale`, `ticket_ttl`, `lock_wait`, `shutdown_default_timeout`, ...
    pub async fn set(&self, knob: &str, value: Value) {
        let mut args = Map::new();
        args.insert(knob.into(), value);
        self.op("set", Value::Object(args)).await;
    }

    /// Forget every login ticket.
    pub async fn revoke_tickets(&self) {
        self.op("revoke_tickets", json!({})).await;
    }

    /// Start a task of our own making; returns its UPID.
    pub async fn start_task(&self, task: TaskSeed) -> String {
        let v = self.op("task", to_value(&task)).await;
        v.as_str().map(str::to_string).unwrap_or_default()
    }

    /// Every request fakepve recorded since start (or the last [`FakePve::clear_requests`]).
    pub async fn requests(&self) -> Vec<RecordedRequest> {
        let v = self.op("requests", json!({})).await;
        serde_json::from_value::<RequestPage>(v)
            .map(|p| p.requests)
            .unwrap_or_default()
    }

    /// How many recorded requests had this method and a path ending with `suffix`.
    pub async fn count(&self, method: &str, suffix: &str) -> usize {
        self.requests()
            .await
            .iter()
            .filter(|r| r.method == method && r.path.ends_with(suffix))
            .count()
    }

    /// Forget the recorded requests.
    pub async fn clear_requests(&self) {
        self.op("clear_requests", json!({})).await;
    }

    /// Make `GET path` (`/cluster/ha/resources`, `/cluster/replication`, `/cluster/backup`)
    /// answer `data`, for endpoints fakepve answers only generically. Authentication still
    /// applies.
    pub async fn answer_get(&self, path: &str, data: Value) {
        self.op("answer_get", json!({"path": path, "data": data}))
            .await;
    }
}

fn to_value<T: Serialize>(v: &T) -> Value {
    serde_json::to_value(v).unwrap_or(Value::Null)
}

fn random_secret() -> String {
    use ring::rand::SecureRandom;
    let mut bytes = [0u8; 16];
    let _ = ring::rand::SystemRandom::new().fill(&mut bytes);
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}
