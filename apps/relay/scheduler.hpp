// The relay client's schedule (pure: time is a parameter, no I/O).
//
// It holds the envelope of every queued message (never the content) and
// answers: which (message, recipient domain) deliveries are due now, when
// the next one is, and — once a delivery ended — what the queue file must
// become. SPEC "Relay client": every recipient domain of a message is its
// own delivery with its own attempt count and retry time, so one slow or
// dead MX delays nobody else. Retries: --retry-delay before the 2nd
// attempt, doubling after each failure up to --max-retry-delay; the
// still-pending recipients of a domain fail for good after --max-attempts
// attempts or once the message is --max-queue-lifetime old, whichever
// comes first (RFC 5321 §4.5.4.1 leaves the give-up time to the operator;
// Postfix: maximal_queue_lifetime, maximal_backoff_time). The last retry
// is never set past the lifetime, so a dead destination bounces at the
// lifetime, not up to one retry delay after it. Once the message is
// --delay-warning old, the first deferral asks for one warning to the
// sender (RFC 3464 Action: delayed; Postfix: delay_warning_time).
//
// A message on hold (baremail-queue hold) keeps its state but is never
// due until released; flush makes every idle, not held delivery due now.
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
    bool held = false;    // never attempted until released
    bool warned = false;  // the delay warning went out

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
    // Send the delay warning for the recipients still pending (message.warned
    // is already set: the warning and the mark go to disk together).
    bool warn = false;
};

class RelayScheduler {
public:
    struct Settings {
        std::int64_t retry_delay = 300;  // seconds before the 2nd attempt
        std::uint32_t max_attempts = 5;
        std::int64_t max_retry_delay = 4000;          // the doubling stops here
        std::int64_t max_lifetime = 5 * 24 * 3600;    // then pending recipients fail
        std::int64_t delay_warning = 4 * 3600;        // 0: never warn
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

    // The queue file name of a message known by its file name or queue id.
    std::optional<std::string> find(const std::string& name_or_id) const;
    const QueuedMessage* message(const std::string& name) const;
    // Puts a message on hold: nothing of it starts again until release()
    // (a delivery in flight ends normally). The new state to persist, or
    // nothing if the message is unknown.
    std::optional<QueueUpdate> hold(const std::string& name);
    // The delay warning could not be written: the next deferral tries again.
    void warning_failed(const std::string& name);
    // Ends the hold: its deliveries are due at their retry times again.
    std::optional<QueueUpdate> release(const std::string& name);
    // Makes every idle delivery of `name` (of all messages if empty) that
    // is not on hold due at `now`. Returns how many were made due.
    std::size_t flush(const std::string& name, std::int64_t now);

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
    bool expired(const QueuedMessage& m, std::int64_t now) const;
    std::int64_t retry_time(const QueuedMessage& m, std::uint32_t failures, std::int64_t now) const;
    bool warning_due(const QueuedMessage& m, std::int64_t now) const;
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
