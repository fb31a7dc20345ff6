// The relay client's disk work, as jobs for the I/O worker (never on the
// polling thread; SPEC "Storage"): scan the queue, read a message's text,
// rewrite its per-recipient state, finish it (final state + bounce in one
// commit round), remove it. Each job's callback runs on the polling thread
// in complete(), after the batch is durable.
#pragma once

#include <ctime>
#include <functional>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "apps/relay/scheduler.hpp"
#include "store/io_worker.hpp"
#include "store/mail_store.hpp"
#include "store/queue.hpp"
#include "store/queue_text.hpp"

namespace bm {

// Conversions between the queue file and the scheduler's envelope.
QueuedMessage envelope_of(const store::queue::Entry& entry);
void apply_state(const QueuedMessage& message, store::queue::Entry& entry);

// Lists the queue dir and reads the header of every file not in `known`.
// First run: temporary files older than `stale_before` are crash leftovers
// (never renamed into place) and are removed.
class ScanQueueJob final : public store::Job {
public:
    using Done = std::function<void(std::vector<QueuedMessage> found)>;
    ScanQueueJob(std::string queue_dir, std::set<std::string> known, std::time_t stale_before,
                 Done done);
    void execute(store::CommitGroup& group) override;
    void complete() override { done_(std::move(found_)); }

private:
    std::string queue_dir_;
    std::set<std::string> known_;
    std::time_t stale_before_;
    Done done_;
    std::vector<QueuedMessage> found_;
};

// The size of one queued message's text and whether it has 8-bit octets
// (RFC 1870 SIZE and RFC 6152 BODY= go in MAIL FROM, before the text):
// read through once in pieces, never held.
class TextFactsJob final : public store::Job {
public:
    using Done = std::function<void(store::Status status, store::queue::TextFacts facts)>;
    TextFactsJob(std::string queue_dir, std::string name, Done done);
    void execute(store::CommitGroup& group) override;
    void complete() override { done_(status_, facts_); }

private:
    std::string queue_dir_, name_;
    Done done_;
    store::Status status_ = store::Status::temp_failure;
    store::queue::TextFacts facts_;
};

// Rewrites a queue file atomically with the scheduler's state of it.
class RewriteQueueJob final : public store::Job {
public:
    using Done = std::function<void(store::Status status)>;
    RewriteQueueJob(std::string queue_dir, QueuedMessage message, Done done);
    void execute(store::CommitGroup& group) override;
    void complete() override { done_(status_); }

private:
    std::string queue_dir_;
    QueuedMessage message_;
    Done done_;
    store::Status status_ = store::Status::temp_failure;
};

// A notice to the sender about `message`, with its new state recorded in
// the same commit round: the bounce of a finished message (its failed
// recipients) or, with Settings::delayed, the delay warning (its pending
// recipients; RFC 3464 Action: delayed). `sender_local_part` names the
// sender's mailbox; empty: the sender is remote and the notice is queued
// for it. not_found: no such mailbox (nothing written).
class BounceJob final : public store::Job {
public:
    struct Settings {
        std::string hostname;
        std::string unique;  // for the bounce's Message-ID and boundary
        bool delayed = false;        // a delay warning, not a bounce
        std::time_t retry_until = 0; // delay warning: when it will bounce
    };
    using Done = std::function<void(store::Status status)>;
    BounceJob(store::MailStore& store, std::string queue_dir, QueuedMessage message,
              std::string sender_local_part, Settings settings, Done done);
    void execute(store::CommitGroup& group) override;
    void complete() override;

private:
    store::MailStore& store_;
    std::string queue_dir_;
    QueuedMessage message_;
    std::string local_part_;
    Settings settings_;
    Done done_;
    // Each turns ok only when its step succeeded: a job that throws midway
    // must not read as a bounce delivered (the queue file would be removed).
    store::Status lookup_ = store::Status::temp_failure;
    store::Status rewrite_ = store::Status::temp_failure;
    store::Status delivery_ = store::Status::temp_failure;
};

// Removes a finished queue file durably.
class RemoveQueueJob final : public store::Job {
public:
    using Done = std::function<void(store::Status status)>;
    RemoveQueueJob(std::string queue_dir, std::string name, Done done);
    void execute(store::CommitGroup&) override;
    void complete() override { done_(status_); }

private:
    std::string queue_dir_, name_;
    Done done_;
    store::Status status_ = store::Status::temp_failure;
};

}  // namespace bm
