//! A delta update through the npm package from the real server and its delta job: `usesDelta` and `deltaSize`
//! before the download, progress reports naming the `delta` transfer and counting its bytes, and exactly v2
//! installed; the server counted one delta download and no full one.

use std::process::Command;

use millennium_testing::server::Offered;

use crate::support::{app_dir, check, pack};

const APP: &str = "update-node-delta";

const SCRIPT: &str = r#"'use strict';
const { Updater } = require('millennium-updater');
const [endpoint, pubkey, stateDir, executable] = process.argv.slice(2);
(async () => {
  const updater = new Updater({ endpoint, pubkey, stateDir, executable, currentVersion: '1.0.0', bundleType: 'none' });
  const update = await updater.check();
  console.log(`usesDelta ${update.usesDelta} ${update.deltaSize}`);
  const transfers = [];
  let last = null;
  const download = await update.download((downloaded, total, transfer) => {
    if (transfers[transfers.length - 1] !== transfer) transfers.push(transfer);
    last = [downloaded, total];
  });
  console.log(`transfers ${transfers.join(',')} last ${last.join(' ')}`);
  await download.install();
})().catch((e) => {
  console.error(e);
  process.exit(1);
});
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_npm_package_reports_a_delta_update_and_its_transfer() {
    let dir = tempfile::tempdir().unwrap();
    let tarball = pack(dir.path());
    let app = app_dir(dir.path(), &tarball);
    std::fs::write(app.join("delta.js"), SCRIPT).unwrap();
    let (v1, v2) = Offered::script_releases();
    let offered = Offered::with_delta(APP, &v1, &v2).await;
    let target = dir.path().join("installed");
    millennium_testing::app::write_exe(&target, &v1);
    let args = [
        app.join("delta.js").display().to_string(),
        offered.endpoint.clone(),
        offered.pubkey.clone(),
        dir.path().join("state").display().to_string(),
        target.display().to_string(),
    ];
    let output = tokio::task::spawn_blocking(move || Command::new("node").args(args).output().unwrap()).await.unwrap();
    check(&output, "node delta.js");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    let size: u64 = lines[0].strip_prefix("usesDelta true ").unwrap_or_else(|| panic!("{stdout}")).parse().unwrap();
    assert!(size * 10 < v2.len() as u64, "{stdout}");
    assert_eq!(lines[1], format!("transfers delta last {size} {size}"));
    assert_eq!(std::fs::read(&target).unwrap(), v2, "v2, byte for byte, is installed");
    assert_eq!((offered.server.downloads(APP, "delta").await, offered.server.downloads(APP, "full").await), (1, 0));
}
