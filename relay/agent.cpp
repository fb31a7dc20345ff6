#include "relay/agent.hpp"

#include <algorithm>

#include "apps/ipv4_text.hpp"
#include "relay/queue_jobs.hpp"

namespace bm {

namespace {

std::string bracketed(const std::string& address) { return "<" + address + ">"; }

std::string lower(std::string s) {
    for (char& c : s)
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    return s;
}

}  // namespace

RelayAgent::RelayAgent(RelaySettings settings, store::MailStore& store, store::IoWorker& worker,
                       RelayNetwork& network, EventLog& log)
    : settings_(std::move(settings)),
      store_(store),
      worker_(worker),
      network_(network),
      log_(log),
      scheduler_(RelayScheduler::Settings{settings_.retry_delay, settings_.max_attempts}) {}

void RelayAgent::log(const std::string& peer, const std::string& event, const std::string& detail) {
    log_.event("relay", peer, event, detail);
}

// ---- the loop's hooks ------------------------------------------------------------

void RelayAgent::start(std::time_t now) {
    started_ = now;
    scan(now);
}

void RelayAgent::tick(std::time_t now) {
    scanned_ = false;
    if (stopping_) return;
    if (!scan_in_flight_ && (scan_wanted_ || now >= next_scan_)) scan(now);
    start_due(now);
}

void RelayAgent::stop() {
    if (stopping_) return;
    stopping_ = true;
    // Lookups and reads in progress end here; running sessions end when
    // the driver cuts them (on_session_end).
    std::vector<std::uint64_t> idle;
    for (const auto& [id, a] : attempts_)
        if (!a.connected) idle.push_back(id);
    for (std::uint64_t id : idle) end_attempt(id);
}

// ---- queue scans -------------------------------------------------------------------

void RelayAgent::scan(std::time_t now) {
    std::set<std::string> known = scheduler_.names();
    known.insert(finishing_.begin(), finishing_.end());
    // The first scan also clears QUEUE/tmp of what a crash left behind.
    std::time_t stale_before = next_scan_ == 0 ? started_ : 0;
    auto job = std::make_unique<ScanQueueJob>(
        settings_.queue_dir, std::move(known), stale_before,
        [this](std::vector<QueuedMessage> found) { on_scanned(std::move(found)); });
    if (!worker_.submit(std::move(job))) return;  // ring full: next tick
    scan_in_flight_ = true;
    scan_wanted_ = false;
    next_scan_ = now + settings_.rescan_interval;
}

void RelayAgent::on_scanned(std::vector<QueuedMessage> found) {
    scan_in_flight_ = false;
    scanned_ = true;
    if (stopping_) return;
    for (QueuedMessage& m : found) {
        if (finishing_.count(m.name)) continue;
        scheduler_.add(std::move(m));
    }
    for (const QueueUpdate& update : scheduler_.take_finished()) persist(update);
}

// ---- one delivery attempt: RFC 5321 §5.1 --------------------------------------------

void RelayAgent::start_due(std::time_t now) {
    if (attempts_.size() >= settings_.max_deliveries) return;
    for (DueDelivery& due : scheduler_.take_due(now, settings_.max_deliveries - attempts_.size()))
        begin(std::move(due));
}

void RelayAgent::begin(DueDelivery due) {
    std::uint64_t id = due.delivery;
    Attempt& a = attempts_[id];
    a.due = std::move(due);
    a.open = a.due.recipients;

    auto facts = std::make_unique<TextFactsJob>(
        settings_.queue_dir, a.due.message,
        [this, id](store::Status status, store::queue::TextFacts text) {
            auto it = attempts_.find(id);
            if (it == attempts_.end()) return;  // ended while the read was out
            Attempt& a = it->second;
            if (status != store::Status::ok) {
                settle_open(a, apps::RelayOutcome::temporary, "4.3.0 cannot read the queue file");
                end_attempt(id);
                return;
            }
            a.text = text;
            try_next_address(a);
        });
    if (!worker_.submit(std::move(facts))) {
        settle_open(a, apps::RelayOutcome::temporary, "4.3.0 I/O queue full");
        end_attempt(id);
        return;
    }

    if (settings_.relayhost) {  // SPEC --relayhost: no MX lookup at all
        a.port = settings_.relayhost->port;
        if (settings_.relayhost->ip) a.addresses = {*settings_.relayhost->ip};
        else a.exchanges = {settings_.relayhost->host};
        if (a.exchanges.empty()) return;  // addresses known; wait for the text's facts
        a.exchange = 0;
        next_exchange(a);
        return;
    }
    if (auto literal = address_literal(a.due.domain)) {  // RFC 5321 §4.1.3
        a.addresses = {*literal};
        return;
    }
    if (a.due.domain.empty()) {
        settle_open(a, apps::RelayOutcome::permanent, "5.1.3 no domain in the recipient address");
        end_attempt(id);
        return;
    }
    a.resolving = true;
    a.asking = apps::dns::RecordType::mx;
    network_.resolve(id, a.due.domain, apps::dns::RecordType::mx);
}

void RelayAgent::on_resolved(std::uint64_t delivery, const apps::dns::Response& response) {
    auto it = attempts_.find(delivery);
    if (it == attempts_.end() || !it->second.resolving) return;
    Attempt& a = it->second;
    a.resolving = false;
    using apps::dns::Status;
    const std::string& domain = a.due.domain;

    if (a.asking == apps::dns::RecordType::mx) {
        switch (response.status) {
            case Status::ok:
                if (is_null_mx(response.mx)) {  // RFC 7505 §3.2: 556 5.1.10
                    settle_open(a, apps::RelayOutcome::permanent,
                                "5.1.10 " + domain + " does not accept mail (null MX)");
                    end_attempt(delivery);
                    return;
                }
                a.exchanges = exchanges_in_order(response.mx);
                break;
            case Status::no_records:
                a.exchanges = {domain};  // RFC 5321 §5.1: the implicit MX
                break;
            case Status::nxdomain:
                settle_open(a, apps::RelayOutcome::permanent,
                            "5.1.2 domain " + domain + " not found (MX lookup: NXDOMAIN)");
                end_attempt(delivery);
                return;
            default:
                settle_open(a, apps::RelayOutcome::temporary,
                            "4.4.3 MX lookup for " + domain + " failed: " + response.reason);
                end_attempt(delivery);
                return;
        }
        a.exchange = 0;
        next_exchange(a);
        return;
    }
    // An exchange's addresses (RFC 5321 §5.1: then try each in turn).
    if (response.status == Status::ok) {
        a.addresses = response.addresses;
        a.address = 0;
        try_next_address(a);
        return;
    }
    settle_open(a, apps::RelayOutcome::temporary,
                "4.4.3 cannot resolve " + a.exchanges[a.exchange] + ": " + response.reason);
    ++a.exchange;
    next_exchange(a);
}

void RelayAgent::next_exchange(Attempt& a) {
    if (a.exchange >= a.exchanges.size()) {
        end_attempt(a.due.delivery);  // every host tried: this attempt is over
        return;
    }
    const std::string& host = a.exchanges[a.exchange];
    a.addresses.clear();
    a.address = 0;
    if (auto ip = parse_ipv4(host)) {
        a.addresses = {*ip};
        try_next_address(a);
        return;
    }
    a.resolving = true;
    a.asking = apps::dns::RecordType::a;
    network_.resolve(a.due.delivery, host, apps::dns::RecordType::a);
}

void RelayAgent::try_next_address(Attempt& a) {
    if (!a.text || a.resolving || a.connected || stopping_) return;
    if (a.open.empty()) {
        end_attempt(a.due.delivery);
        return;
    }
    while (a.address < a.addresses.size()) {
        std::uint32_t ip = a.addresses[a.address++];
        apps::OutboundMessage message{a.due.sender, a.open, a.due.message, a.text->size,
                                      a.text->eight_bit};
        if (network_.connect(a.due.delivery, ip, a.port, std::move(message))) {
            a.connected = true;
            return;
        }
        settle_open(a, apps::RelayOutcome::temporary, "4.4.1 cannot open a connection to " +
                                                          format_ipv4(ip));
    }
    ++a.exchange;
    next_exchange(a);
}

void RelayAgent::on_session_end(std::uint64_t delivery, const std::string& peer,
                                const std::vector<apps::RecipientResult>& results) {
    auto it = attempts_.find(delivery);
    if (it == attempts_.end()) return;
    Attempt& a = it->second;
    a.connected = false;
    a.peer = peer;
    for (const apps::RecipientResult& r : results) {
        auto open = std::find(a.open.begin(), a.open.end(), r.address);
        if (open == a.open.end()) continue;
        a.results[r.address] = r;
        if (r.outcome == apps::RelayOutcome::temporary) continue;
        a.open.erase(open);
        if (r.outcome == apps::RelayOutcome::delivered) {
            log(peer, "delivered", "id=" + a.due.id + " rcpt=" + bracketed(r.address) + " reply=" + r.reply);
        } else {
            log(peer, "failed", "id=" + a.due.id + " rcpt=" + bracketed(r.address) + " reply=" + r.reply);
        }
    }
    if (a.open.empty() || stopping_) {
        end_attempt(delivery);
        return;
    }
    try_next_address(a);  // RFC 5321 §5.1: the next address, then the next MX
}

void RelayAgent::settle_open(Attempt& a, apps::RelayOutcome outcome, const std::string& reason) {
    for (const std::string& address : a.open) a.results[address] = {address, outcome, reason};
    if (outcome != apps::RelayOutcome::temporary) {
        for (const std::string& address : a.open)
            log(a.peer, "failed", "id=" + a.due.id + " rcpt=" + bracketed(address) + " reason=" + reason);
        a.open.clear();
    }
}

void RelayAgent::end_attempt(std::uint64_t delivery) {
    auto it = attempts_.find(delivery);
    if (it == attempts_.end()) return;
    Attempt a = std::move(it->second);
    attempts_.erase(it);
    std::vector<apps::RecipientResult> results;
    for (const std::string& address : a.due.recipients) {
        auto r = a.results.find(address);
        if (r == a.results.end()) {
            if (std::find(a.open.begin(), a.open.end(), address) == a.open.end()) continue;
            results.push_back({address, apps::RelayOutcome::temporary, "4.4.1 no host could be tried"});
        } else {
            results.push_back(r->second);
        }
    }
    bool count = !stopping_;
    for (const apps::RecipientResult& r : results) {
        if (r.outcome != apps::RelayOutcome::temporary) continue;
        log(a.peer, count ? "deferred" : "interrupted",
            "id=" + a.due.id + " rcpt=" + bracketed(r.address) + " attempt=" +
                std::to_string(a.due.attempt) + " reason=" + r.reply);
    }
    auto update = scheduler_.finish(delivery, results, std::time(nullptr), count);
    if (update) persist(*update);
}

// ---- the queue file after an attempt ---------------------------------------------------

void RelayAgent::persist(const QueueUpdate& update) {
    if (update.action == QueueUpdate::Action::finish) {
        finish_message(update.message);
        return;
    }
    std::string name = update.message.name;
    auto job = std::make_unique<RewriteQueueJob>(
        settings_.queue_dir, update.message, [this, name](store::Status status) {
            if (status != store::Status::ok)
                log("-", "queue-rewrite-failed", "file=" + name + " (the previous state stays)");
        });
    if (!worker_.submit(std::move(job)))
        log("-", "queue-rewrite-failed", "file=" + name + " (I/O queue full)");
}

void RelayAgent::finish_message(const QueuedMessage& m) {
    finishing_.insert(m.name);
    std::string name = m.name;
    auto remove = [this, name](const std::string& why) {
        auto job = std::make_unique<RemoveQueueJob>(settings_.queue_dir, name,
                                                    [this, name, why](store::Status status) {
                                                        if (status != store::Status::ok &&
                                                            status != store::Status::not_found)
                                                            log("-", "queue-remove-failed", "file=" + name);
                                                        removed(name, why);
                                                    });
        if (!worker_.submit(std::move(job))) removed(name, "I/O queue full; retried at the next scan");
    };
    if (!m.any_failed()) {
        remove("delivered");
        return;
    }
    std::string failed;
    for (const QueuedRecipient& r : m.recipients)
        if (r.state == RcptState::failed) failed += (failed.empty() ? "" : ",") + bracketed(r.address);
    std::string local_part;
    if (!local_sender(m.sender, local_part)) {
        // SPEC: a remote or null sender gets no bounce from us; say so.
        log("-", "dropped", "id=" + m.id + " from=" + bracketed(m.sender) + " rcpt=" + failed +
                                " reason=" + (m.sender.empty() ? "null sender" : "remote sender"));
        remove("dropped");
        return;
    }
    BounceJob::Settings bounce{settings_.hostname,
                               settings_.instance_tag + ".bounce." + std::to_string(++bounces_)};
    std::string id = m.id, sender = m.sender;
    auto job = std::make_unique<BounceJob>(
        store_, settings_.queue_dir, m, local_part, bounce,
        [this, remove, name, id, sender, failed](store::Status status) {
            if (status == store::Status::ok) {
                log("-", "bounced", "id=" + id + " to=" + bracketed(sender) + " rcpt=" + failed);
                remove("bounced");
            } else if (status == store::Status::not_found) {
                log("-", "dropped", "id=" + id + " from=" + bracketed(sender) + " rcpt=" + failed +
                                        " reason=sender has no mailbox here");
                remove("dropped");
            } else {
                log("-", "bounce-failed", "id=" + id + " to=" + bracketed(sender) +
                                              " (retried at the next queue scan)");
                removed(name, "bounce failed");
            }
        });
    if (!worker_.submit(std::move(job))) removed(name, "I/O queue full; retried at the next scan");
}

void RelayAgent::removed(const std::string& name, const std::string&) {
    scheduler_.forget(name);
    finishing_.erase(name);
}

bool RelayAgent::local_sender(const std::string& sender, std::string& local_part) const {
    if (sender.empty()) return false;
    std::size_t at = sender.rfind('@');
    if (at == std::string::npos) {  // bare "postmaster" (RFC 5321 §4.5.1)
        local_part = sender;
        return true;
    }
    std::string domain = lower(sender.substr(at + 1));
    if (std::find(settings_.local_domains.begin(), settings_.local_domains.end(), domain) ==
        settings_.local_domains.end())
        return false;
    local_part = sender.substr(0, at);
    if (local_part.size() >= 2 && local_part.front() == '"' && local_part.back() == '"')
        local_part = local_part.substr(1, local_part.size() - 2);
    return !local_part.empty();
}

}  // namespace bm
