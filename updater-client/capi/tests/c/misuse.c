/*
 * misuse.c: calls the C ABI wrongly in every way it promises to survive (NULL arguments, bad strings, double frees,
 * uses after free, handles of another kind, forged handles, a consumed handle) and rightly around them (cancel from
 * another thread, a progress callback cancelling, the callback's thread, per-thread last errors), checking each
 * status code. Prints "misuse: N checks passed" or the first failed check (exit 1).
 *
 *     misuse ENDPOINT PUBKEY STATE_DIR EXECUTABLE   (an update 2.0.0 must be offered; EXECUTABLE is replaced)
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "millennium_updater.h"

static int checks;

static void expect(int line, const char *what, int got, int want) {
    checks++;
    if (got != want) {
        fprintf(stderr, "line %d: %s returned %d, expected %d (last error: %s)\n", line, what, got, want,
                millennium_updater_last_error_message());
        exit(1);
    }
    /* Every failure leaves a message with the same code; a success leaves "". */
    const char *message = millennium_updater_last_error_message();
    if (message == NULL || millennium_updater_last_error_code() != got || (got == 0) != (message[0] == '\0')) {
        fprintf(stderr, "line %d: %s: last error (%d, \"%s\") does not match %d\n", line, what,
                millennium_updater_last_error_code(), message ? message : "(NULL)", got);
        exit(1);
    }
}

#define EXPECT(call, want) expect(__LINE__, #call, (call), (want))

static void same(int line, const char *what, long long got, long long want) {
    checks++;
    if (got != want) {
        fprintf(stderr, "line %d: %s is %lld, expected %lld\n", line, what, got, want);
        exit(1);
    }
}
/* A value (not a status code) equals `want`. */
#define SAME(value, want) same(__LINE__, #value, (long long)(value), (long long)(want))
#define OK(call) EXPECT(call, MILLENNIUM_UPDATER_OK)

static void contains(int line, const char *text, const char *part) {
    checks++;
    if (text == NULL || strstr(text, part) == NULL) {
        fprintf(stderr, "line %d: \"%s\" does not contain \"%s\"\n", line, text ? text : "(NULL)", part);
        exit(1);
    }
}
#define CONTAINS(text, part) contains(__LINE__, (text), (part))

/* The size of a file, with standard C only. */
static long file_size(const char *path) {
    FILE *file = fopen(path, "rb");
    if (file == NULL)
        return -1;
    fseek(file, 0, SEEK_END);
    long size = ftell(file);
    fclose(file);
    return size;
}

static pthread_t main_thread;
static int wrong_thread;

static int cancel_at_first_chunk(void *user_data, uint64_t downloaded, uint64_t total, int total_known) {
    (void)downloaded, (void)total, (void)total_known;
    if (!pthread_equal(pthread_self(), main_thread))
        wrong_thread = 1;
    ++*(int *)user_data;
    return 1;
}

static int count_chunks(void *user_data, uint64_t downloaded, uint64_t total, int total_known) {
    (void)downloaded, (void)total, (void)total_known;
    if (!pthread_equal(pthread_self(), main_thread))
        wrong_thread = 1;
    ++*(int *)user_data;
    return 0;
}

static void *cancel_from_another_thread(void *cancel) {
    millennium_updater_cancel(*(MillenniumCancel *)cancel);
    return NULL;
}

static void *last_error_of_another_thread(void *unused) {
    (void)unused;
    return (void *)(intptr_t)millennium_updater_last_error_code();
}

int main(int argc, char **argv) {
    if (argc != 5) {
        fprintf(stderr, "usage: %s ENDPOINT PUBKEY STATE_DIR EXECUTABLE\n", argv[0]);
        return 2;
    }
    main_thread = pthread_self();
    CONTAINS(millennium_updater_version(), ".");

    /* Builder: NULL and bad arguments, a refused configuration, then a good one. */
    MillenniumUpdaterBuilder builder;
    EXPECT(millennium_updater_builder_new(NULL), MILLENNIUM_UPDATER_ERR_NULL_ARGUMENT);
    CONTAINS(millennium_updater_last_error_message(), "`out_builder` is NULL");
    OK(millennium_updater_builder_new(&builder));
    EXPECT(millennium_updater_builder_endpoint(builder, NULL), MILLENNIUM_UPDATER_ERR_NULL_ARGUMENT);
    EXPECT(millennium_updater_builder_pubkey(builder, "\xff\xfe"), MILLENNIUM_UPDATER_ERR_INVALID_ARGUMENT);
    EXPECT(millennium_updater_builder_bundle_type(builder, "floppy"), MILLENNIUM_UPDATER_ERR_INVALID_ARGUMENT);
    EXPECT(millennium_updater_builder_header(builder, NULL, "v"), MILLENNIUM_UPDATER_ERR_NULL_ARGUMENT);
    MillenniumUpdater updater;
    EXPECT(millennium_updater_builder_build(builder, NULL), MILLENNIUM_UPDATER_ERR_NULL_ARGUMENT);
    EXPECT(millennium_updater_builder_build(builder, &updater), MILLENNIUM_UPDATER_ERR_CONFIG);
    CONTAINS(millennium_updater_last_error_message(), "no update endpoint");
    OK(millennium_updater_builder_endpoint(builder, argv[1]));
    OK(millennium_updater_builder_current_version(builder, "1.0.0"));
    EXPECT(millennium_updater_builder_build(builder, &updater), MILLENNIUM_UPDATER_ERR_CONFIG);
    CONTAINS(millennium_updater_last_error_message(), "no public key pinned");
    OK(millennium_updater_builder_pubkey(builder, argv[2]));
    OK(millennium_updater_builder_state_dir(builder, argv[3]));
    OK(millennium_updater_builder_executable(builder, argv[4]));
    OK(millennium_updater_builder_bundle_type(builder, "none"));
    OK(millennium_updater_builder_app_id(builder, "misuse"));
    EXPECT(millennium_updater_builder_windows_installer(builder, "loud", "user"), MILLENNIUM_UPDATER_ERR_INVALID_ARGUMENT);
    EXPECT(millennium_updater_builder_windows_installer(builder, "quiet", "everyone"),
           MILLENNIUM_UPDATER_ERR_INVALID_ARGUMENT);
    EXPECT(millennium_updater_builder_windows_installer(builder, NULL, "user"), MILLENNIUM_UPDATER_ERR_NULL_ARGUMENT);
    OK(millennium_updater_builder_windows_installer(builder, "passive", "user"));
    OK(millennium_updater_builder_build(builder, &updater));

    /* Double free, use after free, forged and zero handles. */
    OK(millennium_updater_builder_free(builder));
    EXPECT(millennium_updater_builder_free(builder), MILLENNIUM_UPDATER_ERR_INVALID_HANDLE);
    CONTAINS(millennium_updater_last_error_message(), "freed already");
    EXPECT(millennium_updater_builder_endpoint(builder, argv[1]), MILLENNIUM_UPDATER_ERR_INVALID_HANDLE);
    EXPECT(millennium_updater_builder_build(builder, &updater), MILLENNIUM_UPDATER_ERR_INVALID_HANDLE);
    MillenniumUpdater forged = {0x123456789};
    MillenniumStartup startup;
    EXPECT(millennium_updater_startup(forged, &startup), MILLENNIUM_UPDATER_ERR_INVALID_HANDLE);
    EXPECT(millennium_updater_relaunch(forged), MILLENNIUM_UPDATER_ERR_INVALID_HANDLE);
    OK(millennium_updater_free((MillenniumUpdater){0}));
    OK(millennium_updater_update_free((MillenniumUpdate){0}));

    /* The last error is per thread: another thread's is untouched by this thread's failure. */
    EXPECT(millennium_updater_startup(updater, NULL), MILLENNIUM_UPDATER_ERR_NULL_ARGUMENT);
    pthread_t thread;
    void *other_code;
    pthread_create(&thread, NULL, last_error_of_another_thread, NULL);
    pthread_join(thread, &other_code);
    SAME((int)(intptr_t)other_code, MILLENNIUM_UPDATER_OK);

    OK(millennium_updater_startup(updater, &startup));
    SAME(startup.status, MILLENNIUM_STARTUP_NORMAL);

    /* Check: NULL out-pointers, then a real check. */
    MillenniumUpdate update;
    int available;
    EXPECT(millennium_updater_check(updater, NULL, &available), MILLENNIUM_UPDATER_ERR_NULL_ARGUMENT);
    EXPECT(millennium_updater_check(updater, &update, NULL), MILLENNIUM_UPDATER_ERR_NULL_ARGUMENT);
    OK(millennium_updater_check(updater, &update, &available));
    SAME(available, 1);
    const char *version = NULL;
    EXPECT(millennium_updater_update_version(update, NULL), MILLENNIUM_UPDATER_ERR_NULL_ARGUMENT);
    OK(millennium_updater_update_version(update, &version));
    CONTAINS(version, "2.0.0");
    int known;
    uint64_t size;
    EXPECT(millennium_updater_update_size(update, &known, NULL), MILLENNIUM_UPDATER_ERR_NULL_ARGUMENT);
    OK(millennium_updater_update_size(update, &known, &size));
    SAME(known, 0); /* a Tauri endpoint does not announce the size */

    /* A handle of another kind is refused, even with a live id. */
    MillenniumUpdater not_an_updater = {update.id};
    EXPECT(millennium_updater_check(not_an_updater, &update, &available), MILLENNIUM_UPDATER_ERR_INVALID_HANDLE);
    EXPECT(millennium_updater_free(not_an_updater), MILLENNIUM_UPDATER_ERR_INVALID_HANDLE);

    /* Cancel from another thread: sticky until reset. */
    MillenniumCancel cancel;
    EXPECT(millennium_updater_cancel_handle(updater, NULL), MILLENNIUM_UPDATER_ERR_NULL_ARGUMENT);
    OK(millennium_updater_cancel_handle(updater, &cancel));
    pthread_create(&thread, NULL, cancel_from_another_thread, &cancel);
    pthread_join(thread, NULL);
    MillenniumUpdate unused;
    EXPECT(millennium_updater_check(updater, &unused, &available), MILLENNIUM_UPDATER_ERR_CANCELLED);
    MillenniumDownload download;
    EXPECT(millennium_updater_update_download(update, NULL, NULL, &download), MILLENNIUM_UPDATER_ERR_CANCELLED);
    OK(millennium_updater_cancel_reset(cancel));

    /* The progress callback cancels its download; it runs on this thread. */
    int calls = 0;
    EXPECT(millennium_updater_update_download(update, cancel_at_first_chunk, &calls, &download),
           MILLENNIUM_UPDATER_ERR_CANCELLED);
    SAME(calls, 1);
    EXPECT(millennium_updater_update_download(update, count_chunks, &calls, NULL),
           MILLENNIUM_UPDATER_ERR_NULL_ARGUMENT);
    calls = 0;
    OK(millennium_updater_update_download(update, count_chunks, &calls, &download));
    SAME(calls > 0, 1);
    SAME(wrong_thread, 0);

    /* Install on exit: scheduling consumes the handle; nothing changes until the quit path applies it. */
    int applied = -1;
    EXPECT(millennium_updater_apply_pending_on_exit(updater, NULL), MILLENNIUM_UPDATER_ERR_NULL_ARGUMENT);
    OK(millennium_updater_apply_pending_on_exit(updater, &applied));
    SAME(applied, 0);
    OK(millennium_updater_download_install_on_exit(download));
    EXPECT(millennium_updater_download_install(download), MILLENNIUM_UPDATER_ERR_CONSUMED);
    EXPECT(millennium_updater_download_install_on_exit(download), MILLENNIUM_UPDATER_ERR_CONSUMED);
    SAME(file_size(argv[4]), 4096); /* still v1 */
    OK(millennium_updater_apply_pending_on_exit(updater, &applied));
    SAME(applied, 1);
    SAME(file_size(argv[4]), 3 << 20); /* v2 */
    OK(millennium_updater_apply_pending_on_exit(updater, &applied));
    SAME(applied, 0);
    OK(millennium_updater_download_free(download));

    /* Handles are independent: the update outlives its freed updater. */
    OK(millennium_updater_free(updater));
    EXPECT(millennium_updater_free(updater), MILLENNIUM_UPDATER_ERR_INVALID_HANDLE);
    EXPECT(millennium_updater_confirm_healthy(updater), MILLENNIUM_UPDATER_ERR_INVALID_HANDLE);
    OK(millennium_updater_update_version(update, &version));
    CONTAINS(version, "2.0.0");
    OK(millennium_updater_cancel(cancel)); /* the cancel handle outlives the updater too */
    OK(millennium_updater_cancel_reset(cancel));
    OK(millennium_updater_cancel_free(cancel));
    EXPECT(millennium_updater_cancel(cancel), MILLENNIUM_UPDATER_ERR_INVALID_HANDLE);

    /* A consumed handle: a fresh download installed once, refused the second time, then freed once. */
    OK(millennium_updater_update_download(update, NULL, NULL, &download));
    OK(millennium_updater_download_install(download));
    EXPECT(millennium_updater_download_install(download), MILLENNIUM_UPDATER_ERR_CONSUMED);
    CONTAINS(millennium_updater_last_error_message(), "installed or scheduled already");
    OK(millennium_updater_download_free(download));
    EXPECT(millennium_updater_download_free(download), MILLENNIUM_UPDATER_ERR_INVALID_HANDLE);
    EXPECT(millennium_updater_download_install(download), MILLENNIUM_UPDATER_ERR_INVALID_HANDLE);
    OK(millennium_updater_update_free(update));
    EXPECT(millennium_updater_update_version(update, &version), MILLENNIUM_UPDATER_ERR_INVALID_HANDLE);

    printf("misuse: %d checks passed\n", checks);
    return 0;
}
