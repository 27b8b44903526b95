//! `GuestSelector`: the label selector a ProxmoxSnapshotSchedule picks guests with. The same
//! JSON as a Kubernetes `LabelSelector`, with the rules the kube-apiserver applies to one in the
//! schema (operator one of In, NotIn, Exists, DoesNotExist; values for In/NotIn and none for
//! Exists/DoesNotExist) and bounds on every list, map and string so the CEL cost stays in budget.
//! The operator stays a string so an object stored before these rules still deserializes and
//! the controller can stall it with a message instead of failing to read it.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, LabelSelectorRequirement};
use kube::KubeSchema;
use kube::core::Selector;
use serde::{Deserialize, Serialize};

/// Which objects to select by label; the requirements are ANDed.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct GuestSelector {
    /// Labels the object must have, with these values.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    // Bounded values keep the CEL rules over them within the API server's cost budget (an
    // unbounded string counts as the largest request the server takes).
    #[schemars(extend("maxProperties" = 64, "additionalProperties" = {"type": "string", "maxLength": 63}))]
    pub match_labels: Option<BTreeMap<String, String>>,
    /// Label requirements the object must meet.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 32))]
    pub match_expressions: Option<Vec<SelectorRequirement>>,
}

/// One label requirement: a key, an operator and the values it relates the key to.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, KubeSchema)]
#[x_kube(validation = kube::core::Rule::new("self.operator in ['In', 'NotIn'] ? (has(self.values) && size(self.values) > 0) : (!has(self.values) || size(self.values) == 0)").message("values must be non-empty for operator In and NotIn, and empty for Exists and DoesNotExist").field_path(".values"))]
pub struct SelectorRequirement {
    /// The label key.
    #[schemars(length(min = 1, max = 317))]
    pub key: String,
    /// In, NotIn, Exists or DoesNotExist.
    #[schemars(extend("enum" = ["In", "NotIn", "Exists", "DoesNotExist"]))]
    pub operator: String,
    /// The values, for In and NotIn.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 64), inner(length(max = 63)))]
    pub values: Option<Vec<String>>,
}

impl From<&GuestSelector> for LabelSelector {
    fn from(selector: &GuestSelector) -> Self {
        Self {
            match_labels: selector.match_labels.clone(),
            match_expressions: selector.match_expressions.as_ref().map(|all| {
                all.iter()
                    .map(|r| LabelSelectorRequirement {
                        key: r.key.clone(),
                        operator: r.operator.clone(),
                        values: r.values.clone(),
                    })
                    .collect()
            }),
        }
    }
}

/// A `matchExpressions` entry the kube-apiserver would refuse.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("matchExpressions[{index}] (key {key:?}): {reason}")]
pub struct SelectorError {
    /// Its position in matchExpressions.
    pub index: usize,
    /// Its key.
    pub key: String,
    /// What is wrong and how to fix it.
    pub reason: String,
}

/// The label selector `selector` stands for, checked the way the kube-apiserver checks one
/// (an unknown operator, or values that do not fit the operator, is an error rather than a
/// selector that matches everything). Schedules (guestSelector) and sets (selector) use it.
pub fn checked(selector: &LabelSelector) -> Result<Selector, SelectorError> {
    for (index, req) in selector.match_expressions.iter().flatten().enumerate() {
        let count = req.values.as_ref().map_or(0, Vec::len);
        let reason = match req.operator.as_str() {
            "In" | "NotIn" if count == 0 => Some(format!(
                "operator {} needs at least one value in values",
                req.operator
            )),
            "Exists" | "DoesNotExist" if count > 0 => Some(format!(
                "operator {} takes no values; remove values",
                req.operator
            )),
            "In" | "NotIn" | "Exists" | "DoesNotExist" => None,
            other => Some(format!(
                "operator {other:?} is not one of In, NotIn, Exists, DoesNotExist"
            )),
        };
        if let Some(reason) = reason {
            return Err(SelectorError {
                index,
                key: req.key.clone(),
                reason,
            });
        }
    }
    Selector::try_from(selector.clone()).map_err(|e| SelectorError {
        index: 0,
        key: String::new(),
        reason: e.0,
    })
}
