#include "harness/mailgun/replay_scenario.hpp"

#include "harness/mailgun/replay_session.hpp"

namespace bm::mailgun {

ReplayScenario::ReplayScenario(const Workload& workload, const ReplayScript& script, Tally& tally)
    : workload_(workload), script_(script), tally_(tally) {}

std::uint64_t ReplayScenario::due(std::size_t session) const {
    if (workload_.speed <= 0) return start_ns_;  // as fast as possible
    return start_ns_ + static_cast<std::uint64_t>(static_cast<double>(script_.sessions[session].offset_ns) /
                                                  workload_.speed);
}

// --port-map first, then the port of --server, else the captured one.
std::uint16_t ReplayScenario::live_port(std::uint16_t captured) const {
    for (const auto& [from, to] : workload_.port_map)
        if (from == captured) return to;
    return workload_.server_port ? workload_.server_port : captured;
}

std::optional<Launch> ReplayScenario::next_launch(std::uint64_t now_ns) {
    if (next_ == script_.sessions.size() || !room() || due(next_) > now_ns) return std::nullopt;
    const ReplaySessionScript& s = script_.sessions[next_];
    ++open_;
    return Launch{next_++, workload_.server_ip, live_port(s.server_port)};
}

std::uint64_t ReplayScenario::next_launch_time() const {
    if (next_ == script_.sessions.size() || !room()) return UINT64_MAX;
    return due(next_);
}

std::unique_ptr<ClientSession> ReplayScenario::open_session(const Launch& launch, apps::Transport& transport,
                                                            const Clock& clock) {
    return std::make_unique<ReplaySession>(script_.sessions[launch.id], transport, clock, tally_);
}

void ReplayScenario::on_connect_failed(const Launch& launch, ErrorKind kind) {
    tally_.error(kind);
    tally_.session_ended(false);
    tally_.messages_failed(script_.sessions[launch.id].turns());
}

}  // namespace bm::mailgun
