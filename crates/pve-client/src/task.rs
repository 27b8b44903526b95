//! Tasks: their status, log, listing and stop, and waiting on one as a stream of progress.
//!
//! A task ends with `TASK OK`, `TASK WARNINGS: n` (a success) or `TASK ERROR: msg`. Right after
//! a task is created, its status may not be readable yet (PVE: 400 `no such task`; fakepve:
//! `unable to parse worker upid`), so those count as "still starting" for a grace period.

use std::time::{Duration, Instant};

use futures::{Stream, StreamExt};
use reqwest::Method;
use serde::Deserialize;

use crate::types::{de_u64, de_u64_req};
use crate::{Client, Error, Params, Upid};

/// How a finished task ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TaskOutcome {
    /// `TASK OK`.
    Ok,
    /// `TASK WARNINGS: n`: a success, with warnings in the log.
    Warnings(u32),
    /// `TASK ERROR: msg` (or any other exit status).
    Error(String),
}

impl TaskOutcome {
    /// Read PVE's `exitstatus`.
    pub fn from_exit_status(text: &str) -> Self {
        if text == "OK" {
            return TaskOutcome::Ok;
        }
        if let Some(n) = text.strip_prefix("WARNINGS: ")
            && let Ok(n) = n.trim().parse()
        {
            return TaskOutcome::Warnings(n);
        }
        TaskOutcome::Error(text.to_string())
    }

    /// OK or warnings.
    pub fn is_success(&self) -> bool {
        !matches!(self, TaskOutcome::Error(_))
    }
}

/// `GET /nodes/{node}/tasks/{upid}/status`.
#[derive(Debug, Clone, Deserialize)]
pub struct TaskStatus {
    /// The task.
    pub upid: Upid,
    /// `running` or `stopped`.
    pub status: String,
    /// Set once stopped: `OK`, `WARNINGS: n`, or the error.
    #[serde(default)]
    pub exitstatus: Option<String>,
    /// Task type.
    #[serde(rename = "type")]
    pub kind: String,
    /// Object id.
    #[serde(default)]
    pub id: Option<String>,
    /// Who started it.
    pub user: String,
    /// Start, Unix seconds.
    #[serde(deserialize_with = "de_u64_req")]
    pub starttime: u64,
}

impl TaskStatus {
    /// True while the worker runs.
    pub fn is_running(&self) -> bool {
        self.status == "running"
    }
    /// The outcome, once stopped.
    pub fn outcome(&self) -> Option<TaskOutcome> {
        if self.is_running() {
            return None;
        }
        Some(TaskOutcome::from_exit_status(
            self.exitstatus.as_deref().unwrap_or("unexpected status"),
        ))
    }
}

/// A line of `GET .../tasks/{upid}/log`.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub struct TaskLogLine {
    /// 1-based line number.
    #[serde(deserialize_with = "de_u64_req")]
    pub n: u64,
    /// The text.
    pub t: String,
}

/// An item of `GET /nodes/{node}/tasks`.
#[derive(Debug, Clone, Deserialize)]
pub struct TaskListItem {
    /// The task.
    pub upid: Upid,
    /// Task type.
    #[serde(rename = "type")]
    pub kind: String,
    /// Object id.
    #[serde(default)]
    pub id: Option<String>,
    /// Who started it.
    pub user: String,
    /// Exit status text, or `RUNNING`.
    #[serde(default)]
    pub status: Option<String>,
    /// End, Unix seconds.
    #[serde(default, deserialize_with = "de_u64")]
    pub endtime: Option<u64>,
}

/// Filters for [`Client::task_list`].
#[derive(Debug, Clone, Default)]
pub struct TaskFilter {
    /// Only tasks of this guest.
    pub vmid: Option<u32>,
    /// Only this task type.
    pub typefilter: Option<String>,
    /// Only failed tasks.
    pub errors: bool,
    /// Skip this many.
    pub start: Option<u32>,
    /// At most this many (PVE default 50).
    pub limit: Option<u32>,
    /// Running tasks too (`source=all`; Proxmox lists only ended ones unless asked).
    pub running_too: bool,
    /// Only tasks started at or after this Unix time (`since`).
    pub since: Option<u64>,
}

/// Options for waiting on a task.
#[derive(Debug, Clone, Copy)]
pub struct WaitOptions {
    /// The longest time between polls (PVE clients use 1 s). The first status read is at
    /// once, the next after [`FIRST_POLL_WAIT`], each wait after that twice the one before,
    /// up to this: a task that ends at once costs one status read, a long one this interval.
    pub poll_interval: Duration,
    /// Give up after this long ([`Error::TaskTimeout`]; the task keeps running).
    pub timeout: Duration,
    /// How long an unknown UPID counts as "not visible yet".
    pub startup_grace: Duration,
    /// Fetch new log lines with each poll.
    pub follow_log: bool,
    /// Skip the log when the first status read already says the task ended without errors or
    /// warnings (nothing to show or explain, one request less); otherwise the log is read at
    /// the end as always.
    pub skip_log_when_ok_at_once: bool,
}

/// The first wait between two status reads of a task; it doubles up to the poll interval.
pub const FIRST_POLL_WAIT: Duration = Duration::from_millis(50);

impl Default for WaitOptions {
    fn default() -> Self {
        Self {
            poll_interval: Duration::from_secs(1),
            timeout: Duration::from_secs(600),
            startup_grace: Duration::from_secs(10),
            follow_log: true,
            skip_log_when_ok_at_once: false,
        }
    }
}

/// One step of a watched task: its state, the log lines new since the last step, and the
/// outcome on the last step.
#[derive(Debug, Clone)]
pub struct TaskProgress {
    /// Still running.
    pub running: bool,
    /// New log lines.
    pub lines: Vec<String>,
    /// Set on the final step.
    pub outcome: Option<TaskOutcome>,
}

/// Lines per log page.
const LOG_PAGE: u32 = 500;

impl Client {
    /// `GET /nodes/{node}/tasks/{upid}/status` (node taken from the UPID).
    pub async fn task_status(&self, upid: &Upid) -> Result<TaskStatus, Error> {
        let id = upid.to_string();
        let segs = ["nodes", upid.node.as_str(), "tasks", id.as_str(), "status"];
        self.call("task_status", Method::GET, &segs, Params::new())
            .await
    }

    /// One page of the task log: lines after the first `start`, at most `limit`.
    pub async fn task_log(
        &self,
        upid: &Upid,
        start: u32,
        limit: u32,
    ) -> Result<Vec<TaskLogLine>, Error> {
        let id = upid.to_string();
        let segs = ["nodes", upid.node.as_str(), "tasks", id.as_str(), "log"];
        let params = Params::new().set("start", start).set("limit", limit);
        self.call("task_log", Method::GET, &segs, params).await
    }

    /// The whole log from line `start` on, page by page.
    pub async fn task_log_from(&self, upid: &Upid, start: u32) -> Result<Vec<TaskLogLine>, Error> {
        let mut out = Vec::new();
        loop {
            let offset = start + u32::try_from(out.len()).unwrap_or(u32::MAX);
            let page = self.task_log(upid, offset, LOG_PAGE).await?;
            let full = page.len() >= LOG_PAGE as usize;
            // PVE answers an empty log with a single "no content" line.
            out.extend(
                page.into_iter()
                    .filter(|l| !(l.n == 1 && l.t == "no content")),
            );
            if !full {
                return Ok(out);
            }
        }
    }

    /// `GET /nodes/{node}/tasks`: ended tasks (and running ones with
    /// [`TaskFilter::running_too`]), newest first.
    pub async fn task_list(
        &self,
        node: &str,
        filter: &TaskFilter,
    ) -> Result<Vec<TaskListItem>, Error> {
        let params = Params::new()
            .opt("vmid", filter.vmid)
            .opt("typefilter", filter.typefilter.as_deref())
            .opt("start", filter.start)
            .opt("limit", filter.limit)
            .opt("source", filter.running_too.then_some("all"))
            .opt("since", filter.since)
            .opt_flag("errors", filter.errors.then_some(true));
        self.call("task_list", Method::GET, &["nodes", node, "tasks"], params)
            .await
    }

    /// `DELETE /nodes/{node}/tasks/{upid}`: stop a running task (it ends in `TASK ERROR`).
    pub async fn task_stop(&self, upid: &Upid) -> Result<(), Error> {
        let id = upid.to_string();
        let segs = ["nodes", upid.node.as_str(), "tasks", id.as_str()];
        let _: serde_json::Value = self
            .call("task_stop", Method::DELETE, &segs, Params::new())
            .await?;
        Ok(())
    }

    /// Watch a task: a stream of progress that ends after the step carrying the outcome, or
    /// with [`Error::TaskTimeout`]. Transient read failures are retried by the client; other
    /// errors end the stream.
    pub fn watch_task(
        &self,
        upid: &Upid,
        opts: WaitOptions,
    ) -> impl Stream<Item = Result<TaskProgress, Error>> + Send + 'static {
        let state = Watch {
            client: self.clone(),
            upid: upid.clone(),
            opts,
            started: Instant::now(),
            seen: 0,
            first: true,
            next_wait: FIRST_POLL_WAIT.min(opts.poll_interval),
            done: false,
        };
        futures::stream::unfold(state, |mut st| async move {
            if st.done {
                return None;
            }
            let item = st.step().await;
            if !matches!(&item, Ok(p) if p.outcome.is_none()) {
                st.done = true;
            }
            Some((item, st))
        })
    }

    /// Wait for a task to end. `Ok` and `Warnings` are success; `TASK ERROR` is
    /// [`Error::TaskFailed`].
    pub async fn wait_task(&self, upid: &Upid, opts: WaitOptions) -> Result<TaskOutcome, Error> {
        let stream = self.watch_task(upid, opts);
        futures::pin_mut!(stream);
        while let Some(step) = stream.next().await {
            match step?.outcome {
                Some(TaskOutcome::Error(exit_status)) => {
                    return Err(Error::TaskFailed {
                        upid: upid.to_string(),
                        exit_status,
                    });
                }
                Some(done) => return Ok(done),
                None => {}
            }
        }
        Err(Error::TaskTimeout {
            upid: upid.to_string(),
        })
    }
}

struct Watch {
    client: Client,
    upid: Upid,
    opts: WaitOptions,
    started: Instant,
    seen: u32,
    first: bool,
    /// The wait before the next status read (doubling up to the poll interval).
    next_wait: Duration,
    done: bool,
}

impl Watch {
    async fn step(&mut self) -> Result<TaskProgress, Error> {
        if !self.first {
            let left = self.opts.timeout.saturating_sub(self.started.elapsed());
            if left.is_zero() {
                return Err(Error::TaskTimeout {
                    upid: self.upid.to_string(),
                });
            }
            tokio::time::sleep(self.next_wait.min(left)).await;
            self.next_wait = (self.next_wait * 2).min(self.opts.poll_interval);
        }
        let at_once = self.first;
        self.first = false;
        let status = match self.client.task_status(&self.upid).await {
            Ok(s) => s,
            Err(e) if not_visible_yet(&e) && self.started.elapsed() < self.opts.startup_grace => {
                return Ok(TaskProgress {
                    running: true,
                    lines: Vec::new(),
                    outcome: None,
                });
            }
            Err(e) => return Err(e),
        };
        let outcome = status.outcome();
        // Read the log after the status, so a stopped task's final lines are all there.
        let quiet = at_once
            && self.opts.skip_log_when_ok_at_once
            && matches!(outcome, Some(TaskOutcome::Ok));
        let lines = if quiet {
            Vec::new()
        } else if self.opts.follow_log || outcome.is_some() {
            let new = self.client.task_log_from(&self.upid, self.seen).await?;
            self.seen += u32::try_from(new.len()).unwrap_or(0);
            new.into_iter().map(|l| l.t).collect()
        } else {
            Vec::new()
        };
        Ok(TaskProgress {
            running: outcome.is_none(),
            lines,
            outcome,
        })
    }
}

/// PVE's answers for a UPID it does not know (yet).
fn not_visible_yet(e: &Error) -> bool {
    match e {
        Error::InvalidParams { errors, .. } => errors
            .get("upid")
            .is_some_and(|m| m.contains("no such task")),
        Error::NotFound { message } => {
            message.contains("unable to parse worker upid") || message.contains("no such task")
        }
        _ => false,
    }
}
