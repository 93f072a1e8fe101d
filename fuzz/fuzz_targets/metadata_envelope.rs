//! Any bytes as a signed metadata document (root, release or freshness envelope): parsing and every client check must
//! never panic; an accepted envelope must re-serialise to one that parses equal.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use millennium_sign::SecretKey;
use millennium_update_protocol::metadata::{Envelope, Kind, Root, TrustState};

fn state() -> &'static TrustState {
    static STATE: OnceLock<TrustState> = OnceLock::new();
    STATE.get_or_init(|| {
        let key = SecretKey::generate().expect("key");
        let root = Root::new("fuzz.app", 1, &[key.public_key()], &[key.public_key()]);
        let envelope = Envelope::sign(&root, Kind::Root, &[&key]).expect("root");
        TrustState::bootstrap("fuzz.app", &key.public_key(), &[envelope]).expect("state")
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(envelope) = Envelope::parse(data) else { return };
    let again = Envelope::parse(envelope.to_json().as_bytes()).expect("written envelope re-parses");
    assert_eq!(again, envelope);
    let mut state = state().clone();
    let _ = state.update_root(&envelope);
    let now = time::OffsetDateTime::from_unix_timestamp(1_800_000_000).expect("time");
    if let Ok(freshness) = state.check_freshness(&envelope, now) {
        let _ = state.check_release(&freshness, "stable", &envelope);
    }
});
