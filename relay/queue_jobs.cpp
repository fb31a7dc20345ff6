#include "relay/queue_jobs.hpp"

#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include "apps/relay/dsn.hpp"

namespace bm {

namespace q = store::queue;

namespace {

RcptState to_state(q::RecipientState s) {
    switch (s) {
        case q::RecipientState::pending: return RcptState::pending;
        case q::RecipientState::sent: return RcptState::sent;
        case q::RecipientState::failed: return RcptState::failed;
    }
    return RcptState::pending;
}

q::RecipientState to_queue_state(RcptState s) {
    switch (s) {
        case RcptState::pending: return q::RecipientState::pending;
        case RcptState::sent: return q::RecipientState::sent;
        case RcptState::failed: return q::RecipientState::failed;
    }
    return q::RecipientState::pending;
}

// The most of the original a bounce quotes: a header section longer than
// this is cut. The part only helps the sender recognise the message (RFC
// 6522 §3 makes it optional), so it need not cost a big read.
constexpr std::size_t bounce_header_cap = 256 * 1024;

// QUEUE/tmp files are renamed into place in the commit round that wrote
// them; one older than this process was left by a crash.
void remove_stale_tmp(const std::string& queue_dir, std::time_t stale_before) {
    std::string dir = queue_dir + "/tmp";
    DIR* d = ::opendir(dir.c_str());
    if (d == nullptr) return;
    while (const dirent* e = ::readdir(d)) {
        if (e->d_name[0] == '.') continue;
        std::string path = dir + "/" + e->d_name;
        struct stat st {};
        if (::lstat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode) && st.st_mtime < stale_before)
            ::unlink(path.c_str());
    }
    ::closedir(d);
}

}  // namespace

QueuedMessage envelope_of(const q::Entry& entry) {
    QueuedMessage m;
    m.name = entry.name;
    m.id = entry.id;
    m.sender = entry.sender;
    m.created = entry.created;
    m.attempts = entry.attempts;
    m.next_try = entry.next_try;
    m.held = entry.held;
    m.warned = entry.warned;
    for (const auto& r : entry.recipients)
        m.recipients.push_back({r.address, to_state(r.state), r.diagnostic});
    return m;
}

void apply_state(const QueuedMessage& message, q::Entry& entry) {
    entry.attempts = message.attempts;
    entry.next_try = message.next_try;
    entry.held = message.held;
    entry.warned = message.warned;
    entry.recipients.clear();
    for (const auto& r : message.recipients)
        entry.recipients.push_back({to_queue_state(r.state), r.address, r.diagnostic});
}

// ---- scan ------------------------------------------------------------------

ScanQueueJob::ScanQueueJob(std::string queue_dir, std::set<std::string> known,
                           std::time_t stale_before, Done done)
    : queue_dir_(std::move(queue_dir)),
      known_(std::move(known)),
      stale_before_(stale_before),
      done_(std::move(done)) {}

void ScanQueueJob::execute(store::CommitGroup&) {
    if (stale_before_ != 0) remove_stale_tmp(queue_dir_, stale_before_);
    for (const std::string& name : q::list(queue_dir_)) {
        if (known_.count(name)) continue;
        q::Entry entry;
        if (q::read_envelope(queue_dir_, name, entry) != store::Status::ok) continue;  // it logs why
        found_.push_back(envelope_of(entry));
    }
}

// ---- read ------------------------------------------------------------------

TextFactsJob::TextFactsJob(std::string queue_dir, std::string name, Done done)
    : queue_dir_(std::move(queue_dir)), name_(std::move(name)), done_(std::move(done)) {}

void TextFactsJob::execute(store::CommitGroup&) {
    status_ = q::text_facts(queue_dir_, name_, facts_);
}

// ---- rewrite ----------------------------------------------------------------

RewriteQueueJob::RewriteQueueJob(std::string queue_dir, QueuedMessage message, Done done)
    : queue_dir_(std::move(queue_dir)), message_(std::move(message)), done_(std::move(done)) {}

void RewriteQueueJob::execute(store::CommitGroup& group) {
    q::Entry entry;
    status_ = q::read_envelope(queue_dir_, message_.name, entry);
    if (status_ != store::Status::ok) return;
    apply_state(message_, entry);
    q::rewrite(queue_dir_, entry, group, &status_);
}

// ---- bounce ------------------------------------------------------------------

BounceJob::BounceJob(store::MailStore& store, std::string queue_dir, QueuedMessage message,
                     std::string sender_local_part, Settings settings, Done done)
    : store_(store),
      queue_dir_(std::move(queue_dir)),
      message_(std::move(message)),
      local_part_(std::move(sender_local_part)),
      settings_(std::move(settings)),
      done_(std::move(done)) {}

void BounceJob::execute(store::CommitGroup& group) {
    std::optional<std::string> user;
    if (!local_part_.empty()) {
        user = store_.find_user(local_part_);
        if (!user) {
            lookup_ = store::Status::not_found;
            return;
        }
    }
    // RFC 3464 reports quote only the header section (text/rfc822-headers):
    // that much is read, never the whole message.
    q::Entry entry;
    std::string headers;
    lookup_ = q::read_envelope(queue_dir_, message_.name, entry);
    if (lookup_ == store::Status::ok)
        lookup_ = q::read_header_section(queue_dir_, message_.name, bounce_header_cap, headers);
    if (lookup_ != store::Status::ok) return;

    apps::BounceInput input;
    input.hostname = settings_.hostname;
    input.sender = message_.sender;
    input.queue_id = message_.id;
    input.arrival = static_cast<std::time_t>(message_.created);
    input.now = std::time(nullptr);
    input.unique = settings_.unique;
    input.delayed = settings_.delayed;
    input.retry_until = settings_.retry_until;
    RcptState listed = settings_.delayed ? RcptState::pending : RcptState::failed;
    for (const auto& r : message_.recipients)
        if (r.state == listed) input.failed.push_back({r.address, r.diagnostic});
    input.original = headers;

    // RFC 5321 §6.1: the notification goes from the null sender. A local
    // sender gets it in its mailbox; a remote one (delay warnings only)
    // through the queue, as any relayed message.
    store::Delivery notice;
    notice.id = settings_.unique;
    notice.sender = "";
    if (user) notice.local_users = {*user};
    else notice.remote_recipients = {message_.sender};
    notice.message = apps::build_dsn(input);

    // The new state and the notice become durable in the same round; the
    // file is removed only after both (a crash in between sends the notice
    // twice, never zero times).
    apply_state(message_, entry);
    q::rewrite(queue_dir_, entry, group, &rewrite_);
    store_.deliver(notice, group, &delivery_);
}

void BounceJob::complete() {
    store::Status s = lookup_;
    if (s == store::Status::ok) s = delivery_;
    if (s == store::Status::ok) s = rewrite_;
    done_(s);
}

// ---- remove -------------------------------------------------------------------

RemoveQueueJob::RemoveQueueJob(std::string queue_dir, std::string name, Done done)
    : queue_dir_(std::move(queue_dir)), name_(std::move(name)), done_(std::move(done)) {}

void RemoveQueueJob::execute(store::CommitGroup&) { status_ = q::remove(queue_dir_, name_); }

}  // namespace bm
