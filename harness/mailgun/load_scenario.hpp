// A generated load: --sessions slots, each opening connection after
// connection while the plan has messages (or time) left. A slot whose
// connection could not be opened waits a little before the next try, so a
// dead server is counted, not hammered in a tight loop.
#pragma once

#include <vector>

#include "harness/mailgun/load_plan.hpp"
#include "harness/mailgun/scenario.hpp"

namespace bm::mailgun {

class LoadScenario final : public Scenario {
public:
    LoadScenario(const Workload& workload, Tally& tally);

    void begin(std::uint64_t now_ns) override { plan_.begin(now_ns); }

    std::optional<Launch> next_launch(std::uint64_t now_ns) override;
    std::uint64_t next_launch_time() const override;
    bool exhausted(std::uint64_t now_ns) const override { return plan_.exhausted(now_ns); }
    std::unique_ptr<ClientSession> open_session(const Launch& launch, apps::Transport& transport,
                                                const Clock& clock) override;
    void on_connect_failed(const Launch& launch, ErrorKind kind) override;
    void on_closed(const Launch& launch, std::uint64_t now_ns) override;
    void on_time_limit() override;

    static constexpr std::uint64_t retry_pause_ns = 10'000'000;  // after a failed open

private:
    struct Slot {
        bool busy = false;
        std::uint32_t reserved = 0;
        std::uint64_t ready_at = 0;  // not before (after a failed open)
        bool failed = false;
    };

    const Workload& workload_;
    Tally& tally_;
    LoadPlan plan_;
    std::vector<Slot> slots_;
};

}  // namespace bm::mailgun
