//! Watches, as the API server serves them: every write (status and finalizer changes included)
//! is an event with the object's new resourceVersion, `ADDED` for a create, `MODIFIED` for a
//! change or a deletion mark, `DELETED` when the object goes. A watch from resourceVersion `N`
//! replays the kept events after `N` and then follows live; from `0` or no version it starts
//! with an `ADDED` for every current object. Events older than the kept history answer with the
//! `410 Expired` error event a compacted etcd gives, so a client must list again.
//!
//! A real server's watch events reach a client some time after the write's own answer (etcd,
//! the watch cache, the wire), so a controller's cache is always a little behind its own
//! writes. In process the fake delivers them almost at once, which hides that; [`Watches::lag`]
//! makes every live event arrive that long after the write, in order.

use std::collections::VecDeque;
use std::time::Duration;

use bytes::Bytes;
use serde_json::{Value, json};
use tokio::sync::mpsc::{self, UnboundedReceiver, UnboundedSender};

/// How many events the fake keeps for watches that resume. The real server's watch cache keeps
/// a bounded window too (older versions answer 410); this bound also keeps the in-process
/// bench's memory about the operator, not about the fake's history.
const KEPT: usize = 10_000;

/// What happened to an object.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Type {
    /// Created.
    Added,
    /// Changed, or marked for deletion.
    Modified,
    /// Gone.
    Deleted,
}

impl Type {
    fn name(self) -> &'static str {
        match self {
            Type::Added => "ADDED",
            Type::Modified => "MODIFIED",
            Type::Deleted => "DELETED",
        }
    }
}

struct Event {
    version: u64,
    plural: String,
    namespace: String,
    kind: Type,
    object: Value,
}

/// Which objects a watch follows.
#[derive(Clone, Debug)]
pub struct Filter {
    /// The resource plural.
    pub plural: String,
    /// The namespace; `None` for every namespace.
    pub namespace: Option<String>,
    /// A label selector (`a=b,c`), as lists take it.
    pub labels: Option<String>,
}

impl Filter {
    fn matches(&self, plural: &str, namespace: &str, object: &Value) -> bool {
        self.plural == plural
            && self.namespace.as_deref().is_none_or(|ns| ns == namespace)
            && labels_match(object, self.labels.as_deref())
    }
}

/// Whether `object`'s labels satisfy `selector` (`a=b`, `a==b`, `a!=b`, `a`, `!a`, comma-joined).
pub fn labels_match(object: &Value, selector: Option<&str>) -> bool {
    let labels = &object["metadata"]["labels"];
    selector.is_none_or(|sel| {
        sel.split(',')
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .all(|term| {
                if let Some((k, v)) = term.split_once("!=") {
                    labels[k.trim()].as_str() != Some(v.trim())
                } else if let Some((k, v)) = term.split_once('=') {
                    let k = k.trim();
                    let v = v.trim_start_matches('=').trim();
                    labels[k].as_str() == Some(v)
                } else if let Some(k) = term.strip_prefix('!') {
                    labels.get(k.trim()).is_none()
                } else {
                    labels.get(term).is_some()
                }
            })
    })
}

struct Watcher {
    filter: Filter,
    send: UnboundedSender<Bytes>,
    /// With a lag: the events go through a forwarder that holds each until its time.
    lagged: Option<UnboundedSender<(tokio::time::Instant, Bytes)>>,
}

impl Watcher {
    /// Sends `chunk` (after `lag` when lagging); false once the watch is closed.
    fn deliver(&self, chunk: Bytes, lag: Duration) -> bool {
        match &self.lagged {
            Some(forward) => forward
                .send((tokio::time::Instant::now() + lag, chunk))
                .is_ok(),
            None => self.send.send(chunk).is_ok(),
        }
    }
}

/// A forwarder that delivers each event at its time, in order.
fn lagging(send: UnboundedSender<Bytes>) -> UnboundedSender<(tokio::time::Instant, Bytes)> {
    let (forward, mut held) = mpsc::unbounded_channel::<(tokio::time::Instant, Bytes)>();
    tokio::spawn(async move {
        while let Some((at, chunk)) = held.recv().await {
            tokio::time::sleep_until(at).await;
            if send.send(chunk).is_err() {
                return;
            }
        }
    });
    forward
}

/// The event history and the open watches.
#[derive(Default)]
pub struct Watches {
    history: VecDeque<Event>,
    /// The version of the newest event no longer kept.
    forgotten: u64,
    watchers: Vec<Watcher>,
    /// How long after a write its live events reach the watches (zero: at once).
    pub lag: Duration,
}

fn line(kind: &str, object: &Value) -> Bytes {
    let mut text = serde_json::to_vec(&json!({"type": kind, "object": object})).unwrap();
    text.push(b'\n');
    Bytes::from(text)
}

impl Watches {
    /// Records that `object` (already carrying resourceVersion `version`) was written, and sends
    /// the event to every watch that follows it.
    pub fn record(
        &mut self,
        version: u64,
        plural: &str,
        namespace: &str,
        kind: Type,
        object: &Value,
    ) {
        let chunk = line(kind.name(), object);
        let lag = self.lag;
        self.watchers.retain(|w| {
            !w.filter.matches(plural, namespace, object) || w.deliver(chunk.clone(), lag)
        });
        self.history.push_back(Event {
            version,
            plural: plural.to_string(),
            namespace: namespace.to_string(),
            kind,
            object: object.clone(),
        });
        while self.history.len() > KEPT {
            if let Some(old) = self.history.pop_front() {
                self.forgotten = old.version;
            }
        }
    }

    /// Opens a watch from resourceVersion `from` (`None` or `0`: the current objects first, as
    /// `ADDED` events). `current` lists the objects the filter selects now, with their versions.
    pub fn open(
        &mut self,
        filter: Filter,
        from: Option<u64>,
        current: Vec<Value>,
        newest: u64,
    ) -> UnboundedReceiver<Bytes> {
        let (send, receive) = mpsc::unbounded_channel();
        match from.filter(|v| *v > 0) {
            None => {
                for object in &current {
                    let _ = send.send(line("ADDED", object));
                }
            }
            Some(version) if version < self.forgotten => {
                let status = json!({
                    "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                    "message": format!("too old resource version: {version} ({newest})"),
                    "reason": "Expired", "code": 410,
                });
                let _ = send.send(line("ERROR", &status));
                return receive;
            }
            Some(version) => {
                for event in self.history.iter().filter(|e| e.version > version) {
                    if filter.matches(&event.plural, &event.namespace, &event.object) {
                        let _ = send.send(line(event.kind.name(), &event.object));
                    }
                }
            }
        }
        let lagged = (!self.lag.is_zero()).then(|| lagging(send.clone()));
        self.watchers.push(Watcher {
            filter,
            send,
            lagged,
        });
        receive
    }

    /// Forgets the history up to now, as an etcd compaction does: a watch that resumes from an
    /// older version gets `410 Expired`.
    pub fn compact(&mut self, newest: u64) {
        self.history.clear();
        self.forgotten = newest;
    }

    /// Ends every open watch, as an API server restart does (clients resume from their last
    /// version).
    pub fn close_all(&mut self) {
        self.watchers.clear();
    }

    /// How many watches are open.
    pub fn open_count(&self) -> usize {
        self.watchers.iter().filter(|w| !w.send.is_closed()).count()
    }
}
