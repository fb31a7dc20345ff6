#include "apps/relay/scheduler.hpp"

#include <algorithm>

namespace bm {

bool QueuedMessage::finished() const {
    return std::none_of(recipients.begin(), recipients.end(),
                        [](const QueuedRecipient& r) { return r.state == RcptState::pending; });
}

bool QueuedMessage::any_failed() const {
    return std::any_of(recipients.begin(), recipients.end(),
                       [](const QueuedRecipient& r) { return r.state == RcptState::failed; });
}

std::string domain_of(const std::string& address) {
    std::size_t at = address.rfind('@');
    if (at == std::string::npos) return {};
    std::string domain = address.substr(at + 1);
    for (char& c : domain)
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    return domain;
}

std::int64_t RelayScheduler::retry_delay_after(std::uint32_t failures) const {
    std::int64_t first = std::max<std::int64_t>(settings_.retry_delay, 1);
    std::int64_t cap = std::max(settings_.max_retry_delay, first);
    std::int64_t delay = first;
    for (std::uint32_t i = 1; i < failures && delay < cap; ++i) delay *= 2;
    return std::min(delay, cap);
}

bool RelayScheduler::expired(const QueuedMessage& m, std::int64_t now) const {
    return now - m.created >= settings_.max_lifetime;
}

// The next try after `failures` failed attempts, never past the end of the
// message's lifetime: the last attempt falls on it, and its failure bounces.
std::int64_t RelayScheduler::retry_time(const QueuedMessage& m, std::uint32_t failures,
                                        std::int64_t now) const {
    std::int64_t at = now + retry_delay_after(failures);
    std::int64_t end_of_life = m.created + settings_.max_lifetime;
    return end_of_life > now ? std::min(at, end_of_life) : at;
}

// Postfix sends it once, at the first deferral after delay_warning_time,
// and not at all when the message would bounce before then.
bool RelayScheduler::warning_due(const QueuedMessage& m, std::int64_t now) const {
    return settings_.delay_warning > 0 && !m.warned && settings_.delay_warning < settings_.max_lifetime &&
           now - m.created >= settings_.delay_warning;
}

bool RelayScheduler::add(QueuedMessage message) {
    if (messages_.count(message.name)) return false;
    std::string name = message.name;
    Record& record = messages_[name];
    record.message = std::move(message);
    // Every domain resumes from the file's counters (see the header).
    for (const QueuedRecipient& r : record.message.recipients) {
        if (r.state != RcptState::pending) continue;
        Domain& d = record.domains[domain_of(r.address)];
        d.attempts = record.message.attempts;
        d.next_try = record.message.next_try;
    }
    if (record.domains.empty()) {
        finished_on_add_.push_back(name);
        return true;
    }
    for (const auto& [domain, d] : record.domains) schedule(name, domain, d);
    return true;
}

std::vector<QueueUpdate> RelayScheduler::take_finished() {
    std::vector<QueueUpdate> out;
    for (const std::string& name : finished_on_add_) {
        auto it = messages_.find(name);
        if (it != messages_.end()) out.push_back(update_for(it->second));
    }
    finished_on_add_.clear();
    return out;
}

void RelayScheduler::schedule(const std::string& name, const std::string& domain, const Domain& d) {
    if (messages_.at(name).message.held) return;  // due again only after release()
    due_.emplace(d.next_try, name, domain);
}

void RelayScheduler::unschedule(const std::string& name, const std::string& domain,
                                const Domain& d) {
    due_.erase(DueKey{d.next_try, name, domain});
}

std::vector<DueDelivery> RelayScheduler::take_due(std::int64_t now, std::size_t limit) {
    std::vector<DueDelivery> out;
    while (!due_.empty() && out.size() < limit) {
        auto [when, name, domain] = *due_.begin();
        if (when > now) break;
        due_.erase(due_.begin());
        Record& record = messages_.at(name);
        Domain& d = record.domains.at(domain);
        DueDelivery delivery;
        delivery.delivery = next_delivery_++;
        delivery.message = name;
        delivery.id = record.message.id;
        delivery.domain = domain;
        delivery.sender = record.message.sender;
        delivery.attempt = d.attempts + 1;
        for (const QueuedRecipient& r : record.message.recipients)
            if (r.state == RcptState::pending && domain_of(r.address) == domain)
                delivery.recipients.push_back(r.address);
        d.in_flight = delivery.delivery;
        in_flight_[delivery.delivery] = {name, domain};
        out.push_back(std::move(delivery));
    }
    return out;
}

std::optional<std::int64_t> RelayScheduler::next_due() const {
    if (due_.empty()) return std::nullopt;
    return std::get<0>(*due_.begin());
}

std::optional<QueueUpdate> RelayScheduler::finish(std::uint64_t delivery,
                                                  const std::vector<apps::RecipientResult>& results,
                                                  std::int64_t now, bool count_attempt) {
    auto flight = in_flight_.find(delivery);
    if (flight == in_flight_.end()) return std::nullopt;
    auto [name, domain] = flight->second;
    in_flight_.erase(flight);
    Record& record = messages_.at(name);
    Domain& d = record.domains.at(domain);
    d.in_flight = 0;

    bool still_pending = false;
    for (QueuedRecipient& r : record.message.recipients) {
        if (r.state != RcptState::pending || domain_of(r.address) != domain) continue;
        auto result = std::find_if(results.begin(), results.end(),
                                   [&](const apps::RecipientResult& x) { return x.address == r.address; });
        if (result == results.end()) {
            still_pending = true;  // not tried: counts as a temporary failure
            continue;
        }
        r.diagnostic = result->reply;
        switch (result->outcome) {
            case apps::RelayOutcome::delivered: r.state = RcptState::sent; break;
            case apps::RelayOutcome::permanent: r.state = RcptState::failed; break;
            case apps::RelayOutcome::temporary: still_pending = true; break;
        }
    }
    bool warn = false;
    if (still_pending && count_attempt) {
        ++d.attempts;
        if (d.attempts >= settings_.max_attempts || expired(record.message, now)) {
            // Out of attempts or of time: what is still pending fails now.
            for (QueuedRecipient& r : record.message.recipients)
                if (r.state == RcptState::pending && domain_of(r.address) == domain)
                    r.state = RcptState::failed;
            still_pending = false;
        } else {
            d.next_try = retry_time(record.message, d.attempts, now);
            warn = warning_due(record.message, now);
        }
    }
    if (still_pending) schedule(name, domain, d);
    else record.domains.erase(domain);
    if (warn) record.message.warned = true;
    QueueUpdate update = update_for(record);
    update.warn = warn && update.action == QueueUpdate::Action::rewrite;
    return update;
}

std::set<std::string> RelayScheduler::names() const {
    std::set<std::string> out;
    for (const auto& [name, record] : messages_) out.insert(name);
    return out;
}

void RelayScheduler::abandon(std::uint64_t delivery) {
    auto flight = in_flight_.find(delivery);
    if (flight == in_flight_.end()) return;
    auto [name, domain] = flight->second;
    in_flight_.erase(flight);
    Domain& d = messages_.at(name).domains.at(domain);
    d.in_flight = 0;
    schedule(name, domain, d);
}

void RelayScheduler::forget(const std::string& name) {
    auto it = messages_.find(name);
    if (it == messages_.end()) return;
    for (const auto& [domain, d] : it->second.domains) {
        unschedule(name, domain, d);
        if (d.in_flight) in_flight_.erase(d.in_flight);
    }
    messages_.erase(it);
}

std::optional<std::string> RelayScheduler::find(const std::string& name_or_id) const {
    if (messages_.count(name_or_id)) return name_or_id;
    for (const auto& [name, record] : messages_)
        if (record.message.id == name_or_id) return name;
    return std::nullopt;
}

const QueuedMessage* RelayScheduler::message(const std::string& name) const {
    auto it = messages_.find(name);
    return it == messages_.end() ? nullptr : &it->second.message;
}

std::optional<QueueUpdate> RelayScheduler::hold(const std::string& name) {
    auto it = messages_.find(name);
    if (it == messages_.end()) return std::nullopt;
    for (const auto& [domain, d] : it->second.domains)
        if (!d.in_flight) unschedule(name, domain, d);
    it->second.message.held = true;
    return update_for(it->second);
}

void RelayScheduler::warning_failed(const std::string& name) {
    auto it = messages_.find(name);
    if (it != messages_.end()) it->second.message.warned = false;
}

std::optional<QueueUpdate> RelayScheduler::release(const std::string& name) {
    auto it = messages_.find(name);
    if (it == messages_.end()) return std::nullopt;
    if (it->second.message.held) {
        it->second.message.held = false;
        for (const auto& [domain, d] : it->second.domains)
            if (!d.in_flight) schedule(name, domain, d);
    }
    return update_for(it->second);
}

std::size_t RelayScheduler::flush(const std::string& only, std::int64_t now) {
    std::size_t made_due = 0;
    for (auto& [name, record] : messages_) {
        if ((!only.empty() && name != only) || record.message.held) continue;
        for (auto& [domain, d] : record.domains) {
            if (d.in_flight) continue;
            unschedule(name, domain, d);
            d.next_try = std::min(d.next_try, now);
            schedule(name, domain, d);
            ++made_due;
        }
    }
    return made_due;
}

// The file's counters: the least-tried pending domain and the earliest retry.
QueueUpdate RelayScheduler::update_for(Record& record) {
    QueueUpdate update;
    QueuedMessage& m = record.message;
    if (!record.domains.empty()) {
        std::uint32_t attempts = ~std::uint32_t(0);
        std::int64_t next_try = INT64_MAX;
        for (const auto& [domain, d] : record.domains) {
            attempts = std::min(attempts, d.attempts);
            next_try = std::min(next_try, d.next_try);
        }
        m.attempts = attempts;
        m.next_try = next_try;
    }
    update.action = m.finished() ? QueueUpdate::Action::finish : QueueUpdate::Action::rewrite;
    update.message = m;
    return update;
}

}  // namespace bm
