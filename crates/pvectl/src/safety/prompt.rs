//! Confirmation prompts on stderr, answered on stdin (also when it is not a terminal, so scripts
//! can pipe `yes`; no answer is "no"), and the journal entry of a destructive command that was
//! declined or refused.

use std::io::{BufRead, IsTerminal};

use crate::App;
use crate::exit::{ABORTED, Exit};

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
