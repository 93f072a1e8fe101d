/*
 * millennium_updater.h: the C ABI of the Millennium updater (crate `millennium-updater-capi`, library
 * `libmillennium_updater_capi`, shared `.so` or static `.a`).
 *
 * The same library code Rust apps use: check the update server (Tauri endpoints or Millennium's signed metadata),
 * download in constant memory (resumed after an interruption), verify the signature against the pinned key, install
 * atomically (keeping the previous version), relaunch, and roll back a new version that never confirms it works.
 *
 *     MillenniumUpdaterBuilder b; MillenniumUpdater u; MillenniumStartup s;
 *     millennium_updater_builder_new(&b);
 *     millennium_updater_builder_endpoint(b, "https://updates.example.com/app/{{target}}/{{arch}}/{{current_version}}");
 *     millennium_updater_builder_pubkey(b, "RWQ...");
 *     millennium_updater_builder_current_version(b, "1.2.3");
 *     if (millennium_updater_builder_build(b, &u) != MILLENNIUM_UPDATER_OK) { puts(millennium_updater_last_error_message()); ... }
 *     millennium_updater_builder_free(b);
 *     millennium_updater_startup(u, &s);            // first thing at every start (rollback bookkeeping)
 *     MillenniumUpdate up; int available;
 *     if (millennium_updater_check(u, &up, &available) == MILLENNIUM_UPDATER_OK && available) {
 *         MillenniumDownload d;
 *         if (millennium_updater_update_download(up, on_progress, NULL, &d) == MILLENNIUM_UPDATER_OK
 *             && millennium_updater_download_install(d) == MILLENNIUM_UPDATER_OK)
 *             millennium_updater_relaunch(u);       // does not return on success
 *         ...
 *     }
 *     millennium_updater_confirm_healthy(u);        // once this version is known to work
 *
 * RULES
 *
 * Status codes. Every function except the three that return a string or the last error's code returns a status
 * code: MILLENNIUM_UPDATER_OK (0) or one of the MILLENNIUM_UPDATER_ERR_* values below. Every such call also sets this
 * thread's last error: millennium_updater_last_error_code() and millennium_updater_last_error_message() (the error
 * with its causes and `hint:` lines; "" after a success). Out-parameters are written only on success.
 *
 * Handles. Objects are held through handles: one-member structs passed by value, not pointers. A handle stays valid
 * until its *_free function; freeing one that is invalid (freed already, never created, of another kind) returns
 * MILLENNIUM_UPDATER_ERR_INVALID_HANDLE, as does using it after its free: double frees and uses after free are error
 * codes, never undefined behaviour. The zero handle ({0}) means "none"; freeing it does nothing and returns OK.
 * Every handle the library writes to an out-parameter is owned by the caller and must be freed once; handles are
 * independent (freeing an updater does not invalidate its updates, downloads or cancel handles, which keep what they
 * need alive).
 *
 * Pointers. A NULL pointer argument is refused with MILLENNIUM_UPDATER_ERR_NULL_ARGUMENT before anything else
 * happens (the progress callback is the one optional pointer). Strings passed in are UTF-8 and NUL-terminated (else
 * MILLENNIUM_UPDATER_ERR_INVALID_ARGUMENT) and are copied: they may be freed after the call. Strings returned are
 * UTF-8, NUL-terminated and owned by the library; how long each lives is stated with its function. Never free them.
 * Still undefined behaviour, as with any C library: a pointer that is dangling, not NUL-terminated, or to too little
 * memory, and a callback of another signature.
 *
 * Threads. All functions may be called from any thread, and handles may be shared between threads. The blocking calls
 * (check, download, install) block the calling thread; the progress callback is called on that same thread, between
 * chunks. A cancel handle works from any thread. Do not call the library from inside a progress callback.
 *
 * Panics. A bug inside the library returns MILLENNIUM_UPDATER_ERR_PANIC; it never unwinds into C.
 */
#ifndef MILLENNIUM_UPDATER_H
#define MILLENNIUM_UPDATER_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Status codes. Stable: values are never renumbered. */
enum {
    MILLENNIUM_UPDATER_OK = 0,
    MILLENNIUM_UPDATER_ERR_NULL_ARGUMENT = 1,    /* a required pointer argument is NULL */
    MILLENNIUM_UPDATER_ERR_INVALID_ARGUMENT = 2, /* a string is not UTF-8, or a value is not accepted */
    MILLENNIUM_UPDATER_ERR_INVALID_HANDLE = 3,   /* freed already, never created, or of another kind */
    MILLENNIUM_UPDATER_ERR_CONSUMED = 4,         /* a downloaded update that was installed (or scheduled) already */
    MILLENNIUM_UPDATER_ERR_CANCELLED = 5,        /* cancelled by a cancel handle or the progress callback */
    MILLENNIUM_UPDATER_ERR_PANIC = 6,            /* a bug in the library */
    MILLENNIUM_UPDATER_ERR_CONFIG = 10,          /* unusable configuration: no endpoint, bad key, bad version... */
    MILLENNIUM_UPDATER_ERR_NETWORK = 11,         /* server unreachable or misbehaving; trying later may help */
    MILLENNIUM_UPDATER_ERR_VERIFICATION = 12,    /* refused (signature, key, signed metadata, platform); nothing installed */
    MILLENNIUM_UPDATER_ERR_IO = 13,              /* local file system: disk full, permission denied, corrupt state */
    MILLENNIUM_UPDATER_ERR_INSTALL = 14,         /* install, relaunch or rollback failed */
    MILLENNIUM_UPDATER_ERR_OTHER = 99
};

/* MillenniumStartup.status values. */
enum {
    MILLENNIUM_STARTUP_NORMAL = 0,      /* no update waiting for confirmation */
    MILLENNIUM_STARTUP_PENDING = 1,     /* this version was just installed: start `start` of `allowed` */
    MILLENNIUM_STARTUP_ROLLED_BACK = 2  /* this version never confirmed; the previous one is back: relaunch or exit now */
};

/* Handles (see RULES). */
typedef struct MillenniumUpdaterBuilder { uint64_t id; } MillenniumUpdaterBuilder; /* an updater being configured */
typedef struct MillenniumUpdater { uint64_t id; } MillenniumUpdater;               /* a configured updater */
typedef struct MillenniumUpdate { uint64_t id; } MillenniumUpdate;                 /* an offered update */
typedef struct MillenniumDownload { uint64_t id; } MillenniumDownload;             /* downloaded and verified */
typedef struct MillenniumCancel { uint64_t id; } MillenniumCancel;                 /* cancels an updater's calls */

typedef struct MillenniumStartup {
    int status;       /* MILLENNIUM_STARTUP_* */
    uint32_t start;   /* for MILLENNIUM_STARTUP_PENDING: this start's number... */
    uint32_t allowed; /* ...of this many before the previous version is restored */
} MillenniumStartup;

/*
 * Download progress: `downloaded` bytes so far (including a resumed earlier attempt) of `total` when `total_known` is
 * non-zero. Called on the thread that called millennium_updater_update_download, after every chunk. Return 0 to go on,
 * non-zero to cancel the download (it is not called again, and the download returns MILLENNIUM_UPDATER_ERR_CANCELLED;
 * what arrived is kept and resumed by the next download).
 */
typedef int (*MillenniumProgressFn)(void *user_data, uint64_t downloaded, uint64_t total, int total_known);

/* What the bytes of a progress report belong to (MillenniumProgress.transfer). */
enum {
    MILLENNIUM_TRANSFER_FULL = 0,        /* the whole artifact */
    MILLENNIUM_TRANSFER_DELTA = 1,       /* a delta from the installed artifact (docs/protocol.md section 9) */
    MILLENNIUM_TRANSFER_DELTA_FAILED = 2 /* reported once, nothing downloaded: the delta could not be used, and the
                                            full artifact follows */
};

/* One progress report of millennium_updater_update_download_ex: as MillenniumProgressFn's arguments, and `transfer`
 * (MILLENNIUM_TRANSFER_*). `downloaded` and `total` count the bytes of what `transfer` names: a delta update reports
 * the delta's bytes. The report is valid during the call only. */
typedef struct MillenniumProgress {
    uint64_t downloaded;
    uint64_t total;
    int total_known;
    int transfer;
} MillenniumProgress;

/* The progress callback of millennium_updater_update_download_ex, on the same terms as MillenniumProgressFn. */
typedef int (*MillenniumProgressExFn)(void *user_data, const MillenniumProgress *progress);

/* ----- library and errors ----- */

/* The library's version, e.g. "0.1.0". Static. */
const char *millennium_updater_version(void);

/* The status code of this thread's last call (0 after a success). Does not change the last error. */
int millennium_updater_last_error_code(void);

/* The message of this thread's last call ("" after a success), with causes and `hint:` lines; never NULL. Valid until
 * the next call into the library on this thread (copy it to keep it). Does not change the last error. */
const char *millennium_updater_last_error_message(void);

/* ----- builder ----- */

/* A new builder. */
int millennium_updater_builder_new(MillenniumUpdaterBuilder *out_builder);

/* Adds an update endpoint: a Tauri URL template with {{target}}, {{arch}}, {{current_version}}, {{bundle_type}},
 * {{channel}}. Endpoints are tried in the order added. http:// is accepted on loopback only. */
int millennium_updater_builder_endpoint(MillenniumUpdaterBuilder builder, const char *url);
/* Checks through Millennium's signed metadata under this base URL (the server's /metadata/<app id>) instead. */
int millennium_updater_builder_metadata_url(MillenniumUpdaterBuilder builder, const char *url);
/* Pins a public key (minisign text, bare `RW...` line, or Tauri's base64 pubkey). May be called several times. */
int millennium_updater_builder_pubkey(MillenniumUpdaterBuilder builder, const char *key);
/* The running version (SemVer). Required. */
int millennium_updater_builder_current_version(MillenniumUpdaterBuilder builder, const char *version);
/* The release channel (the server's default: "stable"). */
int millennium_updater_builder_channel(MillenniumUpdaterBuilder builder, const char *channel);
/* The app's id, naming its default state directory (default: the executable's file name). */
int millennium_updater_builder_app_id(MillenniumUpdaterBuilder builder, const char *app_id);
/* Where the install id, downloads and the rollback record live. */
int millennium_updater_builder_state_dir(MillenniumUpdaterBuilder builder, const char *dir);
/* Uses this install id instead of the one generated and kept in the state directory. */
int millennium_updater_builder_install_id(MillenniumUpdaterBuilder builder, const char *install_id);
/* The executable an update replaces (default: the running one, or $APPIMAGE). */
int millennium_updater_builder_executable(MillenniumUpdaterBuilder builder, const char *path);
/* How the app is installed: "none" (a plain executable), "appimage", "deb", "rpm", ... (default: detected). */
int millennium_updater_builder_bundle_type(MillenniumUpdaterBuilder builder, const char *bundle);
/* The install mode of an NSIS or MSI install (Windows): `ui` "quiet", "passive" (default: progress only) or "full";
 * `scope` "user" (default) or "machine" (the installer asks for elevation). No effect on other install kinds. */
int millennium_updater_builder_windows_installer(MillenniumUpdaterBuilder builder, const char *ui, const char *scope);
/* Adds a header (authentication...) sent to the update server. */
int millennium_updater_builder_header(MillenniumUpdaterBuilder builder, const char *name, const char *value);
/* How many starts a new version gets to confirm before the previous one is restored (default 3). */
int millennium_updater_builder_rollback_after_starts(MillenniumUpdaterBuilder builder, uint32_t starts);
/* Non-zero: refuse signatures that do not name their version (default: accepted, as Tauri does). */
int millennium_updater_builder_require_signed_version(MillenniumUpdaterBuilder builder, int required);
/* Non-zero: report release-health events (installed, confirmed, rolled back, failures) to the Millennium update
 * server's `POST {server}/{app}/events`, queued on disk and sent in the background (default off: a Tauri server has no
 * such endpoint). */
int millennium_updater_builder_report_events(MillenniumUpdaterBuilder builder, int report);

/* Checks the configuration and builds an updater (reads or creates the install id). The builder stays valid and
 * unchanged: free it when done. */
int millennium_updater_builder_build(MillenniumUpdaterBuilder builder, MillenniumUpdater *out_updater);

int millennium_updater_builder_free(MillenniumUpdaterBuilder builder);

/* ----- updater ----- */

/* Rollback bookkeeping: call first thing at every start. After an update, counts the new version's starts; once it
 * has started more than the allowed number of times without millennium_updater_confirm_healthy, restores the previous
 * version and reports MILLENNIUM_STARTUP_ROLLED_BACK: then relaunch (or exit). */
int millennium_updater_startup(MillenniumUpdater updater, MillenniumStartup *out_startup);

/* Asks the server whether an update is offered. Blocks; cancellable. On success `*out_available` is 1 and
 * `*out_update` an update to free, or 0 (up to date) and `*out_update` is {0}. */
int millennium_updater_check(MillenniumUpdater updater, MillenniumUpdate *out_update, int *out_available);

/* Tells the updater this (new) version works: it will not be rolled back. */
int millennium_updater_confirm_healthy(MillenniumUpdater updater);

/* Replaces this process with the installed app, same arguments and environment. Returns only on failure. */
int millennium_updater_relaunch(MillenniumUpdater updater);

/* Call from the app's quit path: installs the update scheduled with millennium_updater_download_install_on_exit,
 * if any (`*out_applied` 1; for a Windows installer install the installer starts and this process exits), else
 * `*out_applied` 0. Blocks. */
int millennium_updater_apply_pending_on_exit(MillenniumUpdater updater, int *out_applied);

/* A cancel handle for this updater's blocking calls (check, download). Free it when done. */
int millennium_updater_cancel_handle(MillenniumUpdater updater, MillenniumCancel *out_cancel);

int millennium_updater_free(MillenniumUpdater updater);

/* ----- cancel (any thread) ----- */

/* Makes the updater's calls in progress return MILLENNIUM_UPDATER_ERR_CANCELLED promptly, and every later one until
 * millennium_updater_cancel_reset. A partial download is kept and resumed by the next download. */
int millennium_updater_cancel(MillenniumCancel cancel);
/* Lets calls run again after a cancel. */
int millennium_updater_cancel_reset(MillenniumCancel cancel);
int millennium_updater_cancel_free(MillenniumCancel cancel);

/* ----- offered update ----- */

/* The offered version. The string lives until the update is freed. */
int millennium_updater_update_version(MillenniumUpdate update, const char **out_version);
/* The release notes, or NULL when there are none. The string lives until the update is freed. */
int millennium_updater_update_notes(MillenniumUpdate update, const char **out_notes);
/* The artifact's size when known before downloading (signed metadata): `*out_known` 1 and `*out_size`; a Tauri
 * endpoint does not announce it: `*out_known` 0 (the download still enforces the server's Content-Length). */
int millennium_updater_update_size(MillenniumUpdate update, int *out_known, uint64_t *out_size);
/* Downloads (resuming an earlier partial download) and verifies the artifact. Blocks; cancellable. `progress` may be
 * NULL; `user_data` is passed to it untouched. On success `*out_download` is a downloaded update to free. */
int millennium_updater_update_download(MillenniumUpdate update, MillenniumProgressFn progress, void *user_data,
                                       MillenniumDownload *out_download);
/* Whether the download will first try a delta from the installed artifact (the server offers one): `*out_uses_delta`
 * 1 and its size in `*out_delta_size`, else 0. A delta that fails in any way falls back to the full download. */
int millennium_updater_update_delta(MillenniumUpdate update, int *out_uses_delta, uint64_t *out_delta_size);
/* millennium_updater_update_download, with progress reports that say whether the bytes are a delta or the full
 * artifact (MillenniumProgress). */
int millennium_updater_update_download_ex(MillenniumUpdate update, MillenniumProgressExFn progress, void *user_data,
                                          MillenniumDownload *out_download);
int millennium_updater_update_free(MillenniumUpdate update);

/* ----- downloaded update ----- */

/* Installs it: an atomic rename over the executable or AppImage (the previous version is kept for a rollback), or the
 * system package tool. Blocks. Afterwards the handle is consumed: installing (or scheduling) again returns
 * MILLENNIUM_UPDATER_ERR_CONSUMED (free it). A failed install leaves it installable. */
int millennium_updater_download_install(MillenniumDownload download);
/* Installs it when the app quits instead (millennium_updater_apply_pending_on_exit); nothing changes until then. Replaces
 * an update scheduled earlier. Afterwards the handle is consumed, as after an install (free it). */
int millennium_updater_download_install_on_exit(MillenniumDownload download);
int millennium_updater_download_free(MillenniumDownload download);

#ifdef __cplusplus
}
#endif

#endif /* MILLENNIUM_UPDATER_H */
