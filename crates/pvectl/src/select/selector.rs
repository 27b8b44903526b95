//! `-l` label selectors with kubectl's grammar, over labels stored as Proxmox tags (`key.value`;
//! see [`super`]). Requirements are comma-separated and all must hold: `key=value`,
//! `key==value`, `key!=value` (also true when the key is absent), `key in (a,b)`,
//! `key notin (a,b)` (also true when absent), `key` (exists) and `!key` (absent). Anything
//! else, such as an empty requirement (`app=web,,tier`) or a value with a blank in it
//! (`tier=front end`), is a usage error that says what is accepted.

use crate::exit::usage;

/// One selector requirement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Term {
    /// `key=value`, `key==value`.
    Eq(String, String),
    /// `key!=value`.
    Ne(String, String),
    /// `key in (a,b)`.
    In(String, Vec<String>),
    /// `key notin (a,b)`.
    NotIn(String, Vec<String>),
    /// `key`.
    Exists(String),
    /// `!key`.
    Absent(String),
}

/// A parsed `-l` selector: every term must hold.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Selector(pub Vec<Term>);

const GRAMMAR: &str = "use key=value, key==value, key!=value, 'key in (a,b)', \
     'key notin (a,b)', key or !key, separated by commas (keys hold no '.'; keys and values are \
     letters, digits, _ + - and . in values)";

/// The characters of a key (a tag's part before its first dot) and of a value.
fn is_key_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "_+-".contains(c)
}

fn is_value_char(c: char) -> bool {
    is_key_char(c) || c == '.'
}

/// A tiny cursor over the selector text.
struct Lexer<'a> {
    text: &'a str,
    pos: usize,
}

impl<'a> Lexer<'a> {
    fn skip_blanks(&mut self) {
        while self.rest().starts_with([' ', '\t']) {
            self.pos += 1;
        }
    }

    fn rest(&self) -> &'a str {
        &self.text[self.pos..]
    }

    fn eat(&mut self, token: &str) -> bool {
        self.skip_blanks();
        if self.rest().starts_with(token) {
            self.pos += token.len();
            true
        } else {
            false
        }
    }

    /// A run of characters accepted by `ok` (possibly empty).
    fn word(&mut self, ok: fn(char) -> bool) -> &'a str {
        self.skip_blanks();
        let start = self.pos;
        while let Some(c) = self.rest().chars().next().filter(|c| ok(*c)) {
            self.pos += c.len_utf8();
        }
        &self.text[start..self.pos]
    }

    fn at_end_of_term(&mut self) -> bool {
        self.skip_blanks();
        self.rest().is_empty() || self.rest().starts_with(',')
    }
}

impl Selector {
    /// Parse a selector such as `env=prod,tier in (web,api),!legacy`.
    pub fn parse(text: &str) -> anyhow::Result<Self> {
        let mut lx = Lexer { text, pos: 0 };
        let mut terms = Vec::new();
        let bad = |lx: &Lexer<'_>, what: &str| {
            usage(format!(
                "selector {text:?}: {what} at position {}: {GRAMMAR}",
                lx.pos + 1
            ))
        };
        loop {
            let term = if lx.eat("!") {
                let key = lx.word(is_key_char);
                if key.is_empty() {
                    return Err(bad(&lx, "a key must follow '!'"));
                }
                Term::Absent(key.into())
            } else {
                let key = lx.word(is_key_char);
                if key.is_empty() {
                    return Err(bad(&lx, "expected a key"));
                }
                let key = key.to_string();
                if lx.rest().starts_with('.') {
                    return Err(bad(
                        &lx,
                        "a key holds no '.' (the label key=value is stored as the tag key.value)",
                    ));
                }
                if lx.at_end_of_term() {
                    Term::Exists(key)
                } else if lx.eat("!=") {
                    Term::Ne(key, value(&mut lx, bad)?)
                } else if lx.eat("==") || lx.eat("=") {
                    Term::Eq(key, value(&mut lx, bad)?)
                } else if lx.eat("notin") {
                    Term::NotIn(key, set(&mut lx, bad)?)
                } else if lx.eat("in") {
                    Term::In(key, set(&mut lx, bad)?)
                } else {
                    return Err(bad(&lx, "expected =, ==, !=, in, notin, ',' or the end"));
                }
            };
            terms.push(term);
            if !lx.at_end_of_term() {
                return Err(bad(&lx, "unexpected text"));
            }
            if lx.rest().is_empty() {
                break;
            }
            lx.eat(",");
        }
        Ok(Self(terms))
    }

    /// Whether the tags satisfy every term (tags compared case-insensitively).
    pub fn matches(&self, tags: &[String]) -> bool {
        let labels: Vec<(String, Option<String>)> = tags
            .iter()
            .map(|t| {
                let t = t.to_ascii_lowercase();
                match t.split_once('.') {
                    Some((k, v)) => (k.to_string(), Some(v.to_string())),
                    None => (t, None),
                }
            })
            .collect();
        let has = |k: &str| labels.iter().any(|(lk, _)| lk.eq_ignore_ascii_case(k));
        let value_is = |k: &str, v: &str| {
            labels.iter().any(|(lk, lv)| {
                lk.eq_ignore_ascii_case(k)
                    && lv.as_deref().is_some_and(|x| x.eq_ignore_ascii_case(v))
            })
        };
        let value_in = |k: &str, vs: &[String]| vs.iter().any(|v| value_is(k, v));
        self.0.iter().all(|t| match t {
            Term::Eq(k, v) => value_is(k, v),
            Term::Ne(k, v) => !value_is(k, v),
            Term::In(k, vs) => value_in(k, vs),
            Term::NotIn(k, vs) => !value_in(k, vs),
            Term::Exists(k) => has(k),
            Term::Absent(k) => !has(k),
        })
    }
}

fn value(
    lx: &mut Lexer<'_>,
    bad: impl Fn(&Lexer<'_>, &str) -> anyhow::Error,
) -> anyhow::Result<String> {
    let v = lx.word(is_value_char);
    if v.is_empty() {
        return Err(bad(lx, "expected a value"));
    }
    Ok(v.to_string())
}

fn set(
    lx: &mut Lexer<'_>,
    bad: impl Fn(&Lexer<'_>, &str) -> anyhow::Error,
) -> anyhow::Result<Vec<String>> {
    if !lx.eat("(") {
        return Err(bad(lx, "expected '(' after in/notin"));
    }
    let mut values = Vec::new();
    loop {
        values.push(value(lx, &bad)?);
        if lx.eat(")") {
            return Ok(values);
        }
        if !lx.eat(",") {
            return Err(bad(lx, "expected ',' or ')' in the value set"));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tags(t: &[&str]) -> Vec<String> {
        t.iter().map(|s| s.to_string()).collect()
    }

    fn holds(selector: &str, t: &[&str]) -> bool {
        Selector::parse(selector)
            .unwrap_or_else(|e| panic!("{selector}: {e}"))
            .matches(&tags(t))
    }

    #[test]
    fn kubectl_operators_over_tags() {
        let g = ["env.prod", "app.web", "tier.front", "kubepve"];
        assert!(holds("env=prod", &g));
        assert!(holds("env==prod,app", &g));
        assert!(holds("app in (web)", &g));
        assert!(holds("app in (api, web)", &g));
        assert!(!holds("app in (api,db)", &g));
        assert!(holds("app notin (api,db)", &g));
        assert!(!holds("app notin (web)", &g));
        // notin and != hold when the key is absent, like kubectl.
        assert!(holds("legacy notin (x)", &g));
        assert!(holds("legacy!=x", &g));
        assert!(!holds("env!=prod", &g));
        assert!(holds("!legacy", &g));
        assert!(!holds("!app", &g));
        assert!(holds(" env = prod , tier in ( front ) ", &g));
        // A value may hold dots: the first dot of the tag separates the key.
        assert!(holds("ver=1.2", &["ver.1.2"]));
    }

    #[test]
    fn anything_else_is_rejected_with_the_grammar() {
        for bad in [
            "",
            "app=web,,tier",
            "app=web,",
            ",app",
            "tier=front end",
            "a.b=c",
            "app in ()",
            "app in (web",
            "app in web",
            "app notin (a,,b)",
            "app=",
            "app=~web",
            "!",
            "app>1",
        ] {
            let err = Selector::parse(bad).expect_err(bad).to_string();
            assert!(err.contains("key in (a,b)"), "{bad}: {err}");
        }
    }
}
