/*
 * millennium_updater.hpp: C++17 RAII wrapper over the Millennium updater's C ABI (millennium_updater.h). Header-only:
 * link the same library (`-lmillennium_updater_capi`).
 *
 *     millennium::updater::Updater updater = millennium::updater::Builder()
 *         .endpoint("https://updates.example.com/app/{{target}}/{{arch}}/{{current_version}}")
 *         .pubkey("RWQ...")
 *         .current_version("1.2.3")
 *         .build();
 *     if (updater.startup().status == millennium::updater::Startup::RolledBack) updater.relaunch();
 *     if (auto update = updater.check()) {
 *         update->download([](const millennium::updater::Progress &p) { ... }).install();
 *         updater.relaunch();   // does not return on success
 *     }
 *     updater.confirm_healthy();
 *
 * Every failing call throws millennium::updater::Error: its code() is the C status code (MILLENNIUM_UPDATER_ERR_*),
 * what() the message with its causes and `hint:` lines. Objects own their C handle and free it in their destructor;
 * they are move-only (a moved-from object holds no handle and may only be destroyed or assigned to). The rules of
 * millennium_updater.h hold: objects may be used from any thread; the progress callback runs on the thread that
 * called download(). An exception thrown by the progress callback cancels the download and is rethrown by download().
 */
#ifndef MILLENNIUM_UPDATER_HPP
#define MILLENNIUM_UPDATER_HPP

#include <cstdint>
#include <exception>
#include <functional>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>

#include "millennium_updater.h"

namespace millennium {
namespace updater {

/* A failed call: the C status code and the message (with `hint:` lines). */
class Error : public std::runtime_error {
public:
    Error(int code, const std::string &message) : std::runtime_error(message), code_(code) {}
    /* MILLENNIUM_UPDATER_ERR_*: e.g. MILLENNIUM_UPDATER_ERR_VERIFICATION for a refused update. */
    int code() const noexcept { return code_; }

private:
    int code_;
};

namespace detail {

/* Throws this thread's last error when `status` is not OK (the message is copied: it lives until the next call). */
inline void check(int status) {
    if (status != MILLENNIUM_UPDATER_OK) {
        throw Error(status, millennium_updater_last_error_message());
    }
}

/* Owns one C handle of type `H`, freed by `Free`; move-only. */
template <typename H, int (*Free)(H)>
class Handle {
public:
    Handle() noexcept : handle_{0} {}
    explicit Handle(H handle) noexcept : handle_(handle) {}
    Handle(const Handle &) = delete;
    Handle &operator=(const Handle &) = delete;
    Handle(Handle &&other) noexcept : handle_(other.release()) {}
    Handle &operator=(Handle &&other) noexcept {
        if (this != &other) {
            reset();
            handle_ = other.release();
        }
        return *this;
    }
    ~Handle() { reset(); }

    H get() const noexcept { return handle_; }
    explicit operator bool() const noexcept { return handle_.id != 0; }

private:
    H release() noexcept {
        H handle = handle_;
        handle_ = H{0};
        return handle;
    }
    void reset() noexcept {
        if (handle_.id != 0) {
            /* Cannot fail for a handle this object owns; a destructor must not throw anyway. */
            (void)Free(handle_);
            handle_ = H{0};
        }
    }

    H handle_;
};

} // namespace detail

/* What the bytes of a progress report belong to. */
enum class Transfer {
    Full = MILLENNIUM_TRANSFER_FULL,               /* the whole artifact */
    Delta = MILLENNIUM_TRANSFER_DELTA,             /* a delta from the installed artifact */
    DeltaFailed = MILLENNIUM_TRANSFER_DELTA_FAILED /* once, nothing downloaded: the full artifact follows */
};

/* Download progress: bytes so far (including a resumed earlier attempt) of what `transfer` names, of `total` when
 * known. */
struct Progress {
    std::uint64_t downloaded;
    std::optional<std::uint64_t> total;
    Transfer transfer = Transfer::Full;
};

/* Called on download()'s thread after every chunk. */
using ProgressFn = std::function<void(const Progress &)>;

/* What startup() found. */
struct Startup {
    enum Status { Normal = MILLENNIUM_STARTUP_NORMAL, Pending = MILLENNIUM_STARTUP_PENDING, RolledBack = MILLENNIUM_STARTUP_ROLLED_BACK };
    Status status;
    /* For Pending: this start's number of `allowed` before the previous version is restored. */
    std::uint32_t start;
    std::uint32_t allowed;
};

/* Cancels an updater's blocking calls, from any thread: sticky until reset(). */
class Cancel {
public:
    explicit Cancel(MillenniumCancel handle) noexcept : handle_(handle) {}
    void cancel() const { detail::check(millennium_updater_cancel(handle_.get())); }
    void reset() const { detail::check(millennium_updater_cancel_reset(handle_.get())); }

private:
    detail::Handle<MillenniumCancel, millennium_updater_cancel_free> handle_;
};

/* A downloaded, verified update. */
class Download {
public:
    explicit Download(MillenniumDownload handle) noexcept : handle_(handle) {}
    /* Installs it (the previous version is kept for a rollback). Once only: again throws MILLENNIUM_UPDATER_ERR_CONSUMED. */
    void install() const { detail::check(millennium_updater_download_install(handle_.get())); }
    /* Installs it when the app quits (Updater::apply_pending_on_exit) instead. */
    void install_on_exit() const { detail::check(millennium_updater_download_install_on_exit(handle_.get())); }

private:
    detail::Handle<MillenniumDownload, millennium_updater_download_free> handle_;
};

/* An offered update. */
class Update {
public:
    explicit Update(MillenniumUpdate handle) noexcept : handle_(handle) {}

    std::string version() const {
        const char *version = nullptr;
        detail::check(millennium_updater_update_version(handle_.get(), &version));
        return version;
    }
    /* The release notes, if any. */
    std::optional<std::string> notes() const {
        const char *notes = nullptr;
        detail::check(millennium_updater_update_notes(handle_.get(), &notes));
        return notes ? std::optional<std::string>(notes) : std::nullopt;
    }
    /* The artifact's size, when the server announces it before the download (signed metadata). */
    std::optional<std::uint64_t> size() const {
        int known = 0;
        std::uint64_t size = 0;
        detail::check(millennium_updater_update_size(handle_.get(), &known, &size));
        return known ? std::optional<std::uint64_t>(size) : std::nullopt;
    }
    /* The size of the delta the download will try first (the server offers one from the installed artifact); a delta
     * that fails in any way falls back to the full download. */
    std::optional<std::uint64_t> delta_size() const {
        int uses = 0;
        std::uint64_t size = 0;
        detail::check(millennium_updater_update_delta(handle_.get(), &uses, &size));
        return uses ? std::optional<std::uint64_t>(size) : std::nullopt;
    }
    /* Downloads (resuming an earlier partial download) and verifies it. Blocks. */
    Download download(ProgressFn progress = nullptr) const {
        Context context{std::move(progress), nullptr};
        MillenniumDownload download{0};
        int status = millennium_updater_update_download_ex(handle_.get(), context.progress ? &trampoline : nullptr,
                                                           &context, &download);
        /* The callback's own exception, not the CANCELLED it caused, is what the caller wants to see. */
        if (context.error) {
            std::rethrow_exception(context.error);
        }
        detail::check(status);
        return Download(download);
    }

private:
    struct Context {
        ProgressFn progress;
        std::exception_ptr error;
    };
    /* No exception may unwind into the library: it is kept, and the download cancelled, to be rethrown above. */
    static int trampoline(void *user_data, const MillenniumProgress *p) noexcept {
        Context *context = static_cast<Context *>(user_data);
        try {
            context->progress(Progress{p->downloaded, p->total_known ? std::optional<std::uint64_t>(p->total) : std::nullopt,
                                       static_cast<Transfer>(p->transfer)});
            return 0;
        } catch (...) {
            context->error = std::current_exception();
            return 1;
        }
    }

    detail::Handle<MillenniumUpdate, millennium_updater_update_free> handle_;
};

/* A configured updater. */
class Updater {
public:
    explicit Updater(MillenniumUpdater handle) noexcept : handle_(handle) {}

    /* Rollback bookkeeping: call first thing at every start (see millennium_updater_startup). */
    Startup startup() const {
        MillenniumStartup startup{};
        detail::check(millennium_updater_startup(handle_.get(), &startup));
        return Startup{static_cast<Startup::Status>(startup.status), startup.start, startup.allowed};
    }
    /* The offered update, or nothing when up to date. Blocks; cancellable. */
    std::optional<Update> check() const {
        MillenniumUpdate update{0};
        int available = 0;
        detail::check(millennium_updater_check(handle_.get(), &update, &available));
        return available ? std::optional<Update>(Update(update)) : std::nullopt;
    }
    /* This version works: it will not be rolled back. */
    void confirm_healthy() const { detail::check(millennium_updater_confirm_healthy(handle_.get())); }
    /* Replaces this process with the installed app; returns only by throwing. */
    [[noreturn]] void relaunch() const {
        detail::check(millennium_updater_relaunch(handle_.get()));
        /* relaunch returns only on failure, with a status. */
        throw Error(MILLENNIUM_UPDATER_ERR_OTHER, "relaunch returned");
    }
    /* From the app's quit path: installs the update scheduled with Download::install_on_exit; whether there was one. */
    bool apply_pending_on_exit() const {
        int applied = 0;
        detail::check(millennium_updater_apply_pending_on_exit(handle_.get(), &applied));
        return applied != 0;
    }
    /* A cancel handle for this updater's blocking calls. */
    Cancel cancel_handle() const {
        MillenniumCancel cancel{0};
        detail::check(millennium_updater_cancel_handle(handle_.get(), &cancel));
        return Cancel(cancel);
    }

private:
    detail::Handle<MillenniumUpdater, millennium_updater_free> handle_;
};

/* Configures an updater; each setter returns the builder for chaining. */
class Builder {
public:
    Builder() {
        MillenniumUpdaterBuilder builder{0};
        detail::check(millennium_updater_builder_new(&builder));
        handle_ = Handle(builder);
    }

    Builder &endpoint(const std::string &url) { return set(millennium_updater_builder_endpoint, url); }
    Builder &metadata_url(const std::string &url) { return set(millennium_updater_builder_metadata_url, url); }
    Builder &pubkey(const std::string &key) { return set(millennium_updater_builder_pubkey, key); }
    Builder &current_version(const std::string &v) { return set(millennium_updater_builder_current_version, v); }
    Builder &channel(const std::string &channel) { return set(millennium_updater_builder_channel, channel); }
    Builder &app_id(const std::string &id) { return set(millennium_updater_builder_app_id, id); }
    Builder &state_dir(const std::string &dir) { return set(millennium_updater_builder_state_dir, dir); }
    Builder &install_id(const std::string &id) { return set(millennium_updater_builder_install_id, id); }
    Builder &executable(const std::string &path) { return set(millennium_updater_builder_executable, path); }
    /* "none" (a plain executable), "appimage", "deb", "rpm", ... */
    Builder &bundle_type(const std::string &bundle) { return set(millennium_updater_builder_bundle_type, bundle); }
    Builder &windows_installer(const std::string &ui, const std::string &scope) {
        detail::check(millennium_updater_builder_windows_installer(handle_.get(), ui.c_str(), scope.c_str()));
        return *this;
    }
    Builder &header(const std::string &name, const std::string &value) {
        detail::check(millennium_updater_builder_header(handle_.get(), name.c_str(), value.c_str()));
        return *this;
    }
    Builder &rollback_after_starts(std::uint32_t starts) {
        detail::check(millennium_updater_builder_rollback_after_starts(handle_.get(), starts));
        return *this;
    }
    Builder &require_signed_version(bool required) {
        detail::check(millennium_updater_builder_require_signed_version(handle_.get(), required ? 1 : 0));
        return *this;
    }

    /* Checks the configuration and builds an updater; the builder stays usable. */
    Updater build() const {
        MillenniumUpdater updater{0};
        detail::check(millennium_updater_builder_build(handle_.get(), &updater));
        return Updater(updater);
    }

private:
    using Handle = detail::Handle<MillenniumUpdaterBuilder, millennium_updater_builder_free>;

    Builder &set(int (*setter)(MillenniumUpdaterBuilder, const char *), const std::string &value) {
        detail::check(setter(handle_.get(), value.c_str()));
        return *this;
    }

    Handle handle_;
};

/* The library's version, e.g. "0.1.0". */
inline std::string version() { return millennium_updater_version(); }

} // namespace updater
} // namespace millennium

#endif /* MILLENNIUM_UPDATER_HPP */
