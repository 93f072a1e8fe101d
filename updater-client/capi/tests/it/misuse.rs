//! `tests/c/misuse.c` calls every kind of wrong argument and wrong handle, and gets a status code for each instead of
//! a crash: NULL arguments, invalid UTF-8, double frees, uses after free, handles of another kind, a forged handle, a
//! consumed handle. Around them it proves cancellation (from another thread, from the progress callback), the
//! callback's thread, per-thread last errors and handles outliving their updater. Run plainly and under
//! AddressSanitizer + UndefinedBehaviorSanitizer, which would report any invalid memory access or leak.

use millennium_testing::app::{script_app, write_exe};

use crate::support::{APP, Build, Offered, compile, manifest, run};

async fn survives_misuse(build: Build) {
    let dir = tempfile::tempdir().unwrap();
    let program = compile(&manifest().join("tests/c/misuse.c"), &dir.path().join("misuse"), &[], build);
    // An app for the program to update (not itself): a script, large enough for a download of many chunks.
    let app = dir.path().join("app");
    write_exe(&app, &script_app("1.0.0", 4096));
    let v2 = script_app("2.0.0", 3 << 20);
    let offered = Offered::new(APP, &v2).await;

    let (endpoint, pubkey, state, target) = (
        offered.endpoint.clone(),
        offered.pubkey.clone(),
        dir.path().join("state").to_str().unwrap().to_owned(),
        app.to_str().unwrap().to_owned(),
    );
    let run = tokio::task::spawn_blocking(move || run(&program, &[&endpoint, &pubkey, &state, &target])).await.unwrap();
    assert_eq!(run.code(), Some(0), "{run:#?}");
    assert!(run.stdout.starts_with("misuse: ") && run.stdout.ends_with(" checks passed\n"), "{run:#?}");
    assert_eq!(std::fs::read(&app).unwrap(), v2, "the install in the misuse program did not happen");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_misuse_of_the_c_abi_is_an_error_code() {
    survives_misuse(Build::Plain).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_misuse_of_the_c_abi_is_an_error_code_under_asan_and_ubsan() {
    survives_misuse(Build::Sanitized).await;
}
