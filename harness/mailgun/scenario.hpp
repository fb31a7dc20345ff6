// The seam between what a run does (a load, a replay) and what carries its
// bytes (kernel sockets, or the project's TCP engine over DPDK).
//
// A transport asks the scenario which connection to open next, opens it,
// and hosts the scenario's client session on it: the session is an
// apps::Session like the server's machines, so the same transport code
// hosts either. Time is the transport's Clock, passed to the session.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>

#include "apps/session.hpp"
#include "harness/mailgun/clock.hpp"
#include "harness/mailgun/tally.hpp"

namespace bm::mailgun {

// A client machine. It reports what it did to the run's Tally itself,
// exactly once per session, whichever way the session ends.
class ClientSession : public apps::Session {
public:
    void on_store_reply(apps::StoreReply) override {}  // a client has no store
    bool waiting() const override { return false; }
    // The session is over (it closed, or its peer did); the transport may
    // drop the connection once what it queued is sent.
    virtual bool ended() const = 0;
};

// One connection to open.
struct Launch {
    std::uint64_t id = 0;  // the scenario's own handle
    std::uint32_t ip = 0;  // host byte order
    std::uint16_t port = 0;
};

class Scenario {
public:
    virtual ~Scenario() = default;

    // The transport is ready (a DPDK port may take seconds to come up):
    // the run's time starts now, on the transport's own clock, which every
    // later now_ns comes from.
    virtual void begin(std::uint64_t now_ns) = 0;

    // The next connection to open now, if one is due.
    virtual std::optional<Launch> next_launch(std::uint64_t now_ns) = 0;
    // When next_launch may next have one (UINT64_MAX: only after a close).
    virtual std::uint64_t next_launch_time() const = 0;
    // Nothing more will ever be launched: the run ends once all are closed.
    virtual bool exhausted(std::uint64_t now_ns) const = 0;
    // The connection of `launch` is established: its client machine.
    virtual std::unique_ptr<ClientSession> open_session(const Launch& launch, apps::Transport& transport,
                                                        const Clock& clock) = 0;
    // The connection of `launch` could not be opened.
    virtual void on_connect_failed(const Launch& launch, ErrorKind kind) = 0;
    // The connection of `launch` is gone (after its session, or a failed
    // open): its slot may be used again. Never re-entrant into the transport.
    virtual void on_closed(const Launch& launch, std::uint64_t now_ns) = 0;
    // The run's time limit came (the open sessions were told on_shutdown).
    virtual void on_time_limit() {}
};

}  // namespace bm::mailgun
