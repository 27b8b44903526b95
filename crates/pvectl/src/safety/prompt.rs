//! Confirmation prompts on stderr, answered on stdin (also when it is not a terminal, so scripts
//! can pipe `yes`; no answer is "no"), and the journal entry of a destructive command that was
//! declined or refused.

use std::io::{BufRead, IsTerminal};

use crate::App;
use crate::exit::{ABORTED, Exit};
use crate::select::GuestInfo;

/// Ask `question`; Ok on yes, an `ABORTED` error otherwise.
pub fn confirm(app: &App, question: &str) -> anyhow::Result<()> {
    if app.yes {
        return Ok(());
    }
    eprint!("{question} [y/N]: ");
    let mut line = String::new();
    let read = std::io::stdin().lock().read_line(&mut line).unwrap_or(0);
    let answer = line.trim().to_ascii_lowercase();
    // A terminal echoes the answer and its newline; a pipe does not, so pvectl does.
    if read == 0 {
        eprintln!();
    } else if !std::io::stdin().is_terminal() {
        eprintln!("{}", line.trim());
    }
    if answer == "y" || answer == "yes" {
        return Ok(());
    }
    Err(Exit {
        code: ABORTED,
        message: if read == 0 {
            "no answer on stdin: nothing was changed (pass --yes to skip the question)".into()
        } else {
            "aborted: nothing was changed".into()
        },
    }
    .into())
}

/// Show the guests `action` would change and ask before doing `what` to them; the others are
/// named in a note and skipped (they are left alone: nothing to do). No question when nothing
/// would change.
pub fn confirm_list(
    app: &App,
    what: &str,
    action: &crate::bulk::Action,
    guests: &[GuestInfo],
) -> anyhow::Result<()> {
    if app.yes {
        return Ok(());
    }
    let (change, skip): (Vec<&GuestInfo>, Vec<&GuestInfo>) =
        guests.iter().partition(|g| crate::bulk::changes(g, action));
    if !skip.is_empty() {
        let names: Vec<String> = skip
            .iter()
            .map(|g| format!("{} ({})", g.label(), g.status))
            .collect();
        eprintln!(
            "note: skipping {} of {} guest(s) with nothing to {}: {}",
            skip.len(),
            guests.len(),
            action.verb(),
            names.join(", ")
        );
    }
    if change.is_empty() {
        return Ok(());
    }
    eprintln!("About to {what}:");
    for g in &change {
        eprintln!("  {}  node {}  {}", g.display(), g.node, g.status);
    }
    let labels: Vec<String> = change.iter().map(|g| g.label()).collect();
    confirm_journaled(
        app,
        &format!("Continue with {} guest(s)?", change.len()),
        &labels,
    )
}

/// Ask like [`confirm`]; a "no" (or no answer) goes into the journal as a `declined` command on
/// `guests`.
pub fn confirm_journaled(app: &App, question: &str, guests: &[String]) -> anyhow::Result<()> {
    confirm(app, question).inspect_err(|e| not_done(app, guests, e))
}

/// Journal a destructive command that changed nothing: `declined` at the prompt, or `refused`
/// by a safety check, with the reason.
pub fn not_done(app: &App, guests: &[String], err: &anyhow::Error) {
    let outcome = if crate::exit::code_of(err) == ABORTED {
        "declined"
    } else {
        "refused"
    };
    let mut record = app.record();
    record.guests = guests.to_vec();
    record.outcome = outcome.into();
    record.error = Some(format!("{err:#}"));
    crate::journal::append(&record);
}
