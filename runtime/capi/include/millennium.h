/*
 * millennium.h: the C ABI of Millennium (crate `millennium-capi`, library `libmillennium_capi`).
 *
 * Open a window showing an HTML page served from memory (no server, strict CSP) and answer the page's
 * `Millennium.invoke(name, args)` calls from C. Every string is UTF-8 and NUL-terminated.
 *
 *     MillenniumApp *app = millennium_app_new("Hello");
 *     millennium_app_set_html(app, "<!doctype html><html><head></head><body>...</body></html>");
 *     millennium_app_command(app, "add", add, NULL);
 *     return millennium_app_run(app);   // returns only on failure
 */
#ifndef MILLENNIUM_H
#define MILLENNIUM_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* An app being configured. Created by millennium_app_new, consumed by millennium_app_run or millennium_app_free. */
typedef struct MillenniumApp MillenniumApp;

/* The running app, as passed to command callbacks. Valid only during the callback. */
typedef struct MillenniumHandle MillenniumHandle;

/*
 * A command. `args_json` is the JSON the page passed (`null` when none). Return the JSON of the reply: the library
 * copies it before the callback can run again, so a string literal or a buffer you own is fine. Return NULL to reject
 * the call. Called on the thread that called millennium_app_run.
 */
typedef const char *(*MillenniumCommandFn)(void *user_data, const MillenniumHandle *handle, const char *args_json);

/* A new app with the given window title, or NULL when `title` is NULL or not UTF-8. */
MillenniumApp *millennium_app_new(const char *title);

/* Serve `html` as /index.html (the CSP meta tag and the bridge script are injected into its <head>). 0 on success. */
int millennium_app_set_html(MillenniumApp *app, const char *html);

/* Serve `len` bytes at `data` as `path` (starting with `/`) with Content-Type `mime`. The bytes are copied. 0 on
 * success. */
int millennium_app_add_asset(MillenniumApp *app, const char *path, const char *mime, const unsigned char *data,
                             size_t len);

/* Make `callback` callable from the page as Millennium.invoke(name, args). 0 on success. */
int millennium_app_command(MillenniumApp *app, const char *name, MillenniumCommandFn callback, void *user_data);

/* Open the window and run the event loop. Consumes `app`. Exits the process when the app ends; returns 1 (after
 * printing `error: ...` to stderr) only when it cannot start, e.g. without a display. */
int millennium_app_run(MillenniumApp *app);

/* Free an app that will not be run. */
void millennium_app_free(MillenniumApp *app);

/* Publish `payload_json` to the page's listeners of `broker` (Millennium.listen). 0 on success. */
int millennium_emit(const MillenniumHandle *handle, const char *broker, const char *payload_json);

/* End the app: the process exits with `code`. The reply to the call in progress, if any, is not delivered. 0 on success. */
int millennium_exit(const MillenniumHandle *handle, int code);

#ifdef __cplusplus
}
#endif

#endif /* MILLENNIUM_H */
