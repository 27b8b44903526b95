//! One `/cluster/resources` read for every manifest of a round of `apply` (DESIGN.md: one bulk
//! read feeds every object). A manifest that needs to observe asks for a read that began after
//! its last step ended; a read that did serves it, and manifests that ask while one is being
//! made wait for it and share it. So the manifests converging side by side cost one read per
//! round between them instead of one each, and none sees an answer older than its own step.

use std::sync::Arc;
use std::time::Instant;

use tokio::sync::Mutex;

use crate::config::Connection;
use crate::select::{self, GuestInfo};

/// The last read and when it began.
type Read = (Instant, Arc<Vec<GuestInfo>>);

/// The resource read the manifests of one `apply` share.
pub struct SharedRead<'a> {
    conn: &'a Connection,
    last: Mutex<Option<Read>>,
}

impl<'a> SharedRead<'a> {
    /// No read yet: the first manifest to observe makes it.
    pub fn new(conn: &'a Connection) -> Self {
        Self {
            conn,
            last: Mutex::new(None),
        }
    }

    /// Every guest, from a read that began at or after `since`: the last read if it did, else a
    /// new one. The lock is held while reading, so that callers arriving meanwhile take the
    /// new answer instead of each making their own. A failed read is the caller's error; the
    /// next caller tries again.
    pub async fn after(&self, since: Instant) -> anyhow::Result<Arc<Vec<GuestInfo>>> {
        let mut last = self.last.lock().await;
        if let Some((began, guests)) = &*last
            && *began >= since
        {
            return Ok(Arc::clone(guests));
        }
        let began = Instant::now();
        let guests = Arc::new(select::guests_and_nodes(self.conn).await?);
        *last = Some((began, Arc::clone(&guests)));
        Ok(guests)
    }
}
