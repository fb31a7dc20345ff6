// Drives one protocol machine the way a driver does (apps/session.hpp):
// input offered in pieces, the rest offered again after each store reply
// or wake-up, exactly one reply per request and never inside submit. The
// fake store is the target's: it sees every request, checks it, and
// answers it. Everything the machine sends is kept for the checks.
#pragma once

#include <chrono>
#include <deque>
#include <functional>
#include <string>
#include <string_view>

#include "apps/session.hpp"
#include "harness/fuzz/fuzz_support.hpp"

namespace bm::fuzz {

class RecordingTransport final : public apps::Transport {
public:
    void send(std::string_view bytes) override {
        check(!closed, "sent after close()", bytes);
        sent += bytes;
        queued += bytes.size();
    }
    std::size_t send_room() const override { return queued < bound ? bound - queued : 0; }
    void close() override { closed = true; }
    void wake_after(std::chrono::milliseconds) override { wakeup_due = true; }

    std::string sent;
    std::size_t bound = 256 * 1024;  // the send queue's bound
    std::size_t queued = 0;          // not yet taken by the peer
    bool closed = false;
    bool wakeup_due = false;
};

// Every line the machine logs or shows with -v goes through the log's
// escaping; check it holds for whatever the peer made them contain.
class CheckingObserver final : public apps::Observer {
public:
    void on_command(std::string_view line) override { check_log_field(line); }
    void on_reply(std::string_view line) override { check_log_field(line); }
    void on_event(std::string_view event, std::string_view detail) override {
        check_log_field(event);
        check_log_field(detail);
        events.emplace_back(event);
    }
    std::deque<std::string> events;
};

// apps/mail_port.hpp: a session waits for the reply to each request
// before it asks again; only DropSpool is not waited for.
class QueuedPort final : public apps::MailPort {
public:
    void submit(apps::StoreRequest request) override {
        if (!std::holds_alternative<apps::DropSpool>(request)) {
            check(outstanding == 0, "a second store request while one is out");
            ++outstanding;
        }
        requests.push_back(std::move(request));
    }
    std::deque<apps::StoreRequest> requests;
    int outstanding = 0;
};

// `answer` returns the reply to a request (`dropped` sees DropSpool, whose
// reply the machine ignores). Once the session has ended (finish), the
// store still answers what it was asked, but the replies reach no one:
// `unclaimed` undoes what they grant, as MailBackend does.
struct SessionDriver {
    apps::Session& session;
    RecordingTransport& transport;
    QueuedPort& port;
    std::function<apps::StoreReply(const apps::StoreRequest&)> answer;
    std::function<void(const apps::StoreRequest&)> dropped = [](const apps::StoreRequest&) {};
    std::function<void(const apps::StoreReply&)> unclaimed = [](const apps::StoreReply&) {};

    std::string pending;
    bool ended = false;

    void offer() {
        if (transport.closed || ended) return;
        std::size_t taken = session.on_bytes(pending);
        check(taken <= pending.size(), "on_bytes took more than offered");
        pending.erase(0, taken);
    }

    // Answers what is queued, fires a due wake-up, and offers the rest
    // again after each, as a driver's loop does.
    void settle() {
        for (int rounds = 0; rounds < 10000; ++rounds) {
            if (!port.requests.empty()) {
                apps::StoreRequest request = std::move(port.requests.front());
                port.requests.pop_front();
                if (std::holds_alternative<apps::DropSpool>(request)) {
                    dropped(request);
                    continue;
                }
                --port.outstanding;
                apps::StoreReply reply = answer(request);
                if (ended) {
                    unclaimed(reply);
                    continue;
                }
                session.on_store_reply(std::move(reply));
            } else if (transport.wakeup_due && !transport.closed && !ended) {
                transport.wakeup_due = false;
                session.on_wakeup();
            } else if (transport.queued > transport.bound / 2 && !ended) {
                // The peer reads: the queue drains, a streaming reply goes on.
                transport.queued = 0;
                session.on_writable();
            } else {
                return;
            }
            offer();
        }
        fail("the session keeps asking the store without end");
    }

    // The client's bytes in pieces of 1..300 octets.
    void feed(std::string_view input, Choices& sizes) {
        for (std::size_t at = 0; at < input.size() && !transport.closed;) {
            std::size_t n = 1 + sizes.next(std::uint32_t(std::min<std::size_t>(input.size() - at, 300)));
            pending.append(input.substr(at, n));
            at += n;
            offer();
            settle();
        }
        settle();
    }

    // The connection ends (the peer goes, or the machine closed it): the
    // machine releases what it holds; what it asked is still answered.
    void finish() {
        session.on_peer_closed();
        ended = true;
        settle();
    }
};

}  // namespace bm::fuzz
