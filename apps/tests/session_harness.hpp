// Drives a protocol machine in unit tests: a transport that records what the
// session sends, a mail port whose requests the test answers, and a feeder
// that offers input the way a driver does (respecting on_bytes' return
// value, answering store requests in order, then offering the rest again).
#pragma once

#include <chrono>
#include <deque>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "apps/session.hpp"

namespace bm::apps::testing {

class RecordingTransport : public Transport {
public:
    void send(std::string_view bytes) override { sent += bytes; }
    // Unbounded unless a test sets `room` (streaming tests).
    std::size_t send_room() const override { return room; }
    void close() override { closed = true; }
    void wake_after(std::chrono::milliseconds delay) override { wakeups.push_back(delay); }

    std::string sent;
    std::size_t room = std::size_t(-1);
    bool closed = false;
    std::vector<std::chrono::milliseconds> wakeups;
};

class QueuedMailPort : public MailPort {
public:
    void submit(StoreRequest request) override { requests.push_back(std::move(request)); }
    std::deque<StoreRequest> requests;
};

class RecordingObserver : public Observer {
public:
    void on_command(std::string_view line) override { commands.emplace_back(line); }
    void on_reply(std::string_view line) override { replies.emplace_back(line); }
    void on_event(std::string_view event, std::string_view detail) override {
        events.push_back(std::string(event) + " " + std::string(detail));
    }
    std::vector<std::string> commands, replies, events;
};

// Answers one store request (the test's fake store).
using StoreAnswer = std::function<StoreReply(const StoreRequest&)>;

// Offers `input` in pieces of `step` bytes, like a driver: unconsumed bytes
// are kept and offered again once the session's pending request is answered
// or its wake-up fires. Stops early if the session closes.
inline void feed(Session& session, RecordingTransport& transport, QueuedMailPort& port,
                 std::string_view input, std::size_t step, const StoreAnswer& answer) {
    std::string pending;
    auto settle = [&] {
        for (;;) {
            if (!port.requests.empty()) {
                StoreRequest request = std::move(port.requests.front());
                port.requests.pop_front();
                session.on_store_reply(answer(request));
            } else if (!transport.wakeups.empty()) {
                transport.wakeups.clear();
                session.on_wakeup();
            } else {
                break;
            }
            if (transport.closed) return;
            std::size_t taken = session.on_bytes(pending);
            pending.erase(0, taken);
        }
    };
    for (std::size_t at = 0; at < input.size() && !transport.closed; at += step) {
        pending.append(input.substr(at, step));
        std::size_t taken = session.on_bytes(pending);
        pending.erase(0, taken);
        settle();
    }
    settle();
}

}  // namespace bm::apps::testing
