// The relay agent without sockets: a scripted RelayNetwork stands for the
// driver (it records the lookups and connections asked for, and the test
// answers them as the driver would, from outside any network call), the
// store and the I/O worker are real, on a scratch directory. Each case
// walks one delivery through RFC 5321 §5.1 routing and checks what the
// agent asks for next and what it leaves in the queue, the mailbox and the
// log.
#include "relay/agent.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <thread>

#include "dataplane/common/cidr.hpp"
#include "store/queue.hpp"
#include "store/tests/test_support.hpp"

using namespace bm;
using bm::apps::RecipientResult;
using bm::apps::RelayOutcome;
using bm::apps::dns::RecordType;
using bm::store::test::TempDir;
namespace dns = bm::apps::dns;

namespace {

struct Lookup {
    std::uint64_t delivery;
    std::string name;
    RecordType type;
};

struct Connection {
    std::uint64_t delivery;
    std::uint32_t ip;
    std::uint16_t port;
    apps::OutboundMessage message;
};

// The driver's side: what the agent asked for, in order.
class ScriptedNetwork final : public RelayNetwork {
public:
    void resolve(std::uint64_t delivery, const std::string& name, RecordType type) override {
        lookups.push_back({delivery, name, type});
    }
    bool connect(std::uint64_t delivery, std::uint32_t ip, std::uint16_t port,
                 apps::OutboundMessage message) override {
        connections.push_back({delivery, ip, port, std::move(message)});
        return refuse.count(ip) == 0;  // "no socket": the agent moves on at once
    }

    std::vector<Lookup> lookups;
    std::vector<Connection> connections;
    std::set<std::uint32_t> refuse;
};

std::uint32_t ip(const char* text) { return *parse_ipv4(text); }

dns::Response mx(std::vector<dns::MxRecord> records) {
    dns::Response r;
    r.status = dns::Status::ok;
    r.mx = std::move(records);
    return r;
}

dns::Response addresses(std::vector<std::uint32_t> list) {
    dns::Response r;
    r.status = dns::Status::ok;
    r.addresses = std::move(list);
    return r;
}

dns::Response failure(dns::Status status, const char* reason) {
    dns::Response r;
    r.status = status;
    r.reason = reason;
    return r;
}

std::vector<RecipientResult> each(const apps::OutboundMessage& m, RelayOutcome outcome,
                                  const std::string& reply) {
    std::vector<RecipientResult> out;
    for (const std::string& r : m.recipients) out.push_back({r, outcome, reply});
    return out;
}

class RelayAgentTest : public ::testing::Test {
protected:
    RelayAgentTest() {
        store::test::make_maildir(dir_ / "mail/alice");
        queue_dir_ = dir_ / "queue";
        store_ = std::make_unique<store::MailStore>(
            store::StoreConfig{dir_ / "mail", queue_dir_, "", "relay.test"});
        log_.open(dir_ / "relay.log", false);
    }

    RelaySettings settings() {
        RelaySettings s;
        s.queue_dir = queue_dir_;
        s.hostname = "relay.test";
        s.local_domains = {"relay.test", "localhost"};
        s.retry_delay = 600;
        s.max_attempts = 3;
        return s;
    }

    // A message queued as the SMTP receiver queues it.
    void queue(const std::string& sender, std::vector<std::string> rcpts,
               const std::string& text = "Subject: relayed\r\n\r\nbody\r\n") {
        store::Delivery d{"Q" + std::to_string(++queued_), sender, {}, std::move(rcpts), text};
        ASSERT_EQ(store::test::deliver_now(*store_, d), store::Status::ok);
    }

    void start(RelaySettings s) {
        agent_ = std::make_unique<RelayAgent>(std::move(s), *store_, worker_, network_, log_);
        agent_->start(std::time(nullptr));
    }

    // Runs the loop (completions, then a tick) until `done` holds; bounded.
    template <typename Done>
    bool run_until(Done done) {
        auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
        while (std::chrono::steady_clock::now() < deadline) {
            worker_.poll_completions();
            agent_->tick(std::time(nullptr));
            if (done()) return true;
            std::this_thread::sleep_for(std::chrono::milliseconds(1));
        }
        return false;
    }

    bool lookups_reach(std::size_t n) {
        return run_until([&] { return network_.lookups.size() >= n; });
    }
    bool connections_reach(std::size_t n) {
        return run_until([&] { return network_.connections.size() >= n; });
    }
    // The attempt is over: no delivery left in flight and the worker idle.
    bool settled() {
        return run_until([&] { return agent_->deliveries() == 0 && worker_.in_flight() == 0; });
    }

    std::vector<std::string> queue_names() { return store::queue::list(queue_dir_); }

    store::queue::Entry queued(const std::string& name) {
        store::queue::Entry e;
        EXPECT_EQ(store::queue::read(queue_dir_, name, e), store::Status::ok);
        return e;
    }

    std::vector<std::string> alices_mail() {
        std::vector<std::string> out;
        for (const std::string& name : store::test::names_in(dir_ / "mail/alice/new"))
            out.push_back(store::test::read_text(dir_ / ("mail/alice/new/" + name)));
        return out;
    }

    std::string log_text() {
        std::fflush(nullptr);
        return store::test::read_text(dir_ / "relay.log");
    }

    void answer(std::size_t lookup, const dns::Response& response) {
        agent_->on_resolved(network_.lookups.at(lookup).delivery, response);
    }

    void end_session(std::size_t connection, const std::vector<RecipientResult>& results,
                     const std::string& peer = "192.0.2.1:25") {
        agent_->on_session_end(network_.connections.at(connection).delivery, peer, results);
    }

    TempDir dir_;
    std::string queue_dir_;
    std::unique_ptr<store::MailStore> store_;
    store::IoWorker worker_;
    EventLog log_;
    ScriptedNetwork network_;
    std::unique_ptr<RelayAgent> agent_;
    int queued_ = 0;
};

}  // namespace

TEST_F(RelayAgentTest, Rfc5321_5_1_MxByPreferenceThenTheExchangesAddress) {
    queue("alice@relay.test", {"far@example.org"});
    start(settings());
    ASSERT_TRUE(lookups_reach(1));
    EXPECT_EQ(network_.lookups[0].name, "example.org");
    EXPECT_EQ(network_.lookups[0].type, RecordType::mx);
    answer(0, mx({{20, "backup.example.org"}, {10, "mx.example.org"}}));
    ASSERT_TRUE(lookups_reach(2));
    EXPECT_EQ(network_.lookups[1].name, "mx.example.org");
    EXPECT_EQ(network_.lookups[1].type, RecordType::a);
    answer(1, addresses({ip("192.0.2.1")}));
    ASSERT_TRUE(connections_reach(1));
    const Connection& c = network_.connections[0];
    EXPECT_EQ(c.ip, ip("192.0.2.1"));
    EXPECT_EQ(c.port, smtp_port);
    EXPECT_EQ(c.message.sender, "alice@relay.test");
    EXPECT_EQ(c.message.recipients, std::vector<std::string>{"far@example.org"});
    EXPECT_EQ(c.message.queue_name, queue_names().at(0));
    EXPECT_EQ(c.message.size, queued(c.message.queue_name).content_size);
    EXPECT_FALSE(c.message.eight_bit);

    end_session(0, each(c.message, RelayOutcome::delivered, "250 2.0.0 queued"));
    ASSERT_TRUE(run_until([&] { return queue_names().empty(); })) << log_text();
    EXPECT_NE(log_text().find("relay 192.0.2.1:25 delivered id=Q1 rcpt=<far@example.org> reply=250"),
              std::string::npos)
        << log_text();
    EXPECT_TRUE(alices_mail().empty());
}

TEST_F(RelayAgentTest, EightBitTextIsSaidInTheOutboundMessage) {
    queue("alice@relay.test", {"far@example.org"}, "Subject: caf\xc3\xa9\r\n\r\n\xff\r\n");
    RelaySettings s = settings();
    s.relayhost = parse_relayhost("192.0.2.7:2525");
    start(s);
    ASSERT_TRUE(connections_reach(1));
    EXPECT_TRUE(network_.connections[0].message.eight_bit);
}

TEST_F(RelayAgentTest, Rfc7505_NullMxFailsAtOnceWithoutAConnection) {
    queue("alice@relay.test", {"far@nullmx.example"});
    start(settings());
    ASSERT_TRUE(lookups_reach(1));
    answer(0, mx({{0, ""}}));
    ASSERT_TRUE(run_until([&] { return queue_names().empty(); })) << log_text();
    EXPECT_TRUE(network_.connections.empty());
    EXPECT_EQ(network_.lookups.size(), 1u);
    auto mail = alices_mail();
    ASSERT_EQ(mail.size(), 1u);
    EXPECT_NE(mail[0].find("Status: 5.1.10"), std::string::npos) << mail[0];
    EXPECT_NE(mail[0].find("Final-Recipient: rfc822; far@nullmx.example"), std::string::npos);
}

TEST_F(RelayAgentTest, Rfc5321_5_1_NoMxRecordsMeansTheDomainItself) {
    queue("alice@relay.test", {"far@implicit.example"});
    start(settings());
    ASSERT_TRUE(lookups_reach(1));
    answer(0, failure(dns::Status::no_records, "NODATA"));
    ASSERT_TRUE(lookups_reach(2));
    EXPECT_EQ(network_.lookups[1].name, "implicit.example");
    EXPECT_EQ(network_.lookups[1].type, RecordType::a);
    answer(1, addresses({ip("192.0.2.9")}));
    ASSERT_TRUE(connections_reach(1));
    EXPECT_EQ(network_.connections[0].ip, ip("192.0.2.9"));
}

TEST_F(RelayAgentTest, NxdomainFailsAtOnceAndBouncesToTheLocalSender) {
    queue("alice@relay.test", {"far@missing.example"});
    start(settings());
    ASSERT_TRUE(lookups_reach(1));
    answer(0, failure(dns::Status::nxdomain, "NXDOMAIN"));
    ASSERT_TRUE(run_until([&] { return queue_names().empty(); })) << log_text();
    auto mail = alices_mail();
    ASSERT_EQ(mail.size(), 1u);
    EXPECT_NE(mail[0].find("Status: 5.1.2"), std::string::npos) << mail[0];
    EXPECT_NE(log_text().find("bounced id=Q1 to=<alice@relay.test> rcpt=<far@missing.example>"),
              std::string::npos)
        << log_text();
}

TEST_F(RelayAgentTest, Rfc2308_ServfailIsTemporaryTheQueueFileRecordsTheAttempt) {
    queue("alice@relay.test", {"far@flaky.example"});
    start(settings());
    ASSERT_TRUE(lookups_reach(1));
    std::int64_t before = std::time(nullptr);
    answer(0, failure(dns::Status::server_failure, "SERVFAIL"));
    ASSERT_TRUE(settled());
    auto names = queue_names();
    ASSERT_EQ(names.size(), 1u);
    // The rewrite is out once the attempt ended; wait for the new version.
    ASSERT_TRUE(run_until([&] { return queued(names[0]).attempts == 1; })) << log_text();
    store::queue::Entry e = queued(names[0]);
    EXPECT_GE(e.next_try, before + 600);
    EXPECT_EQ(e.recipients.at(0).state, store::queue::RecipientState::pending);
    EXPECT_NE(e.recipients.at(0).diagnostic.find("4.4.3 MX lookup for flaky.example failed: SERVFAIL"),
              std::string::npos)
        << e.recipients.at(0).diagnostic;
    EXPECT_TRUE(network_.connections.empty());
    EXPECT_TRUE(alices_mail().empty());
    EXPECT_NE(log_text().find("deferred id=Q1 rcpt=<far@flaky.example> attempt=1 reason=4.4.3"),
              std::string::npos)
        << log_text();
}

TEST_F(RelayAgentTest, Rfc5321_5_1_AnExchangeThatDoesNotResolveGivesWayToTheNext) {
    queue("alice@relay.test", {"far@two.example"});
    start(settings());
    ASSERT_TRUE(lookups_reach(1));
    answer(0, mx({{10, "gone.two.example"}, {20, "mail.two.example"}}));
    ASSERT_TRUE(lookups_reach(2));
    EXPECT_EQ(network_.lookups[1].name, "gone.two.example");
    answer(1, failure(dns::Status::nxdomain, "NXDOMAIN"));
    ASSERT_TRUE(lookups_reach(3));
    EXPECT_EQ(network_.lookups[2].name, "mail.two.example");
    answer(2, addresses({ip("192.0.2.20")}));
    ASSERT_TRUE(connections_reach(1));
    EXPECT_EQ(network_.connections[0].ip, ip("192.0.2.20"));
}

TEST_F(RelayAgentTest, Rfc5321_5_1_EachAddressThenTheNextExchangeThenDeferred) {
    queue("alice@relay.test", {"far@three.example"});
    network_.refuse = {ip("192.0.2.31")};  // no socket for the first address
    start(settings());
    ASSERT_TRUE(lookups_reach(1));
    answer(0, mx({{10, "a.three.example"}, {20, "b.three.example"}}));
    ASSERT_TRUE(lookups_reach(2));
    answer(1, addresses({ip("192.0.2.31"), ip("192.0.2.32")}));
    ASSERT_TRUE(connections_reach(2));
    EXPECT_EQ(network_.connections[1].ip, ip("192.0.2.32"));
    // A temporary failure there: on to the next exchange.
    end_session(1, each(network_.connections[1].message, RelayOutcome::temporary, "421 busy"),
                "192.0.2.32:25");
    ASSERT_TRUE(lookups_reach(3));
    EXPECT_EQ(network_.lookups[2].name, "b.three.example");
    answer(2, addresses({ip("192.0.2.33")}));
    ASSERT_TRUE(connections_reach(3));
    end_session(2, each(network_.connections[2].message, RelayOutcome::temporary, "451 later"),
                "192.0.2.33:25");
    // Every host tried: the attempt ends temporary, the message stays.
    ASSERT_TRUE(settled());
    EXPECT_EQ(queue_names().size(), 1u);
    EXPECT_NE(log_text().find("relay 192.0.2.33:25 deferred id=Q1 rcpt=<far@three.example> attempt=1 "
                              "reason=451 later"),
              std::string::npos)
        << log_text();
    EXPECT_TRUE(alices_mail().empty());
}

TEST_F(RelayAgentTest, MixedOutcomesBounceOnlyTheRefusedRecipient) {
    queue("alice@relay.test", {"good@mixed.example", "bad@mixed.example"});
    RelaySettings s = settings();
    s.relayhost = parse_relayhost("192.0.2.40");
    start(s);
    ASSERT_TRUE(connections_reach(1));
    EXPECT_EQ(network_.connections[0].message.recipients,
              (std::vector<std::string>{"good@mixed.example", "bad@mixed.example"}));
    end_session(0, {{"good@mixed.example", RelayOutcome::delivered, "250 ok"},
                    {"bad@mixed.example", RelayOutcome::permanent, "550 5.1.1 no such user"}});
    ASSERT_TRUE(run_until([&] { return queue_names().empty(); })) << log_text();
    auto mail = alices_mail();
    ASSERT_EQ(mail.size(), 1u);
    EXPECT_NE(mail[0].find("Final-Recipient: rfc822; bad@mixed.example"), std::string::npos);
    EXPECT_NE(mail[0].find("Status: 5.1.1"), std::string::npos);
    EXPECT_EQ(mail[0].find("good@mixed.example"), std::string::npos) << mail[0];
}

TEST_F(RelayAgentTest, RelayhostAddressIsUsedWithoutAnyLookup) {
    queue("alice@relay.test", {"far@example.org", "other@example.net"});
    RelaySettings s = settings();
    s.relayhost = parse_relayhost("[192.0.2.50]:2525");
    start(s);
    ASSERT_TRUE(connections_reach(2));  // one delivery per domain, both to the relayhost
    for (const Connection& c : network_.connections) {
        EXPECT_EQ(c.ip, ip("192.0.2.50"));
        EXPECT_EQ(c.port, 2525);
    }
    EXPECT_TRUE(network_.lookups.empty());
}

TEST_F(RelayAgentTest, RelayhostNameIsLookedUpAsARecordNotMx) {
    queue("alice@relay.test", {"far@example.org"});
    RelaySettings s = settings();
    s.relayhost = parse_relayhost("smarthost.example:587");
    start(s);
    ASSERT_TRUE(lookups_reach(1));
    EXPECT_EQ(network_.lookups[0].name, "smarthost.example");
    EXPECT_EQ(network_.lookups[0].type, RecordType::a);
    answer(0, addresses({ip("192.0.2.60")}));
    ASSERT_TRUE(connections_reach(1));
    EXPECT_EQ(network_.connections[0].port, 587);
}

TEST_F(RelayAgentTest, Rfc5321_4_1_3_AddressLiteralIsConnectedToWithoutLookup) {
    queue("alice@relay.test", {"far@[192.0.2.70]"});
    start(settings());
    ASSERT_TRUE(connections_reach(1));
    EXPECT_EQ(network_.connections[0].ip, ip("192.0.2.70"));
    EXPECT_EQ(network_.connections[0].port, smtp_port);
    EXPECT_TRUE(network_.lookups.empty());
}

TEST_F(RelayAgentTest, RemoteSendersFailureIsDroppedWithALogLineNotBounced) {
    queue("someone@elsewhere.example", {"far@missing.example"});
    start(settings());
    ASSERT_TRUE(lookups_reach(1));
    answer(0, failure(dns::Status::nxdomain, "NXDOMAIN"));
    ASSERT_TRUE(run_until([&] { return queue_names().empty(); })) << log_text();
    EXPECT_TRUE(alices_mail().empty());
    EXPECT_NE(log_text().find("dropped id=Q1 from=<someone@elsewhere.example> "
                              "rcpt=<far@missing.example> reason=remote sender"),
              std::string::npos)
        << log_text();
}

TEST_F(RelayAgentTest, NullSendersFailureIsDroppedWithALogLine) {
    queue("", {"far@missing.example"});
    start(settings());
    ASSERT_TRUE(lookups_reach(1));
    answer(0, failure(dns::Status::nxdomain, "NXDOMAIN"));
    ASSERT_TRUE(run_until([&] { return queue_names().empty(); })) << log_text();
    EXPECT_TRUE(alices_mail().empty());
    EXPECT_NE(log_text().find("reason=null sender"), std::string::npos) << log_text();
}

TEST_F(RelayAgentTest, LocalSenderWithoutAMailboxIsDropped) {
    queue("nobody@relay.test", {"far@missing.example"});
    start(settings());
    ASSERT_TRUE(lookups_reach(1));
    answer(0, failure(dns::Status::nxdomain, "NXDOMAIN"));
    ASSERT_TRUE(run_until([&] { return queue_names().empty(); })) << log_text();
    EXPECT_NE(log_text().find("reason=sender has no mailbox here"), std::string::npos) << log_text();
}

TEST_F(RelayAgentTest, OutOfAttemptsThePendingRecipientIsBounced) {
    queue("alice@relay.test", {"far@flaky.example"});
    RelaySettings s = settings();
    s.max_attempts = 1;
    start(s);
    ASSERT_TRUE(lookups_reach(1));
    answer(0, failure(dns::Status::server_failure, "SERVFAIL"));
    ASSERT_TRUE(run_until([&] { return queue_names().empty(); })) << log_text();
    auto mail = alices_mail();
    ASSERT_EQ(mail.size(), 1u);
    EXPECT_NE(mail[0].find("Status: 4.4.3"), std::string::npos) << mail[0];
}

TEST_F(RelayAgentTest, StopDropsLookupsInProgressWithoutCountingTheAttempt) {
    queue("alice@relay.test", {"far@example.org"});
    start(settings());
    ASSERT_TRUE(lookups_reach(1));
    agent_->stop();
    EXPECT_TRUE(agent_->stopping());
    EXPECT_EQ(agent_->deliveries(), 0u);
    answer(0, mx({{10, "mx.example.org"}}));  // too late: ignored
    ASSERT_TRUE(run_until([&] { return worker_.in_flight() == 0; }));
    EXPECT_EQ(network_.lookups.size(), 1u);
    EXPECT_TRUE(network_.connections.empty());
    auto names = queue_names();
    ASSERT_EQ(names.size(), 1u);
    store::queue::Entry e = queued(names[0]);
    EXPECT_EQ(e.attempts, 0u);
    EXPECT_EQ(e.recipients.at(0).state, store::queue::RecipientState::pending);
    EXPECT_NE(log_text().find("interrupted id=Q1 rcpt=<far@example.org>"), std::string::npos)
        << log_text();
}

TEST_F(RelayAgentTest, AnswersForUnknownDeliveriesAreIgnored) {
    start(settings());
    agent_->on_resolved(12345, mx({{10, "mx.example.org"}}));
    agent_->on_session_end(12345, "-", {});
    EXPECT_TRUE(run_until([&] { return worker_.in_flight() == 0; }));
    EXPECT_TRUE(network_.lookups.empty());
    EXPECT_TRUE(network_.connections.empty());
}

TEST_F(RelayAgentTest, QueueChangedStartsTheNewMessageWithoutWaitingForTheRescan) {
    RelaySettings s = settings();
    s.rescan_interval = 3600;
    start(s);
    ASSERT_TRUE(run_until([&] { return worker_.in_flight() == 0 && !agent_->wants_tick(); }));
    queue("alice@relay.test", {"far@example.org"});
    agent_->queue_changed();
    EXPECT_TRUE(agent_->wants_tick());
    ASSERT_TRUE(lookups_reach(1));
    EXPECT_EQ(network_.lookups[0].name, "example.org");
}

// ---- the queue tool's requests (on_control, as the control socket hands them) ----

TEST_F(RelayAgentTest, DeleteRightAfterAnAttemptWaitsForItsRewriteAndStaysGone) {
    queue("alice@relay.test", {"far@example.org"});
    RelaySettings s = settings();
    s.relayhost = parse_relayhost("[192.0.2.50]:25");
    start(s);
    ASSERT_TRUE(connections_reach(1));
    std::string name = queue_names().at(0);
    // The attempt's rewrite is submitted here; the delete comes before it completes.
    end_session(0, each(network_.connections[0].message, RelayOutcome::temporary, "451 later"));
    agent_->on_control(1, control::Request{control::Command::remove, "Q1"});
    ASSERT_TRUE(run_until([&] { return worker_.in_flight() == 0 && queue_names().empty(); }));
    // A rescan finds nothing to bring back, and nothing is tried again.
    agent_->queue_changed();
    ASSERT_TRUE(run_until([&] { return worker_.in_flight() == 0 && !agent_->wants_tick(); }));
    EXPECT_TRUE(queue_names().empty());
    EXPECT_EQ(network_.connections.size(), 1u);
    EXPECT_NE(log_text().find("deleted id=Q1 by=baremail-queue"), std::string::npos) << log_text();
}

TEST_F(RelayAgentTest, HoldIsWrittenToTheQueueFileAndFlushLeavesItAlone) {
    queue("alice@relay.test", {"far@example.org"});
    RelaySettings s = settings();
    s.relayhost = parse_relayhost("[192.0.2.50]:25");
    start(s);
    ASSERT_TRUE(connections_reach(1));
    end_session(0, each(network_.connections[0].message, RelayOutcome::temporary, "451 later"));
    agent_->on_control(1, control::Request{control::Command::hold, "Q1"});
    std::string name = queue_names().at(0);
    ASSERT_TRUE(run_until([&] { return worker_.in_flight() == 0 && queued(name).held; }));
    agent_->on_control(2, control::Request{control::Command::flush, ""});
    ASSERT_TRUE(run_until([&] { return worker_.in_flight() == 0; }));
    EXPECT_EQ(network_.connections.size(), 1u);  // held: not tried
    agent_->on_control(3, control::Request{control::Command::release, "Q1"});
    ASSERT_TRUE(run_until([&] { return worker_.in_flight() == 0 && !queued(name).held; }));
    agent_->on_control(4, control::Request{control::Command::flush, "Q1"});
    ASSERT_TRUE(connections_reach(2));  // retried at once, 600 s before its time
}
