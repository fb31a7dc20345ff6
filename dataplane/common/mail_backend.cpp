#include "dataplane/common/mail_backend.hpp"

#include <cstdlib>
#include <stdexcept>
#include <string>
#include <type_traits>

namespace bm {
namespace {

apps::Outcome outcome(store::Status status) {
    switch (status) {
    case store::Status::ok: return apps::Outcome::ok;
    case store::Status::not_found: return apps::Outcome::not_found;
    case store::Status::auth_failed: return apps::Outcome::auth_failed;
    case store::Status::in_use: return apps::Outcome::in_use;
    case store::Status::temp_failure: return apps::Outcome::temp_failure;
    case store::Status::no_space: return apps::Outcome::no_space;
    case store::Status::permanent_failure: return apps::Outcome::permanent_failure;
    }
    return apps::Outcome::temp_failure;
}

store::Delivery to_delivery(apps::Deliver& request) {
    store::Delivery d;
    d.id = std::move(request.queue_id);
    d.sender = std::move(request.envelope.sender);
    for (apps::Recipient& r : request.envelope.recipients) {
        if (r.mailbox.empty()) d.remote_recipients.push_back(std::move(r.address));
        else d.local_users.push_back(std::move(r.mailbox));
    }
    d.message = std::move(request.message);
    d.head = std::move(request.head);
    d.spool = request.spool;
    return d;
}

// The spool a request leaves for the store to drop if it is refused (the
// ring full): a refused Deliver never uses its spool up, and a DropSpool
// must still happen. A refused SpoolChunk names its spool in the reply, so
// the session drops it.
std::uint64_t spool_to_release(const apps::StoreRequest& request) {
    if (const auto* deliver = std::get_if<apps::Deliver>(&request)) return deliver->spool;
    if (const auto* drop = std::get_if<apps::DropSpool>(&request)) return drop->spool;
    return 0;
}

// A reply that fails the request without touching anything.
apps::StoreReply failure_reply(const apps::StoreRequest& request, apps::Outcome why,
                               const char* reason = "I/O queue full") {
    return std::visit(
        [why, reason](const auto& r) -> apps::StoreReply {
            using T = std::decay_t<decltype(r)>;
            if constexpr (std::is_same_v<T, apps::LookupUser>) return apps::UserFound{why, {}};
            else if constexpr (std::is_same_v<T, apps::Deliver>) return apps::Delivered{why, reason};
            else if constexpr (std::is_same_v<T, apps::OpenMaildrop>) return apps::MaildropOpened{why, 0, {}};
            else if constexpr (std::is_same_v<T, apps::ReadMessage>) return apps::MessageText{why, {}};
            else if constexpr (std::is_same_v<T, apps::SpoolChunk>) return apps::Spooled{why, r.spool};
            else if constexpr (std::is_same_v<T, apps::DropSpool>) return apps::SpoolDropped{};
            else if constexpr (std::is_same_v<T, apps::ReadQueued>) return apps::QueuedText{why, {}, false};
            else return apps::MaildropClosed{why};
        },
        request);
}

// The request kind's name, as BAREMAIL_TEST_ONLY_THROW_IN names it.
const char* kind_name(const apps::StoreRequest& request) {
    return std::visit(
        [](const auto& r) -> const char* {
            using T = std::decay_t<decltype(r)>;
            if constexpr (std::is_same_v<T, apps::Deliver>) return "deliver";
            else if constexpr (std::is_same_v<T, apps::OpenMaildrop>) return "open-maildrop";
            else if constexpr (std::is_same_v<T, apps::ReadMessage>) return "read-message";
            else return "";
        },
        request);
}

// Test only: BAREMAIL_TEST_ONLY_THROW_IN=<kind>[,<kind>...] makes every job
// of those kinds throw once its work is done (before the group commit),
// and <kind>:before (e.g. deliver:before) before it starts, so the store
// has not taken the message's spool yet; the e2e tests check a throwing
// job answers with a failure and leaves nothing held. Read once; unset,
// it costs nothing.
const std::string& test_only_throw_kinds() {
    static const std::string kinds = [] {
        const char* v = std::getenv("BAREMAIL_TEST_ONLY_THROW_IN");
        return v ? "," + std::string(v) + "," : std::string();
    }();
    return kinds;
}

void test_only_throw_if_asked(const apps::StoreRequest& request, const char* moment = "") {
    const std::string& kinds = test_only_throw_kinds();
    if (kinds.empty()) return;
    std::string kind = kind_name(request);
    if (kind.empty()) return;
    kind += moment;
    if (kinds.find("," + kind + ",") != std::string::npos)
        throw std::runtime_error("test-only throw in a " + kind + " job (BAREMAIL_TEST_ONLY_THROW_IN)");
}

}  // namespace

// One request's trip through the I/O worker. Its reply starts as a
// temporary failure and turns into anything else only when the request
// ran to its end: a job that throws, or never sets a reply, cannot answer
// 250 for a message that was not stored.
class RequestJob final : public store::Job {
public:
    RequestJob(MailBackend& backend, std::uint64_t token, apps::StoreRequest request,
               bool credentials_checked = false)
        : backend_(backend), token_(token), request_(std::move(request)),
          reply_(failure_reply(request_, apps::Outcome::temp_failure, "I/O job failed")),
          credentials_checked_(credentials_checked) {}

    void execute(store::CommitGroup& group) override {
        test_only_throw_if_asked(request_, ":before");
        std::visit([&](auto& r) { run(r, group); }, request_);
        test_only_throw_if_asked(request_);
    }

    void failed() override {
        // A maildrop opened before the throw would stay locked: no client has it.
        auto* opened = std::get_if<apps::MaildropOpened>(&reply_);
        if (opened && opened->outcome == apps::Outcome::ok && store())
            store()->close_maildrop(opened->maildrop, {}, false);
        // A spool the delivery had not taken yet would hold its share of
        // --max-spool until the next start (dropping a taken one is a no-op).
        auto* deliver = std::get_if<apps::Deliver>(&request_);
        if (deliver && deliver->spool != 0 && store()) store()->drop_spool(deliver->spool);
        reply_ = failure_reply(request_, apps::Outcome::temp_failure, "I/O job failed");
        delivery_status_ = store::Status::temp_failure;
        queued_remote_ = false;
    }

    void complete() override {
        if (auto* delivered = std::get_if<apps::Delivered>(&reply_)) {
            delivered->outcome = outcome(delivery_status_);  // final only after the group commit
            if (queued_remote_ && delivered->outcome == apps::Outcome::ok && backend_.on_queued_)
                backend_.on_queued_();
        }
        backend_.deliver_reply(token_, std::move(reply_));
    }

private:
    store::MailStore* store() { return backend_.store_; }

    void run(apps::LookupUser& r, store::CommitGroup&) {
        if (!store()) {  // --sink: every local recipient exists, like smtp-sink
            reply_ = apps::UserFound{apps::Outcome::ok, r.local_part};
            return;
        }
        apps::UserFound found{apps::Outcome::not_found, {}};
        if (auto user = store()->find_user(r.local_part)) found = {apps::Outcome::ok, *user};
        reply_ = std::move(found);
    }

    void run(apps::Deliver& r, store::CommitGroup& group) {
        reply_ = apps::Delivered{apps::Outcome::temp_failure, {}};  // outcome set in complete()
        if (!store()) {  // --sink: accepted and discarded, like smtp-sink
            delivery_status_ = store::Status::ok;
            return;
        }
        store::Delivery delivery = to_delivery(r);
        queued_remote_ = !delivery.remote_recipients.empty();
        store()->deliver(delivery, group, &delivery_status_);
    }

    void run(apps::SpoolChunk& r, store::CommitGroup&) {
        apps::Spooled spooled{apps::Outcome::ok, r.spool};
        if (store()) {
            spooled.outcome = outcome(store()->spool_append(spooled.spool, r.bytes));
        } else if (spooled.spool == 0) {
            spooled.spool = 1;  // --sink: nothing kept, any id will do
        }
        std::string().swap(r.bytes);  // freed here, not when the reply has travelled back
        reply_ = spooled;
    }

    void run(apps::DropSpool& r, store::CommitGroup&) {
        if (store()) store()->drop_spool(r.spool);
        reply_ = apps::SpoolDropped{};
    }

    void run(apps::OpenMaildrop& r, store::CommitGroup&) {
        apps::MaildropOpened opened{apps::Outcome::auth_failed, 0, {}};
        if (store()) {
            std::vector<store::MaildropEntry> entries;
            store::Status s = credentials_checked_
                                  ? store()->open_checked_maildrop(r.user, opened.maildrop, entries)
                                  : store()->open_maildrop(r.user, r.password, r.apop_digest,
                                                           r.apop_timestamp, opened.maildrop, entries);
            opened.outcome = outcome(s);
            for (auto& e : entries) opened.messages.push_back({e.size, std::move(e.uid)});
        }
        reply_ = std::move(opened);
    }

    void run(apps::ReadMessage& r, store::CommitGroup&) {
        apps::MessageText text{apps::Outcome::not_found, {}, false};
        if (store())
            text.outcome = outcome(store()->read_message(r.maildrop, r.index, r.top_lines, r.offset,
                                                         r.max_bytes, text.text, text.end));
        reply_ = std::move(text);
    }

    void run(apps::ReadQueued& r, store::CommitGroup&) {
        apps::QueuedText text{apps::Outcome::not_found, {}, false};
        if (store())
            text.outcome = outcome(store()->read_queued(r.queue_name, r.offset, r.max_bytes,
                                                        text.text, text.end));
        reply_ = std::move(text);
    }

    void run(apps::CloseMaildrop& r, store::CommitGroup&) {
        apps::MaildropClosed closed{apps::Outcome::ok};
        if (store()) closed.outcome = outcome(store()->close_maildrop(r.maildrop, r.deleted, r.commit));
        reply_ = closed;
    }

    MailBackend& backend_;
    std::uint64_t token_;
    apps::StoreRequest request_;
    apps::StoreReply reply_;
    store::Status delivery_status_ = store::Status::temp_failure;  // ok only once stored
    bool queued_remote_ = false;
    bool credentials_checked_ = false;  // by the AuthWorker: OpenMaildrop only locks
};

MailBackend::MailBackend(store::MailStore* store, store::IoWorker& worker, ReplyHandler on_reply)
    : store_(store), worker_(worker), on_reply_(std::move(on_reply)) {
    if (store_ && !store_->config().users_file.empty())
        auth_ = std::make_unique<store::AuthWorker>(store_->config().users_file);
    if (auth_)
        users_reload_ = reload_hooks().add("users", [this] {
            store_->reload_users();  // reads it now: an unreadable file is reported (and the old users kept)
            auth_->reload_users();   // the password checks' copy, on their own thread
        });
}

void MailBackend::submit(std::uint64_t token, apps::StoreRequest request) {
    if (!store_) {
        // --sink: nothing to read or write, so no trip through the worker;
        // the job runs here and answers on the next poll (never inside
        // submit). A sink then costs the protocol and the stack only, and
        // a replayed workload (harness/replay) meets each reply at a fixed
        // point of its input.
        auto job = std::make_unique<RequestJob>(*this, token, std::move(request));
        store::CommitGroup nothing_to_commit;
        job->execute(nothing_to_commit);
        sink_answers_.push_back(std::move(job));
        return;
    }
    if (auto* open = std::get_if<apps::OpenMaildrop>(&request); open && auth_)
        return check_then_open(token, std::move(*open));
    submit_to_worker(token, std::move(request), false);
}

void MailBackend::submit_to_worker(std::uint64_t token, apps::StoreRequest request, bool credentials_checked) {
    apps::StoreReply refusal = failure_reply(request, apps::Outcome::temp_failure);
    std::uint64_t spool = spool_to_release(request);
    if (worker_.submit(std::make_unique<RequestJob>(*this, token, std::move(request), credentials_checked)))
        return;
    refused_.emplace_back(token, std::move(refusal));
    if (spool != 0) spools_to_drop_.push_back(spool);
}

// A login: the password on the AuthWorker's thread, then (if it passed)
// the lock and snapshot on the I/O worker. A full check queue answers as a
// full ring does: a temporary failure.
void MailBackend::check_then_open(std::uint64_t token, apps::OpenMaildrop request) {
    store::Credentials credentials{request.user, request.password, request.apop_digest, request.apop_timestamp};
    auto then_open = [this, token, request = std::move(request)](bool accepted) mutable {
        if (!accepted) return deliver_reply(token, apps::MaildropOpened{apps::Outcome::auth_failed, 0, {}});
        submit_to_worker(token, std::move(request), true);
    };
    if (!auth_->submit(std::move(credentials), std::move(then_open)))
        refused_.emplace_back(token, apps::MaildropOpened{apps::Outcome::temp_failure, 0, {}});
}

// A maildrop opened, or a spool made, for a client that has gone would
// stay locked, or on disk, until the next start.
void MailBackend::deliver_reply(std::uint64_t token, apps::StoreReply reply) {
    if (on_reply_(token, reply)) return;
    auto* opened = std::get_if<apps::MaildropOpened>(&reply);
    if (opened && opened->outcome == apps::Outcome::ok)
        submit(orphan_token, apps::CloseMaildrop{opened->maildrop, {}, false});
    auto* spooled = std::get_if<apps::Spooled>(&reply);
    if (spooled && spooled->spool != 0) submit(orphan_token, apps::DropSpool{spooled->spool});
}

// Drops that found the ring full are tried again until it takes them.
void MailBackend::retry_spool_drops() {
    while (!spools_to_drop_.empty()) {
        auto job = std::make_unique<RequestJob>(*this, orphan_token,
                                                apps::DropSpool{spools_to_drop_.front()});
        if (!worker_.submit(std::move(job))) return;
        spools_to_drop_.pop_front();
    }
}

std::size_t MailBackend::poll() {
    retry_spool_drops();
    std::size_t n = auth_ ? auth_->poll() : 0;
    n += worker_.poll_completions();
    while (!sink_answers_.empty()) {  // answers may submit again: those run here too
        std::unique_ptr<store::Job> job = std::move(sink_answers_.front());
        sink_answers_.pop_front();
        job->complete();
        ++n;
    }
    while (!refused_.empty()) {
        auto [token, reply] = std::move(refused_.front());
        refused_.pop_front();
        deliver_reply(token, std::move(reply));
        ++n;
    }
    return n;
}

}  // namespace bm
