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
#include "store/io_worker.hpp"
#include "store/mail_store.hpp"

namespace bm {

class MailBackend {
public:
    // Called on the polling thread with the token given to submit().
    using ReplyHandler = std::function<void(std::uint64_t token, apps::StoreReply reply)>;

    // `store` may be null in --sink mode: deliveries succeed without disk
    // and every other request behaves as if no mailbox existed.
    MailBackend(store::MailStore* store, store::IoWorker& worker, ReplyHandler on_reply);

    void submit(std::uint64_t token, apps::StoreRequest request);
    // Runs the replies that are ready. Returns how many.
    std::size_t poll();
    int event_fd() const { return worker_.event_fd(); }
    std::size_t in_flight() const { return worker_.in_flight() + refused_.size(); }

private:
    friend class RequestJob;
    store::MailStore* store_;
    store::IoWorker& worker_;
    ReplyHandler on_reply_;
    // Requests the worker's ring had no room for: answered with a temporary
    // failure on the next poll (never from inside submit).
    std::deque<std::pair<std::uint64_t, apps::StoreReply>> refused_;
};

}  // namespace bm
