//! The operator part of `make demo`: the samples `config/samples/vm-from-template.yaml` and
//! `container.yaml` are stored in an in-memory stand-in for the Kubernetes API, and the real
//! reconcile runs pass after pass, as the controller would, printing each change of status until
//! both guests are Ready. Then both objects are deleted and the guests are destroyed.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::support;
use crate::support::fakekube::FakeKube;
use kubepve::context::{Context, Settings};
use kubepve::guest::{GuestContext, GuestObject, reconcile};
use kubepve::metrics::Metrics;
use kubepve::proxmox::registry::Connection;
use kubepve_api::{ProxmoxContainer, ProxmoxVM};
use pve_client::{Auth, Client, Tls};
use pve_testkit::FakePve;
use serde_json::Value;

/// Runs the operator part of the demo against a fresh fake Proxmox.
pub async fn run() {
    println!("Starting a fake Proxmox VE (fakepve) on a loopback port...");
    let (pve, token) = support::lab::sample_lab(0.05).await;
    println!(
        "  {} (certificate pinned by CA), template 9000 debian-12-cloudinit\n",
        pve.url()
    );

    let metrics = Metrics::new();
    let client = Client::builder(pve.url(), Auth::token(token.id, token.secret))
        .tls(Tls::CaBundle(pve.ca_pem().to_string()))
        .metrics(Arc::new(metrics.clone()))
        .build()
        .unwrap();

    let vms = FakeKube::new("proxmoxvms");
    load(&vms, "vm-from-template.yaml");
    let vm_ctx = context(&vms, client.clone(), metrics.clone());
    println!("ProxmoxVM web-01 (config/samples/vm-from-template.yaml):");
    converge::<ProxmoxVM>(&vms, &vm_ctx, "web-01", false).await;
    print_guest(&pve, 150).await;

    let cts = FakeKube::new("proxmoxcontainers");
    load(&cts, "container.yaml");
    let ct_ctx = context(&cts, client, metrics.clone());
    println!("\nProxmoxContainer dns-01 (config/samples/container.yaml):");
    converge::<ProxmoxContainer>(&cts, &ct_ctx, "dns-01", false).await;
    print_guest(&pve, 200).await;

    println!("\nkubectl delete proxmoxvm web-01 proxmoxcontainer dns-01:");
    vms.delete("web-01");
    converge::<ProxmoxVM>(&vms, &vm_ctx, "web-01", true).await;
    cts.delete("dns-01");
    converge::<ProxmoxContainer>(&cts, &ct_ctx, "dns-01", true).await;
    for vmid in [150, 200] {
        let state = if pve.guest(vmid).await.is_some() {
            "still exists"
        } else {
            "destroyed"
        };
        println!("  guest {vmid}: {state}");
    }
    let calls: u64 = metrics
        .encode()
        .lines()
        .filter(|l| l.starts_with("kubepve_pve_requests_total"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
        .sum();
    println!("\nProxmox API calls made by the operator: {calls}");
}

fn context(kube: &FakeKube, client: Client, metrics: Metrics) -> Arc<GuestContext> {
    let settings = Settings {
        task_poll: Duration::from_millis(100),
        ..Settings::default()
    };
    // Configuration backups go to the operator's namespace, as in a cluster.
    kube.create_namespace(kubepve::guest::backup::DEFAULT_NAMESPACE);
    let ctx = Arc::new(Context::new(kube.mock.client.clone(), metrics, settings));
    let conn = Connection::new(client, Duration::from_millis(500), "demo".into());
    ctx.connections
        .set(("default".into(), "pve-lab".into()), Ok(Arc::new(conn)));
    Arc::new(GuestContext::new(ctx, Default::default()))
}

/// Stores every document of a sample: Secrets as Secrets, the guest as the object.
fn load(kube: &FakeKube, file: &str) {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("config/samples")
        .join(file);
    let docs: Vec<Value> =
        serde_saphyr::from_multiple(&std::fs::read_to_string(path).unwrap()).unwrap();
    for doc in docs.into_iter().filter(|d| !d.is_null()) {
        if doc["kind"] == "Secret" {
            let data: Vec<(String, String)> = doc["stringData"]
                .as_object()
                .unwrap()
                .iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_string()))
                .collect();
            let pairs: Vec<(&str, &str)> =
                data.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
            kube.put_secret(doc["metadata"]["name"].as_str().unwrap(), &pairs);
        } else {
            kube.put(doc);
        }
    }
}

/// Reconciles until Ready (or, when deleting, until the object is gone), printing each change.
async fn converge<K: GuestObject>(
    kube: &FakeKube,
    ctx: &Arc<GuestContext>,
    name: &str,
    deleting: bool,
) {
    let started = Instant::now();
    let mut last = String::new();
    for _ in 0..600 {
        let Some(object) = kube.get(name) else {
            println!(
                "  {:>6.2}s  object removed (finalizer released)",
                started.elapsed().as_secs_f64()
            );
            return;
        };
        let line = describe(&object);
        if line != last {
            println!("  {:>6.2}s  {line}", started.elapsed().as_secs_f64());
            last = line;
        }
        if !deleting && is_ready(&object) {
            return;
        }
        let typed: K = serde_json::from_value(object).unwrap();
        let _ = reconcile(Arc::new(typed), ctx.clone()).await;
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{name} did not converge");
}

fn is_ready(object: &Value) -> bool {
    condition(object, "Ready")["status"] == "True"
}

fn condition(object: &Value, type_: &str) -> Value {
    object["status"]["conditions"]
        .as_array()
        .and_then(|cs| cs.iter().find(|c| c["type"] == type_).cloned())
        .unwrap_or(Value::Null)
}

fn describe(object: &Value) -> String {
    let status = &object["status"];
    let text = |v: &Value| v.as_str().map(str::to_string).unwrap_or_else(|| "-".into());
    let ready = condition(object, "Ready");
    format!(
        "vmid={:<4} phase={:<9} ready={:<5} task={:<10} {}",
        status["vmid"]
            .as_i64()
            .map(|v| v.to_string())
            .unwrap_or_else(|| "-".into()),
        text(&status["phase"]),
        text(&ready["status"]),
        text(&status["currentTask"]["type"]),
        truncate(&text(&ready["message"]), 110),
    )
}

/// A few keys of the guest as Proxmox holds it (not the secrets).
async fn print_guest(pve: &FakePve, vmid: u32) {
    let guest = pve.guest(vmid).await.unwrap_or_default();
    let config = &guest["config"];
    println!(
        "  in Proxmox: guest {vmid} on {} is {}",
        guest["node"], guest["status"]
    );
    for key in [
        "name", "hostname", "cores", "memory", "scsi0", "scsi1", "rootfs", "net0", "tags",
    ] {
        if let Some(value) = config.get(key) {
            println!(
                "    {key}: {}",
                value
                    .as_str()
                    .map(str::to_string)
                    .unwrap_or_else(|| value.to_string())
            );
        }
    }
}

fn truncate(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((i, _)) => format!("{}...", &text[..i]),
        None => text.to_string(),
    }
}
