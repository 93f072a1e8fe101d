/* A C program on Millennium: a window whose page calls the C command `add`, then reports the sum to `report`. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "millennium.h"

static const char *add(void *user_data, const MillenniumHandle *handle, const char *args_json) {
    static char reply[64];
    int a = 0, b = 0;
    (void)handle;
    (*(int *)user_data)++;
    if (sscanf(args_json, "[%d,%d]", &a, &b) != 2) {
        return NULL;
    }
    snprintf(reply, sizeof reply, "%d", a + b);
    return reply;
}

static const char *report(void *user_data, const MillenniumHandle *handle, const char *args_json) {
    printf("calls %d\nreport %s\n", *(int *)user_data, args_json);
    fflush(stdout);
    millennium_exit(handle, 0);
    return "null";
}

static const char script[] =
    "Millennium.invoke('add', [2, 3]).then(function (sum) {"
    "  document.getElementById('out').textContent = '2 + 3 = ' + sum;"
    "  return Millennium.invoke('report', { sum: sum, guessed: typeof window.add });"
    "});";

int main(void) {
    static int calls = 0;
    MillenniumApp *app = millennium_app_new("Hello from C");
    if (app == NULL) {
        return 2;
    }
    if (millennium_app_set_html(app,
            "<!doctype html><html><head><title>C</title></head><body><h1>Hello from C</h1>"
            "<p id=out>...</p><script src=app.js></script></body></html>") != 0
        || millennium_app_add_asset(app, "/app.js", "text/javascript", (const unsigned char *)script,
                                    strlen(script)) != 0
        || millennium_app_command(app, "add", add, &calls) != 0
        || millennium_app_command(app, "report", report, &calls) != 0) {
        millennium_app_free(app);
        return 2;
    }
    return millennium_app_run(app);
}
