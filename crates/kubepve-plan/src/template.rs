//! Finding the template a clone starts from by its name, as the operator (`spec.template`) and
//! `pvectl create -f` both do: exactly one template may carry the name.

use std::fmt;

use crate::desired::TemplateRef;

/// A guest that may be the template, as the caller listed it (`/cluster/resources`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Candidate<'a> {
    /// Its VMID.
    pub vmid: i64,
    /// Its node, when known.
    pub node: Option<&'a str>,
    /// Its name.
    pub name: &'a str,
    /// Whether it is a template.
    pub template: bool,
}

/// Why no single template carries the name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NoTemplate {
    /// No template has the name.
    Missing {
        /// The name looked for.
        name: String,
    },
    /// Several templates have it.
    Ambiguous {
        /// The name looked for.
        name: String,
        /// Their VMIDs, in the order listed.
        vmids: Vec<i64>,
    },
}

impl fmt::Display for NoTemplate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NoTemplate::Missing { name } => write!(f, "no template named {name} in the cluster"),
            NoTemplate::Ambiguous { name, vmids } => {
                let ids: Vec<String> = vmids.iter().map(i64::to_string).collect();
                write!(
                    f,
                    "{} templates are named {name} (VMIDs {}); use templateVmid",
                    vmids.len(),
                    ids.join(", ")
                )
            }
        }
    }
}

impl std::error::Error for NoTemplate {}

/// The one template among `guests` named `name`.
pub fn find_template<'a>(
    guests: impl IntoIterator<Item = Candidate<'a>>,
    name: &str,
) -> Result<TemplateRef, NoTemplate> {
    let found: Vec<Candidate<'a>> = guests
        .into_iter()
        .filter(|g| g.template && g.name == name)
        .collect();
    match found.as_slice() {
        [one] => Ok(TemplateRef {
            vmid: one.vmid,
            node: one.node.map(str::to_string),
        }),
        [] => Err(NoTemplate::Missing { name: name.into() }),
        many => Err(NoTemplate::Ambiguous {
            name: name.into(),
            vmids: many.iter().map(|g| g.vmid).collect(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn guest(vmid: i64, name: &'static str, template: bool) -> Candidate<'static> {
        Candidate {
            vmid,
            node: Some("pve1"),
            name,
            template,
        }
    }

    #[test]
    fn the_one_template_with_the_name_is_found() {
        let guests = [guest(100, "debian", false), guest(9000, "debian", true)];
        let found = find_template(guests, "debian").expect("one template");
        assert_eq!(found.vmid, 9000);
        assert_eq!(found.node.as_deref(), Some("pve1"));
    }

    #[test]
    fn none_or_several_say_why() {
        let guests = [guest(9000, "debian", true), guest(9001, "debian", true)];
        let e = find_template(guests, "debian").expect_err("ambiguous");
        assert_eq!(
            e.to_string(),
            "2 templates are named debian (VMIDs 9000, 9001); use templateVmid"
        );
        let e = find_template([guest(100, "debian", false)], "debian").expect_err("missing");
        assert_eq!(e.to_string(), "no template named debian in the cluster");
    }
}
