// Replay of a capture: its mail connections opened at the capture's
// inter-arrival times divided by --speed (all at once with
// --as-fast-as-possible), at most --sessions at a time when given.
#pragma once

#include "harness/mailgun/replay_script.hpp"
#include "harness/mailgun/scenario.hpp"

namespace bm::mailgun {

class ReplayScenario final : public Scenario {
public:
    ReplayScenario(const Workload& workload, const ReplayScript& script, Tally& tally);

    void begin(std::uint64_t now_ns) override { start_ns_ = now_ns; }

    std::optional<Launch> next_launch(std::uint64_t now_ns) override;
    std::uint64_t next_launch_time() const override;
    bool exhausted(std::uint64_t) const override { return next_ == script_.sessions.size(); }
    std::unique_ptr<ClientSession> open_session(const Launch& launch, apps::Transport& transport,
                                                const Clock& clock) override;
    void on_connect_failed(const Launch& launch, ErrorKind kind) override;
    void on_closed(const Launch&, std::uint64_t) override { --open_; }

private:
    std::uint64_t due(std::size_t session) const;
    std::uint16_t live_port(std::uint16_t captured) const;
    bool room() const { return workload_.sessions == 0 || open_ < workload_.sessions; }

    const Workload& workload_;
    const ReplayScript& script_;
    Tally& tally_;
    std::uint64_t start_ns_ = 0;
    std::size_t next_ = 0;
    std::size_t open_ = 0;
};

}  // namespace bm::mailgun
