//! Release-health event batches: any bytes give a batch or an error, and every valid batch survives a round trip.

// Strategies outside `#[test]` functions state their expectations with `unwrap()` too.
#![allow(clippy::unwrap_used)]

use millennium_update_protocol::events::{Event, EventBatch, EventKind, MAX_EVENTS};
use millennium_update_protocol::{Arch, Os, Target, Version};
use proptest::prelude::*;

fn arb_target() -> impl Strategy<Value = Target> {
    (0..3usize, 0..5usize, 0..4usize).prop_map(|(o, a, b)| {
        let os = Os::ALL[o];
        let bundle = os.bundle_types().get(b).copied();
        Target::new(os, Arch::ALL[a], bundle).unwrap()
    })
}

fn arb_version() -> impl Strategy<Value = Version> {
    (0u64..1000, 0u64..1000, 0u64..1000, proptest::option::of("[a-z]{1,6}")).prop_map(|(a, b, c, pre)| {
        Version::parse(&format!("{a}.{b}.{c}{}", pre.map(|p| format!("-{p}")).unwrap_or_default())).unwrap()
    })
}

fn arb_event() -> impl Strategy<Value = Event> {
    (
        proptest::option::of("[A-Za-z0-9_-]{16,64}"),
        0..EventKind::ALL.len(),
        "[A-Za-z0-9._-]{1,128}",
        proptest::option::of(arb_version()),
        arb_version(),
        arb_target(),
        proptest::option::of("[a-z][a-z0-9_.]{0,63}"),
        proptest::option::of(any::<u64>()),
    )
        .prop_map(|(id, k, install_id, from, to, target, error, at)| Event {
            id,
            kind: EventKind::ALL[k],
            install_id,
            from,
            to,
            target,
            error,
            at,
        })
}

proptest! {
    #[test]
    fn any_bytes_give_a_batch_or_an_error(bytes in proptest::collection::vec(any::<u8>(), 0..1024)) {
        let _ = EventBatch::parse(&bytes);
    }

    #[test]
    fn near_valid_batches_give_a_batch_or_an_error(
        kind in "[a-z_]{0,16}",
        id in "[ -~]{0,20}",
        to in "[0-9.a-z-]{0,12}",
        target in "[a-z0-9_-]{0,24}",
        at in prop_oneof![Just("1".to_string()), Just("-1".to_string()), Just("1e3".to_string()), Just("\"x\"".to_string())],
    ) {
        let doc = serde_json::json!({"events": [{"kind": kind, "install_id": id, "to": to, "target": target}]});
        let mut text = doc.to_string();
        text.insert_str(text.len() - 3, &format!(",\"at\":{at}"));
        let _ = EventBatch::parse(text.as_bytes());
    }

    #[test]
    fn valid_batches_round_trip(events in proptest::collection::vec(arb_event(), 1..=MAX_EVENTS)) {
        let batch = EventBatch { events };
        let text = batch.to_json().unwrap();
        prop_assert_eq!(EventBatch::parse(text.as_bytes()).unwrap(), batch);
    }
}
