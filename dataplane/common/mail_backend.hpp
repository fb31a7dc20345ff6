// The glue between the protocol machines' MailPort requests (apps/) and the
// store (store/): each request becomes a Job on the I/O worker; its reply
// comes back, on the polling thread, to whoever owns the token.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <utility>

#include "apps/mail_port.hpp"
#include "dataplane/common/program.hpp"
#include "store/auth_worker.hpp"
#include "store/io_worker.hpp"
#include "store/mail_store.hpp"

namespace bm {

class MailBackend {
public:
    // Called on the polling thread with the token given to submit().
    // Returns false when the token's owner is gone (its client closed while
    // the request was out); the backend then undoes what the reply would
    // have given the owner, e.g. unlocks a maildrop it opened.
    using ReplyHandler = std::function<bool(std::uint64_t token, apps::StoreReply& reply)>;

    // `store` may be null in --sink mode: deliveries succeed without disk
    // and every other request behaves as if no mailbox existed; the
    // answers are made on the polling thread, without the worker.
    // A token no owner ever has: replies to it are dropped.
    static constexpr std::uint64_t orphan_token = ~std::uint64_t(0);

    MailBackend(store::MailStore* store, store::IoWorker& worker, ReplyHandler on_reply);

    void submit(std::uint64_t token, apps::StoreRequest request);
    // Called on the polling thread each time a delivery has durably put a
    // message into the relay queue (the relay client then scans it).
    void set_on_queued(std::function<void()> on_queued) { on_queued_ = std::move(on_queued); }
    // Runs the replies that are ready. Returns how many.
    std::size_t poll();
    int event_fd() const { return worker_.event_fd(); }
    // Readable while password checks have finished (-1 without a users
    // file): the kernel build's epoll watches it beside event_fd.
    int auth_event_fd() const { return auth_ ? auth_->event_fd() : -1; }
    // An eventfd to write when a password check finishes: the DPDK build's
    // idle sleep ends on it.
    void set_wake_fd(int fd) {
        if (auth_) auth_->set_wake_fd(fd);
    }
    std::size_t in_flight() const {
        return worker_.in_flight() + refused_.size() + sink_answers_.size() + (auth_ ? auth_->in_flight() : 0);
    }

private:
    friend class RequestJob;
    void deliver_reply(std::uint64_t token, apps::StoreReply reply);
    void submit_to_worker(std::uint64_t token, apps::StoreRequest request, bool credentials_checked);
    void check_then_open(std::uint64_t token, apps::OpenMaildrop request);
    void retry_spool_drops();

    store::MailStore* store_;
    store::IoWorker& worker_;
    // POP3 passwords are checked here first, never on the I/O worker
    // (crypt takes milliseconds; the worker's fsyncs must not wait on it).
    std::unique_ptr<store::AuthWorker> auth_;
    ReloadHooks::Registration users_reload_;  // SIGHUP: the users file, read again
    ReplyHandler on_reply_;
    std::function<void()> on_queued_;
    // Requests the worker's ring had no room for: answered with a temporary
    // failure on the next poll (never from inside submit).
    std::deque<std::pair<std::uint64_t, apps::StoreReply>> refused_;
    // Spools of refused requests, to drop once the ring has room.
    std::deque<std::uint64_t> spools_to_drop_;
    // --sink: requests already answered, their replies due on the next poll.
    std::deque<std::unique_ptr<store::Job>> sink_answers_;
};

}  // namespace bm
