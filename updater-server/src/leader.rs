//! Singleton jobs: periodic work that must run on exactly one replica at a time, and keep running when that replica
//! dies (orphan collection now; any later job such as re-signing freshness metadata plugs in the same way).
//!
//! On PostgreSQL every replica runs [`spawn_singleton`] for a job; the one holding the job's session-level advisory
//! lock (`pg_try_advisory_lock`, on a connection of its own) runs it every `interval`, the others try to take the
//! lock every `standby_poll`. PostgreSQL releases the lock when the leader's connection ends (process killed,
//! machine gone, network cut), so a standby takes over within one `standby_poll`. With SQLite there is one server
//! process, which always leads. [`crate::metrics::Metrics::leader_flag`] shows who leads on `/metrics`.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use millennium_update_admin::report::display_chain;
use sha2::{Digest, Sha256};
use sqlx::Connection;

use crate::db::Db;
use crate::error::Result;

/// The advisory lock key of a name: the first 8 bytes of SHA-256 of `millennium/{name}`, so names never collide
/// with another application's small integer keys in a shared database.
pub fn lock_key(name: &str) -> i64 {
    let digest = Sha256::digest(format!("millennium/{name}").as_bytes());
    let mut bytes = [0; 8];
    bytes.copy_from_slice(&digest[..8]);
    i64::from_be_bytes(bytes)
}

/// When a singleton job runs.
#[derive(Debug, Clone, Copy)]
pub struct Schedule {
    /// Between two runs on the leader.
    pub interval: Duration,
    /// Between two attempts of a standby to become leader.
    pub standby_poll: Duration,
}

/// Runs `job` every `schedule.interval` on whichever replica leads `name`, until the task is aborted. Errors of a
/// run are logged and the next run happens as scheduled. `leader` is kept true while this replica leads.
pub fn spawn_singleton<F, Fut>(
    db: Db,
    name: &'static str,
    schedule: Schedule,
    leader: Arc<AtomicBool>,
    job: F,
) -> tokio::task::JoinHandle<()>
where
    F: Fn() -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<()>> + Send,
{
    tokio::spawn(async move {
        let run = || async {
            if let Err(e) = job().await {
                tracing::warn!(job = name, error = %display_chain(&e), "singleton job failed; retrying at the next interval");
            }
        };
        let Some(pool) = db.postgres().cloned() else {
            leader.store(true, Ordering::SeqCst);
            loop {
                run().await;
                tokio::time::sleep(schedule.interval).await;
            }
        };
        let key = lock_key(name);
        loop {
            let mut conn = match sqlx::PgConnection::connect_with(&pool.connect_options()).await {
                Ok(conn) => conn,
                Err(e) => {
                    tracing::warn!(job = name, error = %e, "could not connect to take the job's lock");
                    tokio::time::sleep(schedule.standby_poll).await;
                    continue;
                }
            };
            let locked: std::result::Result<bool, sqlx::Error> =
                sqlx::query_scalar("SELECT pg_try_advisory_lock($1)").bind(key).fetch_one(&mut conn).await;
            match locked {
                Ok(true) => {
                    tracing::info!(job = name, "this replica now runs the singleton job");
                    leader.store(true, Ordering::SeqCst);
                    // Lead while the lock's connection lives; a failed ping means the lock may be gone.
                    loop {
                        run().await;
                        tokio::time::sleep(schedule.interval).await;
                        if let Err(e) = conn.ping().await {
                            tracing::warn!(job = name, error = %e, "lost the job's lock connection");
                            break;
                        }
                    }
                    leader.store(false, Ordering::SeqCst);
                }
                Ok(false) => {
                    let _ = conn.close().await;
                }
                Err(e) => tracing::warn!(job = name, error = %e, "could not try the job's lock"),
            }
            tokio::time::sleep(schedule.standby_poll).await;
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn with_sqlite_the_only_process_leads_and_runs_the_job_each_interval() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(&crate::db::DatabaseUrl::sqlite_in(dir.path())).await.unwrap();
        let runs = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let leader = Arc::new(AtomicBool::new(false));
        let counted = runs.clone();
        let schedule = Schedule { interval: Duration::from_millis(10), standby_poll: Duration::from_millis(10) };
        let task = spawn_singleton(db, "test", schedule, leader.clone(), move || {
            let counted = counted.clone();
            async move {
                // A failing run is logged and the job keeps its schedule.
                if counted.fetch_add(1, Ordering::SeqCst) == 0 {
                    return Err(crate::Error::Internal("first run fails".into()));
                }
                Ok(())
            }
        });
        tokio::time::sleep(Duration::from_millis(200)).await;
        task.abort();
        assert!(leader.load(Ordering::SeqCst));
        assert!(runs.load(Ordering::SeqCst) >= 3, "{runs:?}");
    }

    #[test]
    fn lock_keys_are_stable_and_distinct() {
        assert_eq!(lock_key("gc"), lock_key("gc"));
        assert_ne!(lock_key("gc"), lock_key("freshness"));
    }
}
