// The relay client's schedule (pure: time is a parameter, no I/O).
//
// It holds the envelope of every queued message (never the content) and
// answers: which (message, recipient domain) deliveries are due now, when
// the next one is, and — once a delivery ended — what the queue file must
// become. SPEC "Relay client": every recipient domain of a message is its
// own delivery with its own attempt count and retry time, so one slow or
// dead MX delays nobody else. Retries: --retry-delay before the 2nd
// attempt, doubling after each failure; after --max-attempts attempts the
// still-pending recipients of that domain fail for good (RFC 5321 §4.5.4.1
// leaves the give-up time to the operator).
//
// The queue file has one attempts/next-try pair per message; it records
// the smallest attempt count and the earliest retry time of the domains
// still pending, so a restart never gives up earlier than it should.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "apps/smtp_client.hpp"

namespace bm {

enum class RcptState { pending, sent, failed };

struct QueuedRecipient {
    std::string address;
    RcptState state = RcptState::pending;
    std::string diagnostic;  // the last reply for it
};

// A queued message's envelope, as the queue file holds it.
struct QueuedMessage {
    std::string name;  // queue file name: the key
    std::string id;
    std::string sender;
    std::int64_t created = 0;
    std::uint32_t attempts = 0;
    std::int64_t next_try = 0;
    std::vector<QueuedRecipient> recipients;

    bool finished() const;   // no recipient pending
    bool any_failed() const;
};

// One delivery to start: some recipients of one message, one domain.
struct DueDelivery {
    std::uint64_t delivery = 0;  // handle for finish/abandon
    std::string message;         // queue file name
    std::string id;
    std::string domain;
    std::string sender;
    std::vector<std::string> recipients;
    std::uint32_t attempt = 0;   // 1 for the first
};

// What the driver must do with the queue file after a delivery.
struct QueueUpdate {
    enum class Action {
        rewrite,  // recipients still pending: write the new state
        finish,   // all final: bounce if any failed, then remove the file
    };
    Action action = Action::rewrite;
    QueuedMessage message;  // the new state
};

class RelayScheduler {
public:
    struct Settings {
        std::int64_t retry_delay = 300;  // seconds before the 2nd attempt
        std::uint32_t max_attempts = 5;
    };
    explicit RelayScheduler(Settings settings) : settings_(settings) {}

    // A message read from the queue. False if it is already known. A
    // message with nothing pending is returned by take_finished().
    bool add(QueuedMessage message);
    bool contains(const std::string& name) const { return messages_.count(name) != 0; }
    std::size_t size() const { return messages_.size(); }
    std::set<std::string> names() const;

    // Messages added with no recipient pending (e.g. after a crash between
    // the last rewrite and the removal): finish them now.
    std::vector<QueueUpdate> take_finished();

    // Deliveries due at `now` (at most `limit`), earliest first; each is
    // in flight until finish() or abandon().
    std::vector<DueDelivery> take_due(std::int64_t now, std::size_t limit);
    // When the earliest idle delivery is due; nothing if none waits.
    std::optional<std::int64_t> next_due() const;
    std::size_t in_flight() const { return in_flight_.size(); }

    // A delivery ended with one result per recipient (missing ones count
    // as temporary). Returns what to persist. count_attempt = false (the
    // delivery was cut by shutdown): temporary recipients are retried as
    // if this attempt never happened.
    std::optional<QueueUpdate> finish(std::uint64_t delivery,
                                      const std::vector<apps::RecipientResult>& results,
                                      std::int64_t now, bool count_attempt = true);
    // The delivery was cut (shutdown): nothing changes, no attempt counted.
    void abandon(std::uint64_t delivery);
    // The message is gone from the queue (removed, or unreadable).
    void forget(const std::string& name);

    // The retry delay after `failures` failed attempts (>= 1).
    std::int64_t retry_delay_after(std::uint32_t failures) const;

private:
    struct Domain {
        std::uint32_t attempts = 0;
        std::int64_t next_try = 0;
        std::uint64_t in_flight = 0;  // delivery handle, 0 = idle
    };
    struct Record {
        QueuedMessage message;
        std::map<std::string, Domain> domains;  // only domains with pending recipients
    };
    using DueKey = std::tuple<std::int64_t, std::string, std::string>;  // time, name, domain

    void schedule(const std::string& name, const std::string& domain, const Domain& d);
    void unschedule(const std::string& name, const std::string& domain, const Domain& d);
    QueueUpdate update_for(Record& record);

    Settings settings_;
    std::map<std::string, Record> messages_;
    std::set<DueKey> due_;  // idle (message, domain) pairs by retry time
    std::map<std::uint64_t, std::pair<std::string, std::string>> in_flight_;
    std::vector<std::string> finished_on_add_;
    std::uint64_t next_delivery_ = 1;
};

// The domain part of an address, lower-cased ("" when there is none).
std::string domain_of(const std::string& address);

}  // namespace bm
