//! Guest reconcile scenarios against fakepve (real HTTPS) and a stateful fake of the Kubernetes
//! API: the reconcile is run pass after pass, as the controller would, until the object reaches
//! the state under test. Each scenario checks both the object's status and the guest in Proxmox.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::sync::Arc;
use std::time::Duration;

use kubepve::connection::registry::Connection;
use kubepve::context::{Context, Settings};
use kubepve::guest::{GuestObject, reconcile};
use kubepve::metrics::Metrics;
use kubepve_api::ProxmoxVM;
use pve_client::{Auth, Client, Tls};
use pve_testkit::{FakePve, VmSeed};
use serde_json::{Value, json};
use support::fakekube::FakeKube;

/// A fake Proxmox with a cloud-init template, and an operator context connected to it.
struct Env {
    pve: FakePve,
    kube: FakeKube,
    ctx: Arc<Context>,
}

async fn env(plural: &str) -> Env {
    let pve = FakePve::builder().time_scale(0.001).start().await;
    pve.add_vm(
        VmSeed::new(9000, "debian-12-cloudinit")
            .template()
            .config("memory", 2048)
            .config("scsi0", "local-lvm:base-9000-disk-0,size=8G")
            .config("ide2", "local-lvm:vm-9000-cloudinit,media=cdrom")
            .config("net0", "virtio=BC:24:11:00:00:01,bridge=vmbr0"),
    )
    .await;
    let token = pve.create_token("root@pam", "kubepve").await;
    let kube = FakeKube::new(plural);
    let settings = Settings {
        task_poll: Duration::from_millis(20),
        backoff: (Duration::from_millis(20), Duration::from_millis(200)),
        ..Settings::default()
    };
    let ctx = Arc::new(Context::new(
        kube.mock.client.clone(),
        Metrics::new(),
        settings,
    ));
    let client = Client::builder(pve.url(), Auth::token(token.id, token.secret))
        .tls(Tls::CaBundle(pve.ca_pem().to_string()))
        .build()
        .unwrap();
    let conn = Connection::new(client, Duration::from_millis(50), "test".into());
    ctx.connections
        .set(("default".into(), "pve".into()), Ok(Arc::new(conn)));
    Env { pve, kube, ctx }
}

/// Runs reconciles of `name` until `done` holds (bounded), like the controller's requeues.
async fn drive<K: GuestObject>(
    env: &Env,
    name: &str,
    done: impl Fn(Option<&Value>) -> bool,
) -> Option<Value> {
    for _ in 0..300 {
        let object = env.kube.get(name);
        if done(object.as_ref()) {
            return object;
        }
        let Some(object) = object else {
            panic!("{name} is gone")
        };
        let typed: K = serde_json::from_value(object).unwrap();
        // Errors are retried by the controller; here the next pass retries.
        let _ = reconcile(Arc::new(typed), env.ctx.clone()).await;
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!(
        "{name} did not reach the expected state: {:#}",
        env.kube.get(name).unwrap_or_default()
    )
}

fn condition(object: &Value, type_: &str) -> Value {
    object["status"]["conditions"]
        .as_array()
        .and_then(|cs| cs.iter().find(|c| c["type"] == type_).cloned())
        .unwrap_or(Value::Null)
}

fn ready(object: Option<&Value>) -> bool {
    object.is_some_and(|o| condition(o, "Ready")["status"] == "True")
}

fn vm(name: &str, spec: Value) -> Value {
    let mut full = json!({"connectionRef": {"name": "pve"}, "node": "pve1"});
    full.as_object_mut()
        .unwrap()
        .extend(spec.as_object().unwrap().clone());
    json!({
        "apiVersion": "kubepve.io/v1alpha1", "kind": "ProxmoxVM",
        "metadata": {"name": name, "namespace": "default"},
        "spec": full,
    })
}

#[tokio::test]
async fn a_vm_cloned_from_a_template_becomes_ready_and_running() {
    let env = env("proxmoxvms").await;
    env.kube
        .put_secret("web-ci", &[("password", "s3cret-Passw0rd")]);
    env.kube.put(vm(
        "web",
        json!({
            "vmid": 150,
            "source": {"clone": {"templateName": "debian-12-cloudinit"}},
            "cpu": {"cores": 2},
            "memory": "4Gi",
            "disks": [{"slot": "scsi0", "storage": "local-lvm", "size": "8Gi"}],
            "networks": [{"slot": "net0", "bridge": "vmbr0", "vlan": 20}],
            "cloudInit": {"user": "debian", "passwordSecretRef": {"name": "web-ci", "key": "password"}},
            "tags": ["Web"],
        }),
    ));
    let object = drive::<ProxmoxVM>(&env, "web", ready).await.unwrap();
    let status = &object["status"];
    assert_eq!(status["vmid"], 150);
    assert_eq!(status["phase"], "Running", "{status:#}");
    assert_eq!(status["node"], "pve1");
    assert!(
        status["lastTask"]["upid"]
            .as_str()
            .unwrap()
            .starts_with("UPID:pve1:"),
        "{status:#}"
    );
    assert_eq!(status["lastTask"]["exitStatus"], "OK");
    assert!(status.get("currentTask").is_none());
    assert_eq!(
        object["metadata"]["finalizers"],
        json!(["kubepve.io/finalizer"])
    );

    let guest = env
        .pve
        .guest(150)
        .await
        .expect("guest 150 exists in Proxmox");
    assert_eq!(guest["status"], "running", "{guest:#}");
    let text = guest.to_string();
    assert!(
        text.contains("kubepve-owner-uid-web"),
        "ownership tag: {guest:#}"
    );
    assert!(
        !object.to_string().contains("s3cret-Passw0rd"),
        "the password leaked into the object"
    );
    for event in env.kube.events() {
        assert!(
            !event.to_string().contains("s3cret-Passw0rd"),
            "the password leaked into an event"
        );
    }
}
