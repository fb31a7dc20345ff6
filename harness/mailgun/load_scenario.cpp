#include "harness/mailgun/load_scenario.hpp"

#include <algorithm>

#include "harness/mailgun/pop3_load_session.hpp"
#include "harness/mailgun/smtp_load_session.hpp"

namespace bm::mailgun {

LoadScenario::LoadScenario(const Workload& workload, Tally& tally)
    : workload_(workload), tally_(tally), plan_(workload, tally), slots_(workload.sessions) {}

std::optional<Launch> LoadScenario::next_launch(std::uint64_t now_ns) {
    for (std::size_t i = 0; i < slots_.size(); ++i) {
        Slot& slot = slots_[i];
        if (slot.busy || slot.ready_at > now_ns) continue;
        std::uint32_t reserved = plan_.reserve(now_ns);
        if (reserved == 0) return std::nullopt;
        slot = {true, reserved, 0, false};
        return Launch{i, workload_.server_ip, workload_.server_port};
    }
    return std::nullopt;
}

std::uint64_t LoadScenario::next_launch_time() const {
    std::uint64_t next = UINT64_MAX;
    for (const Slot& slot : slots_)
        if (!slot.busy) next = std::min(next, slot.ready_at);
    return next;
}

std::unique_ptr<ClientSession> LoadScenario::open_session(const Launch& launch, apps::Transport& transport,
                                                          const Clock& clock) {
    std::uint32_t reserved = slots_[launch.id].reserved;
    if (workload_.protocol == Protocol::pop3)
        return std::make_unique<Pop3LoadSession>(plan_, reserved, launch.id, transport, clock);
    return std::make_unique<SmtpLoadSession>(plan_, reserved, transport, clock);
}

void LoadScenario::on_connect_failed(const Launch& launch, ErrorKind kind) {
    Slot& slot = slots_[launch.id];
    tally_.error(kind);
    tally_.session_ended(false);
    plan_.unsent(slot.reserved);
    slot.failed = true;
}

void LoadScenario::on_time_limit() { plan_.abandon(); }

void LoadScenario::on_closed(const Launch& launch, std::uint64_t now_ns) {
    Slot& slot = slots_[launch.id];
    slot.busy = false;
    // --messages counts every try, so failed opens end the run by
    // themselves; --duration would retry a dead server in a tight loop.
    slot.ready_at = slot.failed && workload_.duration_s > 0 ? now_ns + retry_pause_ns : 0;
    slot.failed = false;
}

}  // namespace bm::mailgun
