//! Waiting for Proxmox tasks with visible progress: a spinner per task on a terminal (turned
//! into a bar when the task log reports a percentage, as disk clones and moves do), plain
//! `label: line` messages on stderr otherwise. Results and UPIDs go to stdout; progress never
//! does, so output stays parseable.

use std::io::IsTerminal;
use std::time::Duration;

use futures::StreamExt;
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use pve_client::{Client, TaskOutcome, Upid, WaitOptions};

/// How long and how often to wait for tasks.
#[derive(Debug, Clone, Copy)]
pub struct WaitSettings {
    /// Return as soon as a task is started.
    pub no_wait: bool,
    /// Give up waiting after this long (the task keeps running).
    pub timeout: Duration,
    /// The longest time between polls (the first ones are shorter: see `WaitOptions`).
    pub poll: Duration,
}

impl WaitSettings {
    /// The client's wait options.
    pub fn options(&self) -> WaitOptions {
        WaitOptions {
            poll_interval: self.poll,
            timeout: self.timeout,
            startup_grace: Duration::from_secs(10),
            follow_log: true,
            // The outcome line says "OK"; the log stays one `pvectl task logs` away.
            skip_log_when_ok_at_once: true,
        }
    }
}

/// The progress display for one command (several tasks may run at once).
#[derive(Clone)]
pub struct Progress {
    multi: Option<MultiProgress>,
}

impl Progress {
    /// Bars on a terminal, plain lines otherwise (`PVECTL_PROGRESS=plain|tty` forces one).
    pub fn new() -> Self {
        let forced = std::env::var("PVECTL_PROGRESS").ok();
        let tty = match forced.as_deref() {
            Some("plain") => false,
            Some("tty") => true,
            _ => std::io::stderr().is_terminal(),
        };
        Self {
            multi: tty.then(|| MultiProgress::with_draw_target(ProgressDrawTarget::stderr())),
        }
    }

    /// Print a result line on stdout; on a terminal the bars are hidden meanwhile, so a line
    /// printed while other tasks' spinners run does not strand a copy of them on the screen.
    pub fn out(&self, line: &str) {
        match &self.multi {
            Some(m) => m.suspend(|| outln!("{line}")),
            None => outln!("{line}"),
        }
    }

    /// A spinner `PREFIX [elapsed] running` on a terminal (None when plain); `elapsed` is how
    /// long the task has already been running.
    pub fn spinner(&self, prefix: &str, elapsed: Duration) -> Option<ProgressBar> {
        self.multi.as_ref().map(|m| {
            let b = m.add(ProgressBar::new_spinner().with_elapsed(elapsed));
            b.set_style(spinner_style());
            b.set_prefix(prefix.to_string());
            b.set_message("running");
            b.enable_steady_tick(Duration::from_millis(120));
            b
        })
    }

    /// Replace a spinner by its final line, printed above the bars so that it stays on the
    /// screen when later lines and steps come (a finished bar left in place would be cleared
    /// by the next redraw).
    pub fn finish(&self, bar: &ProgressBar, text: &str) {
        bar.finish_and_clear();
        self.note(text);
    }

    /// Print a line above the bars (or plainly on stderr). The bars are hidden while it is
    /// written, so the line is the text and its newline: indicatif's own `println` pads it to
    /// the terminal's width and leaves the cursor at its end, so whatever comes next (a stdout
    /// line, the shell prompt) would run on in a log of the session.
    pub fn note(&self, line: &str) {
        match &self.multi {
            Some(m) => m.suspend(|| eprintln!("{line}")),
            None => eprintln!("{line}"),
        }
    }
}

impl Default for Progress {
    fn default() -> Self {
        Self::new()
    }
}

/// A percentage at the end of a log line (`... (42.50%)`, `... 42%`).
pub fn percent_of(line: &str) -> Option<f64> {
    let idx = line.rfind('%')?;
    let head = &line[..idx];
    let start = head
        .rfind(|c: char| !(c.is_ascii_digit() || c == '.'))
        .map_or(0, |i| i + 1);
    head[start..]
        .parse()
        .ok()
        .filter(|p: &f64| (0.0..=100.0).contains(p))
}

/// Wait for `upid`, showing progress under `label`; the outcome, or an error for a failed
/// task or a timeout (whose message names the UPID to follow with `pvectl task watch`).
pub async fn wait(
    client: &Client,
    upid: &Upid,
    label: &str,
    settings: WaitSettings,
    progress: &Progress,
) -> anyhow::Result<TaskOutcome> {
    let bar = progress.spinner(&format!("{label} {}", upid.task_type), Duration::ZERO);
    if let Some(b) = &bar {
        b.set_message("starting");
    }
    let stream = client.watch_task(upid, settings.options());
    futures::pin_mut!(stream);
    let mut outcome = None;
    let mut failure = None;
    while let Some(step) = stream.next().await {
        match step {
            Ok(p) => {
                for line in &p.lines {
                    match &bar {
                        Some(b) => {
                            if let Some(pct) = percent_of(line) {
                                if b.length().is_none() {
                                    b.set_length(100);
                                    b.set_style(bar_style());
                                }
                                b.set_position(pct as u64);
                            }
                            b.set_message(line.clone());
                        }
                        // The outcome line below says how the task ended.
                        None if line.starts_with("TASK ") => {}
                        None => eprintln!("{label}: {line}"),
                    }
                }
                if p.outcome.is_none()
                    && p.lines.is_empty()
                    && let Some(b) = &bar
                    && b.message() == "starting"
                {
                    b.set_message("running");
                }
                if let Some(o) = p.outcome {
                    outcome = Some(o);
                }
            }
            Err(e) => failure = Some(e),
        }
    }
    let exit_status = match &outcome {
        Some(TaskOutcome::Error(msg)) => Some(msg.clone()),
        Some(TaskOutcome::Warnings(n)) => Some(format!("WARNINGS: {n}")),
        Some(_) => Some("OK".to_string()),
        None => None,
    };
    if let Some(status) = exit_status {
        crate::journal::task_finished(&upid.to_string(), &status);
    }
    let (text, result) = match (outcome, failure) {
        (Some(TaskOutcome::Error(msg)), _) => (
            format!("✗ {label} {}: {msg}", upid.task_type),
            Err(anyhow::anyhow!("task {upid} failed: {msg}")),
        ),
        (Some(o), _) => {
            let shown = match &o {
                TaskOutcome::Warnings(n) => format!("OK with {n} warnings"),
                _ => "OK".to_string(),
            };
            (format!("✓ {label} {}: {shown}", upid.task_type), Ok(o))
        }
        (None, Some(pve_client::Error::TaskTimeout { .. })) | (None, None) => (
            format!(
                "… {label} {}: still running after the timeout",
                upid.task_type
            ),
            Err(anyhow::anyhow!(
                "gave up waiting for task {upid}; it may still be running: follow it with \
                 `pvectl task watch {upid}`"
            )),
        ),
        (None, Some(e)) => (
            format!(
                "? {label} {}: {}",
                upid.task_type,
                crate::exit::describe(&e)
            ),
            Err(anyhow::anyhow!(
                "cannot follow task {upid}: {}",
                crate::exit::describe(&e)
            )),
        ),
    };
    match &bar {
        Some(b) => progress.finish(b, &text),
        None => eprintln!("{}", text.trim_start_matches(['✓', '✗', '…', '?', ' '])),
    }
    result
}

fn spinner_style() -> ProgressStyle {
    ProgressStyle::with_template("{spinner} {prefix} [{elapsed}] {wide_msg}")
        .unwrap_or_else(|_| ProgressStyle::default_spinner())
}

fn bar_style() -> ProgressStyle {
    ProgressStyle::with_template("{prefix} [{bar:30}] {pos:>3}% [{elapsed}] {wide_msg}")
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ")
}

#[cfg(test)]
mod tests {
    use super::percent_of;

    #[test]
    fn percentages() {
        assert_eq!(
            percent_of("drive-scsi0: transferred 1.0 GiB of 32.0 GiB (3.12%)"),
            Some(3.12)
        );
        assert_eq!(percent_of("progress 42%"), Some(42.0));
        assert_eq!(percent_of("no percent"), None);
    }
}
