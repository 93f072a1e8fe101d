//! `install_on_exit`: a downloaded, verified update changes nothing until the app's quit path applies it.

#![allow(clippy::unwrap_used)] // tests state expectations with unwrap
#![cfg(target_os = "linux")] // the plain-executable install it drives is the Linux one

use millennium_testing::app::{Fixture, run, script_app};
use millennium_testing::keys::Keys;

use crate::support::{CHECK, builder, offering, release};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_update_scheduled_for_exit_is_installed_only_when_the_app_quits() {
    let fx = Fixture::new();
    let keys = Keys::generate();
    let v2 = script_app("2.0.0", 64 * 1024);
    let server = offering(&keys, v2.clone(), release("2.0.0")).await;
    let updater = builder(&fx, &keys, &[server.url(CHECK)]).build().unwrap();
    let update = updater.check().await.unwrap().unwrap();
    let downloaded = update.download(|_| {}).await.unwrap();
    downloaded.install_on_exit();
    fx.assert_untouched();
    assert_eq!(run(&fx.app), "1.0.0", "the app keeps running its version until it quits");

    // The quit path.
    let u = updater.clone();
    let applied = tokio::task::spawn_blocking(move || u.apply_pending_on_exit()).await.unwrap().unwrap();
    assert_eq!(applied.as_deref(), Some("2.0.0"));
    assert_eq!(std::fs::read(&fx.app).unwrap(), v2);
    assert_eq!(run(&fx.app), "2.0.0");
    // Applied once: a second quit has nothing to do.
    assert_eq!(updater.apply_pending_on_exit().unwrap(), None);
}
