//! The operator's own writes that a controller's cache may not show yet.
//!
//! A controller reconciles the object its reflector cache holds, and that cache follows the
//! API server through a watch, a little behind it. After a pass writes an object (its
//! finalizer, its status), the next pass can start from the object as it was before that write:
//! the finalizer the pass added is missing (adding it again is refused with 409 Conflict, since
//! the patch is guarded by the older resourceVersion), and the status lacks the task the pass
//! started (so the next pass would start it again: a second create, answered "already exists").
//! On a real API server this is the common case, not a rare race, because every write's watch
//! event arrives after the write's answer.
//!
//! So each write's resulting resourceVersion is remembered by object UID, and a pass whose
//! object is older than that ends at once, to run again when the watch delivers the newer object
//! (the write's own event triggers that). Kubernetes calls resourceVersions opaque; the
//! etcd-backed API server's are increasing integers, and comparing them is what its own
//! controllers do to notice a stale cache. Where they are not integers nothing is compared and
//! passes run as before. An entry goes once the cache has caught up with it, when the object is
//! released, or after a minute (see [`PATIENCE`]).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use kube::{Resource, ResourceExt};

/// How soon a pass skipped for a stale cache is tried again if no watch event comes first.
pub const CATCH_UP: Duration = Duration::from_secs(2);

/// How long a write is waited for at most. The watch delivers a write within seconds; an entry
/// older than this belongs to an object deleted before its next pass (kube-runtime does not
/// reconcile objects that left its cache) or to a resourceVersion that went backwards (etcd
/// restored from a backup), and waiting on it would skip that object's passes for ever.
const PATIENCE: Duration = Duration::from_secs(60);

/// The resourceVersion of the newest write of each object, and when it was made, by object UID.
#[derive(Default, Clone)]
pub struct Writes {
    newest: Arc<Mutex<HashMap<String, (u64, Instant)>>>,
}

impl Writes {
    /// Records that a write of `object` (as the API server answered it) happened.
    pub fn wrote<K: Resource>(&self, written: &K) {
        let (Some(uid), Some(version)) = (written.uid(), version(written)) else {
            return;
        };
        let mut map = self.newest.lock().unwrap_or_else(|p| p.into_inner());
        map.retain(|_, (_, at)| at.elapsed() < PATIENCE);
        let newest = map.entry(uid).or_insert((version, Instant::now()));
        if version >= newest.0 {
            *newest = (version, Instant::now());
        }
    }

    /// Whether `cached` is older than this operator's newest write of it. Once it is not, the
    /// write is forgotten.
    pub fn behind<K: Resource>(&self, cached: &K) -> bool {
        let (Some(uid), Some(version)) = (cached.uid(), version(cached)) else {
            return false;
        };
        let mut map = self.newest.lock().unwrap_or_else(|p| p.into_inner());
        match map.get(&uid) {
            Some((newest, at)) if version < *newest && at.elapsed() < PATIENCE => true,
            Some(_) => {
                map.remove(&uid);
                false
            }
            None => false,
        }
    }

    /// Forgets `uid` (its object is gone).
    pub fn forget(&self, uid: &str) {
        self.newest
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(uid);
    }

    /// How many writes are remembered (bounded by the objects written and not yet seen).
    pub fn len(&self) -> usize {
        self.newest.lock().unwrap_or_else(|p| p.into_inner()).len()
    }

    /// Whether none is.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

fn version<K: Resource>(object: &K) -> Option<u64> {
    object.resource_version()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::ConfigMap;
    use kube::api::ObjectMeta;

    fn object(uid: &str, version: &str) -> ConfigMap {
        ConfigMap {
            metadata: ObjectMeta {
                uid: Some(uid.into()),
                resource_version: Some(version.into()),
                ..Default::default()
            },
            ..Default::default()
        }
    }

    #[test]
    fn a_cached_object_older_than_our_write_is_behind_until_the_cache_catches_up() {
        let writes = Writes::default();
        writes.wrote(&object("a", "12"));
        assert!(writes.behind(&object("a", "11")), "the cache still has 11");
        assert!(!writes.behind(&object("b", "1")), "another object is not");
        assert!(!writes.behind(&object("a", "12")), "caught up");
        assert!(writes.is_empty(), "the caught-up write is forgotten");
        assert!(
            !writes.behind(&object("a", "11")),
            "nothing remembered any more"
        );
    }

    #[test]
    fn a_newer_object_written_by_someone_else_is_not_behind() {
        let writes = Writes::default();
        writes.wrote(&object("a", "12"));
        writes.wrote(&object("a", "9"));
        assert!(writes.behind(&object("a", "10")), "the newest write counts");
        assert!(!writes.behind(&object("a", "30")));
    }

    #[test]
    fn resource_versions_that_are_not_integers_are_never_compared() {
        let writes = Writes::default();
        writes.wrote(&object("a", "opaque-2"));
        assert!(!writes.behind(&object("a", "opaque-1")));
        assert!(writes.is_empty());
    }
}
