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
      scheduler_(RelayScheduler::Settings{settings_.retry_delay, settings_.max_attempts,
                                          settings_.max_retry_delay, settings_.max_lifetime,
                                          settings_.delay_warning}) {}

void RelayAgent::log(const std::string& peer, const std::string& event, const std::string& detail) {
    log_.event("relay", peer, event, detail);
}

// ---- the loop's hooks ------------------------------------------------------------

void RelayAgent::start(std::time_t now) {
    started_ = now;
    if (settings_.control_socket) open_control();
    scan(now);
}

void RelayAgent::tick(std::time_t now) {
    scanned_ = false;
    if (stopping_) return;
    if (control_) control_->poll(now);  // before start_due: a flush starts in this tick
    if (!scan_in_flight_ && (scan_wanted_ || now >= next_scan_)) scan(now);
    start_due(now);
}

void RelayAgent::stop() {
    if (stopping_) return;
    stopping_ = true;
    control_.reset();  // the tool now says the server is not running
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
    if (update.warn) {
        send_delay_warning(update.message);
        return;
    }
    rewrite(update.message, nullptr);
}

void RelayAgent::rewrite(const QueuedMessage& message, std::function<void(store::Status)> done) {
    std::string name = message.name;
    auto job = std::make_unique<RewriteQueueJob>(
        settings_.queue_dir, message, [this, name, done](store::Status status) {
            if (status != store::Status::ok)
                log("-", "queue-rewrite-failed", "file=" + name + " (the previous state stays)");
            if (done) done(status);
            written(name);
        });
    if (!worker_.submit(std::move(job))) {
        log("-", "queue-rewrite-failed", "file=" + name + " (I/O queue full)");
        if (done) done(store::Status::temp_failure);
        return;
    }
    ++writes_[name].out;
}

void RelayAgent::written(const std::string& name) {
    auto it = writes_.find(name);
    if (it == writes_.end() || --it->second.out > 0) return;
    auto then = std::move(it->second.then);
    writes_.erase(it);
    for (auto& f : then) f();
}

void RelayAgent::when_written(const std::string& name, std::function<void()> then) {
    auto it = writes_.find(name);
    if (it == writes_.end()) then();
    else it->second.then.push_back(std::move(then));
}

// Postfix's delay warning: once per message, to the sender, saying which
// recipients are still being retried and until when. The warned mark is
// written in the same commit round as the notice. A local sender gets it
// in its mailbox, a remote one through the queue; a null sender none.
void RelayAgent::send_delay_warning(const QueuedMessage& m) {
    std::string local_part;
    bool local = local_sender(m.sender, local_part);
    if (m.sender.empty()) {
        rewrite(m, nullptr);
        return;
    }
    BounceJob::Settings notice{settings_.hostname,
                               settings_.instance_tag + ".delay." + std::to_string(++bounces_), true,
                               static_cast<std::time_t>(m.created + settings_.max_lifetime)};
    std::string pending;
    for (const QueuedRecipient& r : m.recipients)
        if (r.state == RcptState::pending) pending += (pending.empty() ? "" : ",") + bracketed(r.address);
    std::string name = m.name;
    auto job = std::make_unique<BounceJob>(
        store_, settings_.queue_dir, m, local ? local_part : std::string(), notice,
        [this, m, pending, local](store::Status status) {
            if (status == store::Status::ok) {
                log("-", "delay-warning", "id=" + m.id + " to=" + bracketed(m.sender) + " rcpt=" + pending);
                if (!local) scan_wanted_ = true;  // the warning itself is queued
            } else {
                log("-", "delay-warning-failed", "id=" + m.id + " to=" + bracketed(m.sender) +
                                                     (status == store::Status::not_found ? " (no such mailbox)" : ""));
            }
            if (status != store::Status::ok) {
                // The state still goes to disk; a warning that could not be
                // written is tried again at the next deferral (no mailbox: never).
                QueuedMessage unwarned = m;
                unwarned.warned = status == store::Status::not_found;
                if (!unwarned.warned) scheduler_.warning_failed(m.name);
                rewrite(unwarned, nullptr);
            }
            written(m.name);
        });
    if (!worker_.submit(std::move(job))) {
        rewrite(m, nullptr);
        return;
    }
    ++writes_[name].out;
}

void RelayAgent::finish_message(const QueuedMessage& m) {
    finishing_.insert(m.name);
    std::string name = m.name;
    auto remove = [this, name](const std::string& why) {
        when_written(name, [this, name, why] {
            auto job = std::make_unique<RemoveQueueJob>(settings_.queue_dir, name,
                                                        [this, name, why](store::Status status) {
                                                            if (status != store::Status::ok &&
                                                                status != store::Status::not_found)
                                                                log("-", "queue-remove-failed", "file=" + name);
                                                            removed(name, why);
                                                        });
            if (!worker_.submit(std::move(job))) removed(name, "I/O queue full; retried at the next scan");
        });
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

namespace bm {

// ---- the queue tool's requests (relay/control) -----------------------------------------

void RelayAgent::open_control() {
    std::string error;
    control_ = control::ControlServer::open(settings_.queue_dir, *this, error);
    if (!control_) log("-", "control-socket-failed", error + " (baremail-queue can only list and show)");
}

void RelayAgent::on_control(std::uint64_t client, const control::Request& request) {
    switch (request.command) {
        case control::Command::flush: return control_flush(client, request.id);
        case control::Command::remove: return control_delete(client, request.id);
        case control::Command::hold: return control_hold(client, request.id, true);
        case control::Command::release: return control_hold(client, request.id, false);
    }
}

namespace {

control::Reply not_queued(const std::string& id) {
    return {control::Outcome::not_found, "no message " + id + " in the queue"};
}

control::Reply finishing(const std::string& id) {
    return {control::Outcome::error, id + " is being finished (delivered, bounced or deleted)"};
}

}  // namespace

// Postfix postqueue -f / -i: every idle delivery (or those of one message)
// is due now; the next tick starts them (this one, when called from it).
void RelayAgent::control_flush(std::uint64_t client, const std::string& id) {
    std::string name;
    if (!id.empty()) {
        auto found = scheduler_.find(id);
        if (!found) return control_->reply(client, not_queued(id));
        name = *found;
    }
    std::size_t due = scheduler_.flush(name, std::time(nullptr));
    scan_wanted_ = true;  // and anything queued that the agent has not read yet
    log("-", "flush", (id.empty() ? std::string("all") : "id=" + id) + " due=" + std::to_string(due));
    control_->reply(client, {control::Outcome::ok, std::to_string(due) + " deliveries due now"});
}

// Postfix postsuper -d: forgotten by the schedule at once (an attempt in
// flight finishes but changes nothing), removed from disk once no rewrite
// of it is out; the reply waits for the removal.
void RelayAgent::control_delete(std::uint64_t client, const std::string& id) {
    auto found = scheduler_.find(id);
    if (!found) return control_->reply(client, not_queued(id));
    if (finishing_.count(*found)) return control_->reply(client, finishing(id));
    std::string name = *found;
    const QueuedMessage* m = scheduler_.message(name);
    std::string queue_id = m ? m->id : id;
    scheduler_.forget(name);
    finishing_.insert(name);  // no scan brings it back while the removal is out
    when_written(name, [this, client, name, queue_id] {
        auto job = std::make_unique<RemoveQueueJob>(
            settings_.queue_dir, name, [this, client, name, queue_id](store::Status status) {
                finishing_.erase(name);
                bool gone = status == store::Status::ok || status == store::Status::not_found;
                if (gone) log("-", "deleted", "id=" + queue_id + " by=baremail-queue");
                else log("-", "queue-remove-failed", "file=" + name);
                if (control_)
                    control_->reply(client, gone ? control::Reply{control::Outcome::ok, "deleted " + queue_id}
                                                 : control::Reply{control::Outcome::error,
                                                                  "cannot remove " + name + " (see the log)"});
            });
        if (!worker_.submit(std::move(job))) {
            finishing_.erase(name);
            if (control_) control_->reply(client, {control::Outcome::error, "I/O queue full, try again"});
        }
    });
}

// Postfix postsuper -h / -H: the mark is in the queue file (it survives a
// restart) before the reply says so.
void RelayAgent::control_hold(std::uint64_t client, const std::string& id, bool hold) {
    auto found = scheduler_.find(id);
    if (!found) return control_->reply(client, not_queued(id));
    if (finishing_.count(*found)) return control_->reply(client, finishing(id));
    auto update = hold ? scheduler_.hold(*found) : scheduler_.release(*found);
    if (!update) return control_->reply(client, not_queued(id));
    std::string queue_id = update->message.id;
    const char* what = hold ? "held" : "released";
    rewrite(update->message, [this, client, queue_id, what](store::Status status) {
        if (status == store::Status::ok) log("-", what, "id=" + queue_id + " by=baremail-queue");
        if (!control_) return;
        control_->reply(client, status == store::Status::ok
                                    ? control::Reply{control::Outcome::ok, std::string(what) + " " + queue_id}
                                    : control::Reply{control::Outcome::error,
                                                     "cannot rewrite the queue file of " + queue_id});
    });
}

}  // namespace bm
