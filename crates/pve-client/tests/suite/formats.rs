//! UPID and property-string formats, by example and by property.

use proptest::prelude::*;
use pve_client::{PropertyString, Upid, format_size, parse_size};

#[test]
fn upid_round_trips_pve_examples() {
    for s in [
        "UPID:pve1:000F1A2B:0A1B2C3D:66F1A2B3:qmstart:100:root@pam:",
        "UPID:pve:00001234:1A2B3C4D5:66F1A2B3:vzdump::root@pam:",
        "UPID:node-2:000003E8:00001B58:6925FF1D:qmclone:9000:kubepve@pve!op:",
    ] {
        let upid: Upid = s.parse().unwrap();
        assert_eq!(upid.to_string(), s);
    }
    let u: Upid = "UPID:pve1:000F1A2B:0A1B2C3D:66F1A2B3:qmstart:100:root@pam:"
        .parse()
        .unwrap();
    assert_eq!(
        (u.node.as_str(), u.pid, u.task_type.as_str(), u.vmid()),
        ("pve1", 0xF1A2B, "qmstart", Some(100))
    );
    // Lower-case hex is accepted and printed upper-case.
    let lower: Upid = "UPID:pve1:000f1a2b:0a1b2c3d:66f1a2b3:qmstart:100:root@pam:"
        .parse()
        .unwrap();
    assert_eq!(lower, u);
}

#[test]
fn upid_rejects_malformed() {
    for s in [
        "",
        "UPID:pve1:000F1A2B:0A1B2C3D:66F1A2B3:qmstart:100:root@pam", // no trailing colon
        "UPID:-pve:000F1A2B:0A1B2C3D:66F1A2B3:qmstart:100:root@pam:",
        "UPID:pve1:F1A2B:0A1B2C3D:66F1A2B3:qmstart:100:root@pam:",
        "UPID:pve1:000F1A2B:0A1B2C3D:66F1A2B3::100:root@pam:",
        "UPID:pve1:000F1A2B:0A1B2C3D:66F1A2B3:qm start:100:root@pam:",
        "XPID:pve1:000F1A2B:0A1B2C3D:66F1A2B3:qmstart:100:root@pam:",
    ] {
        assert!(s.parse::<Upid>().is_err(), "{s}");
    }
}

#[test]
fn property_strings_keep_default_key_and_order() {
    let net = PropertyString::parse("virtio=BC:24:11:2E:9A:01,bridge=vmbr0,tag=10").unwrap();
    assert_eq!(net.first(), Some(("virtio", "BC:24:11:2E:9A:01")));
    assert_eq!(net.get("tag"), Some("10"));
    assert_eq!(
        net.to_string(),
        "virtio=BC:24:11:2E:9A:01,bridge=vmbr0,tag=10"
    );
    let disk = PropertyString::parse("local-lvm:vm-100-disk-0,size=32G").unwrap();
    assert_eq!(
        disk.default_value.as_deref(),
        Some("local-lvm:vm-100-disk-0")
    );
    assert_eq!(parse_size(disk.get("size").unwrap()).unwrap(), 32 << 30);
    let mut edited = disk.clone();
    edited.set("discard", "on");
    edited.set("size", "64G");
    assert_eq!(
        edited.to_string(),
        "local-lvm:vm-100-disk-0,size=64G,discard=on"
    );
    assert!(PropertyString::parse("a=1,a=2").is_err());
    assert!(PropertyString::parse("a=1,loose").is_err());
}

#[test]
fn sizes_as_pve_writes_them() {
    assert_eq!(parse_size("32G").unwrap(), 32 << 30);
    assert_eq!(parse_size("512M").unwrap(), 512 << 20);
    assert_eq!(parse_size("10GiB").unwrap(), 10 << 30);
    assert_eq!(parse_size("1.5G").unwrap(), 3 << 29);
    assert_eq!(parse_size("1024").unwrap(), 1024);
    assert!(parse_size("12X").is_err());
    assert!(parse_size("G").is_err());
    assert!(parse_size("1.G").is_err());
    assert_eq!(format_size(32 << 30), "32G");
    assert_eq!(format_size(1536 << 20), "1536M");
    assert_eq!(format_size(2 << 40), "2T");
    assert_eq!(format_size(1000), "1000");
}

fn field() -> impl Strategy<Value = String> {
    "[A-Za-z0-9@!._-]{1,12}"
}

proptest! {
    #[test]
    fn upid_display_parse_round_trip(
        node in "[a-z0-9]([a-z0-9-]{0,10}[a-z0-9])?",
        pid in any::<u32>(),
        pstart in 0u64..=0xF_FFFF_FFFF,
        starttime in any::<u32>(),
        kind in field(),
        id in "[A-Za-z0-9.-]{0,6}",
        user in field(),
    ) {
        let upid = Upid { node, pid, pstart, starttime, task_type: kind, id, user };
        let text = upid.to_string();
        let back: Upid = text.parse().unwrap();
        prop_assert_eq!(&back, &upid);
        prop_assert_eq!(back.to_string(), text);
    }

    #[test]
    fn property_string_round_trip(
        default in proptest::option::of("[a-z0-9:-]{1,16}"),
        items in proptest::collection::btree_map("[a-z][a-z0-9_]{0,7}", "[A-Za-z0-9:./-]{0,12}", 0..6),
    ) {
        let ps = PropertyString {
            default_value: default,
            items: items.into_iter().collect(),
        };
        let text = ps.to_string();
        prop_assert_eq!(PropertyString::parse(&text).unwrap(), ps);
    }

    #[test]
    fn size_round_trip(n in 0u64..(1 << 50)) {
        prop_assert_eq!(parse_size(&format_size(n)).unwrap(), n);
    }
}
