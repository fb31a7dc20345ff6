// The relay client's coordinator, independent of how bytes travel: it
// runs the schedule (apps/relay/scheduler), walks each delivery through
// the route of RFC 5321 §5.1 (apps/relay/route: MX, then each exchange's
// A record, or the relayhost), asks the network for lookups and
// connections, submits the queue work to the I/O worker (queue_jobs) and
// writes the relay log lines. It holds each queued message's envelope and
// state, never its text.
//
// Each build's relay link (dataplane/kernel/relay_link over sockets,
// dataplane/dpdk/relay_link over the engine) implements RelayNetwork and
// calls back on_resolved / on_session_end, always from its loop, never
// from inside a RelayNetwork call. Everything here runs on the polling
// thread and never blocks.
//
// The queue tool's requests (relay/control: flush, delete, hold, release)
// arrive through the control socket the agent polls in tick(), so they
// change the schedule on this same thread; the file changes they need go
// through the I/O worker like every other queue write (docs/races.md).
#pragma once

#include <cstdint>
#include <ctime>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "apps/dns/message.hpp"
#include "apps/relay/route.hpp"
#include "apps/relay/scheduler.hpp"
#include "apps/relay/settings.hpp"
#include "apps/smtp_client.hpp"
#include "dataplane/common/event_log.hpp"
#include "relay/control/server.hpp"
#include "store/io_worker.hpp"
#include "store/mail_store.hpp"

namespace bm {

class RelayNetwork {
public:
    // Look `name` up; answer later with RelayAgent::on_resolved(delivery, ...)
    // (a timeout is a server_failure response).
    virtual void resolve(std::uint64_t delivery, const std::string& name,
                         apps::dns::RecordType type) = 0;
    // Open an SMTP connection to ip:port running an apps::SmtpClient for
    // `message`; when it is over, call RelayAgent::on_session_end. False if
    // it cannot even be tried (no socket); the agent moves on.
    virtual bool connect(std::uint64_t delivery, std::uint32_t ip, std::uint16_t port,
                         apps::OutboundMessage message) = 0;

protected:
    ~RelayNetwork() = default;
};

class RelayAgent final : public control::ControlHandler {
public:
    RelayAgent(RelaySettings settings, store::MailStore& store, store::IoWorker& worker,
               RelayNetwork& network, EventLog& log);

    // Loop hooks: call start() once, tick() every loop turn (cheap when
    // nothing is due), queue_changed() when the receiver queued a message.
    void start(std::time_t now);
    void tick(std::time_t now);
    void queue_changed() { scan_wanted_ = true; }
    // Something for tick() to do before its next second: a scan asked for,
    // or one that just finished (its messages may be due now). A driver
    // that ticks once a second ticks at once when this is true.
    bool wants_tick() const { return (scan_wanted_ && !scan_in_flight_) || scanned_; }
    // SIGTERM: start nothing new; lookups in progress are dropped, their
    // recipients stay pending. Sessions are cut by the driver.
    void stop();
    bool stopping() const { return stopping_; }

    // From the driver.
    void on_resolved(std::uint64_t delivery, const apps::dns::Response& response);
    void on_session_end(std::uint64_t delivery, const std::string& peer,
                        const std::vector<apps::RecipientResult>& results);

    std::size_t deliveries() const { return attempts_.size(); }

    // control::ControlHandler: a request of the queue tool.
    void on_control(std::uint64_t client, const control::Request& request) override;

private:
    // One delivery attempt of one (message, domain): RFC 5321 §5.1 route.
    struct Attempt {
        DueDelivery due;
        // What MAIL FROM says about the text; the text itself stays in the
        // queue file and is read piece by piece during DATA.
        std::optional<store::queue::TextFacts> text;
        std::vector<std::string> exchanges;  // host names, in order
        std::size_t exchange = 0;            // the one being tried
        std::vector<std::uint32_t> addresses;
        std::size_t address = 0;
        std::uint16_t port = smtp_port;
        bool resolving = false;
        apps::dns::RecordType asking = apps::dns::RecordType::mx;
        std::string peer = "-";              // the last host talked to, for the log
        bool connected = false;              // a session is running
        std::vector<std::string> open;       // recipients without a final outcome
        std::map<std::string, apps::RecipientResult> results;
    };

    void scan(std::time_t now);
    void on_scanned(std::vector<QueuedMessage> found);
    void start_due(std::time_t now);
    void begin(DueDelivery due);
    void next_exchange(Attempt& a);
    void try_next_address(Attempt& a);
    void settle_open(Attempt& a, apps::RelayOutcome outcome, const std::string& reason);
    void end_attempt(std::uint64_t delivery);
    void persist(const QueueUpdate& update);
    void rewrite(const QueuedMessage& message, std::function<void(store::Status)> done);
    void send_delay_warning(const QueuedMessage& message);
    // Runs `then` once no rewrite of `name` is out: a removal must not meet
    // a rewrite in the same I/O batch, whose rename would bring the file back.
    void when_written(const std::string& name, std::function<void()> then);
    void written(const std::string& name);  // a rewrite of `name` completed
    void control_flush(std::uint64_t client, const std::string& id);
    void control_delete(std::uint64_t client, const std::string& id);
    void control_hold(std::uint64_t client, const std::string& id, bool hold);
    void open_control();
    void finish_message(const QueuedMessage& message);
    void removed(const std::string& name, const std::string& why);
    bool local_sender(const std::string& sender, std::string& local_part) const;
    void log(const std::string& peer, const std::string& event, const std::string& detail);

    RelaySettings settings_;
    store::MailStore& store_;
    store::IoWorker& worker_;
    RelayNetwork& network_;
    EventLog& log_;
    RelayScheduler scheduler_;
    std::map<std::uint64_t, Attempt> attempts_;
    std::set<std::string> finishing_;  // messages whose finish (or delete) jobs are out
    struct Writes {
        int out = 0;                               // rewrites submitted, not completed
        std::vector<std::function<void()>> then;   // to run when none is out
    };
    std::map<std::string, Writes> writes_;
    std::unique_ptr<control::ControlServer> control_;
    bool stopping_ = false;
    bool scan_wanted_ = false;
    bool scan_in_flight_ = false;
    bool scanned_ = false;  // a scan finished since the last tick
    std::time_t next_scan_ = 0;
    std::time_t started_ = 0;
    std::uint64_t bounces_ = 0;
};

}  // namespace bm
