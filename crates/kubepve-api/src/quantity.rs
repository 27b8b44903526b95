//! Kubernetes-style quantities for memory and disk sizes (`4Gi`, `512Mi`, `32G`, `1073741824`).
//!
//! k8s-openapi's `Quantity` is a bare string: it neither accepts the integers the API server lets
//! through for `x-kubernetes-int-or-string` fields nor restricts the suffixes. Sizes here are
//! whole, non-negative byte counts, so the schema only admits a number with an optional binary
//! (`Ki`..`Pi`) or decimal (`k`..`P`) suffix, and [`Quantity::bytes`] turns it into bytes exactly.

use std::borrow::Cow;
use std::fmt;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The pattern every quantity string must match (applied by the API server).
pub const QUANTITY_PATTERN: &str = r"^[0-9]+(\.[0-9]+)?(Ki|Mi|Gi|Ti|Pi|k|M|G|T|P)?$";

/// A size such as `4Gi`, kept as the user wrote it so that `kubectl apply` shows no diff.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Quantity(pub String);

/// Why a quantity could not be turned into bytes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QuantityError {
    /// The text is not `<number>[suffix]`.
    #[error(
        "invalid quantity {0:?}: expected a number with an optional suffix Ki, Mi, Gi, Ti, Pi, k, M, G, T or P"
    )]
    Syntax(String),
    /// The value has a fraction of a byte, such as `0.5` or `1.1k`.
    #[error("invalid quantity {0:?}: it is not a whole number of bytes")]
    Fractional(String),
    /// The value does not fit in 64 bits.
    #[error("invalid quantity {0:?}: too large")]
    Overflow(String),
}

impl Quantity {
    /// A quantity from its text.
    pub fn new(text: impl Into<String>) -> Self {
        Self(text.into())
    }

    /// The size in bytes.
    pub fn bytes(&self) -> Result<u64, QuantityError> {
        let text = self.0.trim();
        let split = text
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(text.len());
        let (number, suffix) = text.split_at(split);
        let multiplier: u64 = match suffix {
            "" => 1,
            "k" => 1_000,
            "M" => 1_000_000,
            "G" => 1_000_000_000,
            "T" => 1_000_000_000_000,
            "P" => 1_000_000_000_000_000,
            "Ki" => 1 << 10,
            "Mi" => 1 << 20,
            "Gi" => 1 << 30,
            "Ti" => 1 << 40,
            "Pi" => 1 << 50,
            _ => return Err(QuantityError::Syntax(self.0.clone())),
        };
        let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
        if whole.is_empty() || (number.contains('.') && fraction.is_empty()) {
            return Err(QuantityError::Syntax(self.0.clone()));
        }
        let parse = |digits: &str| {
            digits
                .parse::<u128>()
                .map_err(|_| QuantityError::Syntax(self.0.clone()))
        };
        let overflow = || QuantityError::Overflow(self.0.clone());
        let whole_bytes = parse(whole)?
            .checked_mul(u128::from(multiplier))
            .ok_or_else(overflow)?;
        let fraction_bytes = if fraction.is_empty() {
            0
        } else {
            let scale = 10u128
                .checked_pow(u32::try_from(fraction.len()).map_err(|_| overflow())?)
                .ok_or_else(overflow)?;
            let scaled = parse(fraction)?
                .checked_mul(u128::from(multiplier))
                .ok_or_else(overflow)?;
            if scaled % scale != 0 {
                return Err(QuantityError::Fractional(self.0.clone()));
            }
            scaled / scale
        };
        u64::try_from(whole_bytes + fraction_bytes).map_err(|_| overflow())
    }
}

impl fmt::Display for Quantity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<&str> for Quantity {
    fn from(text: &str) -> Self {
        Self::new(text)
    }
}

impl Serialize for Quantity {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Quantity {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        // The API server stores `memory: 2048` as an integer; accept both forms.
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum IntOrString {
            Int(u64),
            String(String),
        }
        Ok(match IntOrString::deserialize(deserializer)? {
            IntOrString::Int(n) => Self(n.to_string()),
            IntOrString::String(s) => Self(s),
        })
    }
}

impl JsonSchema for Quantity {
    fn schema_name() -> Cow<'static, str> {
        "Quantity".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        // `minimum` applies to the integer form and `pattern` to the string form. The `anyOf` the
        // API server expects next to `x-kubernetes-int-or-string` is restored by `crds::fix_up`,
        // because kube's structural rewrite strips the types out of it.
        json_schema!({
            "minimum": 0,
            "pattern": QUANTITY_PATTERN,
            "x-kubernetes-int-or-string": true,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binary_and_decimal_suffixes() {
        assert_eq!(Quantity::new("4Gi").bytes(), Ok(4 << 30));
        assert_eq!(Quantity::new("512Mi").bytes(), Ok(512 << 20));
        assert_eq!(Quantity::new("32G").bytes(), Ok(32_000_000_000));
        assert_eq!(Quantity::new("1.5Gi").bytes(), Ok(3 << 29));
        assert_eq!(Quantity::new("1073741824").bytes(), Ok(1 << 30));
        assert_eq!(Quantity::new("2k").bytes(), Ok(2000));
    }

    #[test]
    fn rejects_what_is_not_a_byte_count() {
        assert!(matches!(
            Quantity::new("0.5").bytes(),
            Err(QuantityError::Fractional(_))
        ));
        assert!(matches!(
            Quantity::new("4GB").bytes(),
            Err(QuantityError::Syntax(_))
        ));
        assert!(matches!(
            Quantity::new("-1Gi").bytes(),
            Err(QuantityError::Syntax(_))
        ));
        assert!(matches!(
            Quantity::new("1.").bytes(),
            Err(QuantityError::Syntax(_))
        ));
        assert!(matches!(
            Quantity::new("").bytes(),
            Err(QuantityError::Syntax(_))
        ));
        assert!(matches!(
            Quantity::new("99999999Pi").bytes(),
            Err(QuantityError::Overflow(_))
        ));
    }

    #[test]
    fn integers_from_the_api_server_deserialize() {
        let q: Quantity = serde_json::from_str("2147483648").unwrap();
        assert_eq!(q.bytes(), Ok(2 << 30));
        assert_eq!(serde_json::to_string(&q).unwrap(), "\"2147483648\"");
    }
}
