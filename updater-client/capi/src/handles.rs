//! The table of objects C holds handles to.
//!
//! A handle is an id into one process-wide table. Ids come from a counter that is never reset, so a freed id is never
//! handed out again: using it after `free` (or freeing it twice) finds nothing and is refused, where a pointer would
//! be undefined behaviour. Entries are `Arc`s: a call in progress on one thread keeps its object alive even if another
//! thread frees the handle meanwhile.

use std::any::Any;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};

use crate::status::{Failure, Status};

type Entry = Arc<dyn Any + Send + Sync>;

static NEXT: AtomicU64 = AtomicU64::new(1);

fn table() -> MutexGuard<'static, HashMap<u64, Entry>> {
    static TABLE: OnceLock<Mutex<HashMap<u64, Entry>>> = OnceLock::new();
    // A panic while the lock is held cannot leave the map inconsistent (every operation is one insert or remove).
    TABLE.get_or_init(Default::default).lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Stores `value`; its id (never 0).
pub(crate) fn insert<T: Any + Send + Sync>(value: T) -> u64 {
    let id = NEXT.fetch_add(1, Ordering::Relaxed);
    table().insert(id, Arc::new(value));
    id
}

/// The object of handle `id`, which must be a `T`; `what` names the handle kind in the error.
pub(crate) fn get<T: Any + Send + Sync>(id: u64, what: &str) -> Result<Arc<T>, Failure> {
    let entry = table().get(&id).cloned();
    entry.and_then(|e| e.downcast::<T>().ok()).ok_or_else(|| invalid(id, what))
}

/// Removes handle `id`, which must be a `T`.
pub(crate) fn remove<T: Any + Send + Sync>(id: u64, what: &str) -> Result<(), Failure> {
    let mut table = table();
    match table.get(&id) {
        Some(entry) if entry.is::<T>() => {
            let removed = table.remove(&id);
            // Drop the object (which may join a runtime's threads) after releasing the table's lock.
            drop(table);
            drop(removed);
            Ok(())
        }
        _ => Err(invalid(id, what)),
    }
}

fn invalid(id: u64, what: &str) -> Failure {
    Failure::new(
        Status::InvalidHandle,
        format!(
            "{what} handle {id} is not valid: it was freed already, never created, or is of another kind\nhint: a handle must not be used after its `_free` call"
        ),
    )
}
