/*
 * update.c: a C program that updates itself with the Millennium updater's C ABI.
 *
 *     update ENDPOINT PUBKEY STATE_DIR
 *
 * Prints its version, does the rollback bookkeeping, confirms it works (unless built with -DCRASH_BEFORE_CONFIRMING,
 * which makes a broken release: it crashes before confirming), checks ENDPOINT (a Tauri URL template, e.g. the update
 * server's `http://127.0.0.1:8080/my-app/{{target}}/{{arch}}/{{current_version}}`) for an update signed by PUBKEY,
 * downloads, verifies and installs it over its own executable, and relaunches into it.
 *
 * Build: cc -DAPP_VERSION='"1.0.0"' -I include examples/update.c -L <dir of the library> -lmillennium_updater_capi
 * Exit status: 0, or the status code of the call that failed (e.g. 12 for an update that failed verification).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include "millennium_updater.h"

#ifndef APP_VERSION
#define APP_VERSION "1.0.0"
#endif

/* Prints the last error and exits with its code. */
static void fail(const char *what) {
    int code = millennium_updater_last_error_code();
    fprintf(stderr, "error: %s failed (%d): %s\n", what, code, millennium_updater_last_error_message());
    exit(code == 0 ? 1 : code);
}

#define TRY(call)                                                                                                      \
    do {                                                                                                               \
        if ((call) != MILLENNIUM_UPDATER_OK)                                                                           \
            fail(#call);                                                                                               \
    } while (0)

struct progress {
    uint64_t downloaded, total, calls;
    int transfer;      /* MILLENNIUM_TRANSFER_* of the last report */
    int delta_failed;  /* a delta was tried and could not be used */
};

/* Called on this thread after every chunk. */
static int on_progress(void *user_data, const MillenniumProgress *report) {
    struct progress *p = user_data;
    if (report->transfer == MILLENNIUM_TRANSFER_DELTA_FAILED) {
        p->delta_failed = 1;
        return 0;
    }
    p->downloaded = report->downloaded;
    p->total = report->total_known ? report->total : 0;
    p->transfer = report->transfer;
    p->calls++;
    return 0; /* non-zero would cancel the download */
}

int main(int argc, char **argv) {
    if (argc != 4) {
        fprintf(stderr, "usage: %s ENDPOINT PUBKEY STATE_DIR\n", argv[0]);
        return 2;
    }
    setvbuf(stdout, NULL, _IONBF, 0); /* keep the order of lines across the relaunch (exec) */
    printf("update-c %s\n", APP_VERSION);

    MillenniumUpdaterBuilder builder;
    MillenniumUpdater updater;
    TRY(millennium_updater_builder_new(&builder));
    TRY(millennium_updater_builder_endpoint(builder, argv[1]));
    TRY(millennium_updater_builder_pubkey(builder, argv[2]));
    TRY(millennium_updater_builder_state_dir(builder, argv[3]));
    TRY(millennium_updater_builder_current_version(builder, APP_VERSION));
    TRY(millennium_updater_builder_app_id(builder, "update-c"));
    TRY(millennium_updater_builder_bundle_type(builder, "none"));
    TRY(millennium_updater_builder_require_signed_version(builder, 1));
    TRY(millennium_updater_builder_build(builder, &updater));
    TRY(millennium_updater_builder_free(builder));

    MillenniumStartup startup;
    TRY(millennium_updater_startup(updater, &startup));
    if (startup.status == MILLENNIUM_STARTUP_ROLLED_BACK) {
        printf("rolled back; relaunching\n");
        millennium_updater_relaunch(updater);
        fail("millennium_updater_relaunch");
    }
    if (startup.status == MILLENNIUM_STARTUP_PENDING) {
        printf("pending confirmation (start %" PRIu32 " of %" PRIu32 ")\n", startup.start, startup.allowed);
#ifdef CRASH_BEFORE_CONFIRMING
        printf("crashing before confirming\n");
        abort();
#endif
        /* A real app confirms once it knows it works (its window opened, its data loaded...). */
        TRY(millennium_updater_confirm_healthy(updater));
        printf("confirmed healthy\n");
    }

    MillenniumUpdate update;
    int available;
    TRY(millennium_updater_check(updater, &update, &available));
    if (!available) {
        printf("up to date\n");
        TRY(millennium_updater_free(updater));
        return 0;
    }
    const char *version;
    const char *notes;
    TRY(millennium_updater_update_version(update, &version));
    TRY(millennium_updater_update_notes(update, &notes));
    printf("updating to %s (%s)\n", version, notes ? notes : "no notes");
    int uses_delta;
    uint64_t delta_size;
    TRY(millennium_updater_update_delta(update, &uses_delta, &delta_size));
    if (uses_delta) {
        printf("a delta of %" PRIu64 " bytes is offered\n", delta_size);
    }

    struct progress progress = {0, 0, 0, MILLENNIUM_TRANSFER_FULL, 0};
    MillenniumDownload download;
    TRY(millennium_updater_update_download_ex(update, on_progress, &progress, &download));
    printf("downloaded %" PRIu64 " of %" PRIu64 " bytes (%s%s)\n", progress.downloaded, progress.total,
           progress.transfer == MILLENNIUM_TRANSFER_DELTA ? "delta" : "full",
           progress.delta_failed ? ", after the delta failed" : "");
    TRY(millennium_updater_download_install(download));
    printf("installed %s; relaunching\n", version);
    TRY(millennium_updater_download_free(download));
    TRY(millennium_updater_update_free(update));
    millennium_updater_relaunch(updater); /* does not return on success */
    fail("millennium_updater_relaunch");
}
