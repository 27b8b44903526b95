//! The UPID, property-string and size parsers on arbitrary input (what Proxmox, a user or a
//! corrupted status could hand them): they never panic, and whatever they accept prints back to
//! text they parse to the same value. `formats.rs` has the round trips from well-formed values.

use proptest::prelude::*;
use pve_client::{PropertyString, Upid, parse_size};

const UPID: &str = "UPID:pve1:000F1A2B:0A1B2C3D:66F1A2B3:qmstart:100:root@pam!kubepve:";

/// Text near a real UPID: characters inserted, removed or replaced at random places.
fn mutated_upid() -> impl Strategy<Value = String> {
    proptest::collection::vec((0usize..UPID.len(), 0u8..3, any::<char>()), 0..6).prop_map(|edits| {
        let mut chars: Vec<char> = UPID.chars().collect();
        for (at, how, c) in edits {
            let at = at.min(chars.len().saturating_sub(1));
            match how {
                0 => chars.insert(at, c),
                1 if !chars.is_empty() => {
                    chars.remove(at);
                }
                _ if !chars.is_empty() => chars[at] = c,
                _ => {}
            }
        }
        chars.into_iter().collect()
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn any_text_parsed_as_a_upid_never_panics_and_accepted_ones_round_trip(
        text in prop_oneof![any::<String>(), mutated_upid(), "UPID:[:A-Za-z0-9@!._-]{0,60}"],
    ) {
        if let Ok(upid) = text.parse::<Upid>() {
            let printed = upid.to_string();
            let again: Upid = printed.parse().expect("a printed UPID parses");
            prop_assert_eq!(&again, &upid);
            prop_assert_eq!(again.to_string(), printed);
        }
    }

    #[test]
    fn any_text_parsed_as_a_property_string_never_panics_and_round_trips(
        text in prop_oneof![any::<String>(), "[a-z0-9=,:./ -]{0,40}"],
    ) {
        if let Ok(ps) = PropertyString::parse(&text) {
            let printed = ps.to_string();
            prop_assert_eq!(PropertyString::parse(&printed).expect("printed parses"), ps.clone());
            // The lenient parser agrees with the strict one wherever the strict one accepts.
            let lenient = PropertyString::parse_lenient(&text);
            prop_assert_eq!(lenient.default_value, ps.default_value);
            prop_assert_eq!(lenient.items.len(), ps.items.len());
        }
        let lenient = PropertyString::parse_lenient(&text);
        let _ = lenient.to_string();
    }

    #[test]
    fn any_text_parsed_as_a_size_never_panics(
        text in prop_oneof![any::<String>(), "[0-9]{0,25}(\\.[0-9]{0,5})?[KMGTkmgtB]?"],
    ) {
        let _ = parse_size(&text);
    }
}
