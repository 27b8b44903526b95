//! A small terminal emulator for the pseudo-terminal tests: enough of a VT100 (carriage
//! return, line feed, deferred wrap at the right margin, erase line, cursor up/down/column) to
//! turn a transcript into the screen a user is left looking at.

/// The lines of the screen after `transcript` is written to a terminal `width` columns wide,
/// trailing blanks trimmed, trailing empty lines dropped.
pub fn render(transcript: &str, width: usize) -> Vec<String> {
    let mut lines: Vec<Vec<char>> = vec![Vec::new()];
    let (mut row, mut col) = (0usize, 0usize);
    let mut pending_wrap = false;
    let mut chars = transcript.chars().peekable();
    let ensure = |lines: &mut Vec<Vec<char>>, row: usize| {
        while lines.len() <= row {
            lines.push(Vec::new());
        }
    };
    while let Some(c) = chars.next() {
        match c {
            '\r' => {
                col = 0;
                pending_wrap = false;
            }
            '\n' => {
                row += 1;
                pending_wrap = false;
                ensure(&mut lines, row);
            }
            '\x1b' => {
                if chars.peek() != Some(&'[') {
                    chars.next();
                    continue;
                }
                chars.next();
                let mut params = String::new();
                let mut fin = ' ';
                for p in chars.by_ref() {
                    if p.is_ascii_alphabetic() || p == '@' || p == '~' {
                        fin = p;
                        break;
                    }
                    params.push(p);
                }
                let n = params
                    .trim_start_matches('?')
                    .split(';')
                    .next()
                    .and_then(|s| s.parse::<usize>().ok());
                match fin {
                    'A' => row = row.saturating_sub(n.unwrap_or(1).max(1)),
                    'B' => {
                        row += n.unwrap_or(1).max(1);
                        ensure(&mut lines, row);
                    }
                    'G' => col = n.unwrap_or(1).max(1) - 1,
                    'K' => match n.unwrap_or(0) {
                        0 => lines[row].truncate(col),
                        1 => {
                            for x in lines[row].iter_mut().take(col + 1) {
                                *x = ' ';
                            }
                        }
                        _ => lines[row].clear(),
                    },
                    'J' => {
                        lines[row].truncate(col);
                        lines.truncate(row + 1);
                    }
                    _ => {}
                }
                pending_wrap = false;
            }
            c if c.is_control() => {}
            c => {
                if pending_wrap {
                    row += 1;
                    col = 0;
                    pending_wrap = false;
                    ensure(&mut lines, row);
                }
                let line = &mut lines[row];
                while line.len() < col {
                    line.push(' ');
                }
                if col < line.len() {
                    line[col] = c;
                } else {
                    line.push(c);
                }
                col += 1;
                if col == width {
                    col = width - 1;
                    pending_wrap = true;
                }
            }
        }
    }
    let mut out: Vec<String> = lines
        .into_iter()
        .map(|l| l.into_iter().collect::<String>().trim_end().to_string())
        .collect();
    while out.last().is_some_and(String::is_empty) {
        out.pop();
    }
    out
}
