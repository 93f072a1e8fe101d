/*
 * update.cpp: examples/update.c in C++, through the RAII wrapper millennium_updater.hpp.
 *
 *     update ENDPOINT PUBKEY STATE_DIR
 *
 * Same behaviour and output as update.c (named update-cpp): prints its version, does the rollback bookkeeping,
 * confirms it works (unless built with -DCRASH_BEFORE_CONFIRMING), checks ENDPOINT for an update signed by PUBKEY,
 * downloads, verifies and installs it over its own executable, and relaunches into it.
 *
 * Build: c++ -std=c++17 -DAPP_VERSION='"1.0.0"' -I include examples/update.cpp -L <dir> -lmillennium_updater_capi
 * Exit status: 0, or the status code of the call that failed (e.g. 12 for an update that failed verification).
 */
#include <cstdio>
#include <cstdlib>
#include <iostream>

#include "millennium_updater.hpp"

#ifndef APP_VERSION
#define APP_VERSION "1.0.0"
#endif

namespace mu = millennium::updater;

int main(int argc, char **argv) {
    if (argc != 4) {
        std::cerr << "usage: " << argv[0] << " ENDPOINT PUBKEY STATE_DIR\n";
        return 2;
    }
    std::cout << std::unitbuf; /* keep the order of lines across the relaunch (exec) */
    std::cout << "update-cpp " << APP_VERSION << "\n";
    try {
        mu::Updater updater = mu::Builder()
                                  .endpoint(argv[1])
                                  .pubkey(argv[2])
                                  .state_dir(argv[3])
                                  .current_version(APP_VERSION)
                                  .app_id("update-cpp")
                                  .bundle_type("none")
                                  .require_signed_version(true)
                                  .build();

        mu::Startup startup = updater.startup();
        if (startup.status == mu::Startup::RolledBack) {
            std::cout << "rolled back; relaunching\n";
            updater.relaunch();
        }
        if (startup.status == mu::Startup::Pending) {
            std::cout << "pending confirmation (start " << startup.start << " of " << startup.allowed << ")\n";
#ifdef CRASH_BEFORE_CONFIRMING
            std::cout << "crashing before confirming\n";
            std::abort();
#endif
            /* A real app confirms once it knows it works (its window opened, its data loaded...). */
            updater.confirm_healthy();
            std::cout << "confirmed healthy\n";
        }

        std::optional<mu::Update> update = updater.check();
        if (!update) {
            std::cout << "up to date\n";
            return 0;
        }
        std::string version = update->version();
        std::cout << "updating to " << version << " (" << update->notes().value_or("no notes") << ")\n";

        if (std::optional<std::uint64_t> delta = update->delta_size()) {
            std::cout << "a delta of " << *delta << " bytes is offered\n";
        }
        mu::Progress last{0, std::nullopt};
        bool delta_failed = false;
        mu::Download download = update->download([&](const mu::Progress &p) {
            if (p.transfer == mu::Transfer::DeltaFailed) {
                delta_failed = true;
            } else {
                last = p;
            }
        });
        std::cout << "downloaded " << last.downloaded << " of " << last.total.value_or(0) << " bytes ("
                  << (last.transfer == mu::Transfer::Delta ? "delta" : "full")
                  << (delta_failed ? ", after the delta failed" : "") << ")\n";
        download.install();
        std::cout << "installed " << version << "; relaunching\n";
        updater.relaunch(); /* does not return on success */
    } catch (const mu::Error &e) {
        std::cerr << "error (" << e.code() << "): " << e.what() << "\n";
        return e.code();
    }
}
