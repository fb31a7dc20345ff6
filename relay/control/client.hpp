// The queue tool's end of the control socket: one request, one reply.
#pragma once

#include <string>

#include "relay/control/protocol.hpp"

namespace bm::control {

struct ClientResult {
    enum class Kind { replied, not_running, failed };
    Kind kind = Kind::failed;
    Reply reply;        // when replied
    std::string error;  // otherwise: why, for the operator
};

// Connects to the server that owns `queue_dir`, sends `request` and waits
// at most `timeout_s` for the reply (a hold or delete replies once the
// queue file is durable).
ClientResult ask_server(const std::string& queue_dir, const Request& request, int timeout_s = 30);

}  // namespace bm::control
