// POP3 session transcripts (RFC 1939, RFC 2449, RFC 3206), each replayed
// split at every byte position and checked against the exact reply text.
#include "apps/pop3_server.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <functional>
#include <initializer_list>
#include <string>
#include <vector>

#include "apps/ipv4_text.hpp"
#include "apps/tests/session_harness.hpp"

namespace harness = bm::apps::testing;
using bm::apps::CloseMaildrop;
using bm::apps::MaildropClosed;
using bm::apps::MaildropOpened;
using bm::apps::MessageInfo;
using bm::apps::MessageText;
using bm::apps::OpenMaildrop;
using bm::apps::Outcome;
using bm::apps::Peer;
using bm::apps::LoginPenalty;
using bm::apps::LoginPenaltySettings;
using bm::apps::Pop3Config;
using bm::apps::Pop3Server;
using bm::apps::ReadMessage;
using bm::apps::StoreReply;
using bm::apps::StoreRequest;

namespace {

const std::string kMessage1 =
    "From: a@example.org\r\nSubject: one\r\n\r\nHello\r\n.hidden\r\n..two\r\n";
const std::string kMessage1Stuffed =
    "From: a@example.org\r\nSubject: one\r\n\r\nHello\r\n..hidden\r\n...two\r\n";
const std::string kMessage2 = "Subject: two\r\n\r\nline1\r\n.line2\r\nline3\r\n";
const std::string kSize1 = std::to_string(kMessage1.size());
const std::string kSize2 = std::to_string(kMessage2.size());
const std::string kTotal = std::to_string(kMessage1.size() + kMessage2.size());
const std::string kTimestamp = "<t1.7.1700000000@mail.example>";
const std::string kDigest = "c4c9334bac560ecc979e58001b3e22fb";

std::string lines(std::initializer_list<std::string> each) {
    std::string out;
    for (const std::string& line : each) out += line + "\r\n";
    return out;
}

const std::string kGreeting = lines({"+OK baremail POP3 ready " + kTimestamp});
const std::string kLogin = "USER alice\r\nPASS open sesame\r\n";
const std::string kLoggedIn =
    lines({"+OK", "+OK Logged in, 2 messages (" + kTotal + " octets)"});

Pop3Config test_config() {
    Pop3Config config;
    config.hostname = "mail.example";
    config.instance_tag = "t1";
    config.now = [] { return std::time_t{1700000000}; };
    return config;
}

Peer test_peer() {
    Peer peer;
    peer.ip = *bm::parse_ipv4("192.0.2.9");
    peer.connection = 7;
    return peer;
}

// Headers, the blank line, then `count` body lines: what TOP asks for.
std::string top_of(const std::string& text, std::int32_t count) {
    std::size_t at = text.find("\r\n\r\n") + 4;
    for (std::int32_t i = 0; i < count && at < text.size(); ++i) at = text.find('\n', at) + 1;
    return text.substr(0, at);
}

// A maildrop for alice (password "open sesame", or APOP with kDigest)
// holding kMessage1 and kMessage2 (or `first` instead of kMessage1). Reads
// answer with pieces of at most `piece` octets; `fail` breaks the read that
// starts at `fail_at`.
struct FakeStore {
    Outcome login = Outcome::ok;
    std::vector<StoreRequest> seen;
    std::string first = kMessage1;
    std::size_t piece = std::size_t(-1);
    Outcome fail = Outcome::ok;
    std::uint64_t fail_at = 0;

    StoreReply answer(const StoreRequest& request) {
        seen.push_back(request);
        if (auto* open = std::get_if<OpenMaildrop>(&request)) return open_maildrop(*open);
        if (auto* read = std::get_if<ReadMessage>(&request)) return read_message(*read);
        return MaildropClosed{Outcome::ok};
    }
    MaildropOpened open_maildrop(const OpenMaildrop& open) const {
        bool known = open.user == "alice" &&
                     (open.password == "open sesame" || open.apop_digest == kDigest);
        if (!known) return {Outcome::auth_failed, 0, {}};
        if (login != Outcome::ok) return {login, 0, {}};
        return {Outcome::ok, 42, {{first.size(), "uid-1"}, {kMessage2.size(), "uid-2"}}};
    }
    MessageText read_message(const ReadMessage& read) const {
        if (fail != Outcome::ok && read.offset == fail_at) return {fail, {}, false};
        const std::string& whole = read.index == 0 ? first : kMessage2;
        std::string text = read.top_lines < 0 ? whole : top_of(whole, read.top_lines);
        std::size_t n = std::min<std::size_t>({read.max_bytes, piece, text.size() - read.offset});
        return {Outcome::ok, text.substr(read.offset, n), read.offset + n == text.size()};
    }
};

// The login penalty's clock: time passes only when a wake-up is asked for
// (the harness fires it at once), as if the client waited for the answer.
struct FakeTime {
    std::chrono::steady_clock::time_point now{std::chrono::seconds(1000)};
};

// Keeps every wake-up request; the harness clears its own list as it fires them.
class CountingTransport : public harness::RecordingTransport {
public:
    explicit CountingTransport(FakeTime& time) : time_(time) {}
    void wake_after(std::chrono::milliseconds delay) override {
        every_wakeup.push_back(delay);
        time_.now += delay;
        RecordingTransport::wake_after(delay);
    }
    std::vector<std::chrono::milliseconds> every_wakeup;

private:
    FakeTime& time_;
};

// Failed logins counted per address, shared by the sessions of one server.
struct SharedPenalty {
    FakeTime time;
    LoginPenalty penalty{LoginPenaltySettings{}, [this] { return time.now; }};
};

// One session with its fake surroundings, greeting already sent.
struct Rig {
    explicit Rig(FakeStore fake = {}, SharedPenalty* shared = nullptr)
        : store(std::move(fake)), shared_penalty(shared ? shared : &own_penalty) {
        session.start();
    }

    void feed(std::string_view input, std::size_t step) {
        harness::feed(session, transport, port, input, step,
                      [this](const StoreRequest& request) { return store.answer(request); });
    }

    FakeStore store;
    SharedPenalty own_penalty;
    SharedPenalty* shared_penalty;
    CountingTransport transport{shared_penalty->time};
    harness::QueuedMailPort port;
    harness::RecordingObserver observer;
    Pop3Config config = with_penalty(test_config(), shared_penalty->penalty);  // the session keeps a reference
    Pop3Server session{config, test_peer(), transport, port, observer};

    static Pop3Config with_penalty(Pop3Config config, LoginPenalty& penalty) {
        config.login_penalty = &penalty;
        return config;
    }
};

// Replays `input` split every 1, 2, ... bytes; `check` looks at each run.
void for_every_split(std::string_view input, const FakeStore& store,
                     const std::function<void(Rig&)>& check) {
    for (std::size_t step = 1; step <= input.size(); ++step) {
        SCOPED_TRACE("split every " + std::to_string(step) + " bytes");
        Rig rig(store);
        rig.feed(input, step);
        check(rig);
        if (::testing::Test::HasFailure()) return;  // one failing split says enough
    }
}

void expect_transcript(std::string_view input, const std::string& expected,
                       const FakeStore& store = {}) {
    for_every_split(input, store, [&](Rig& rig) { EXPECT_EQ(rig.transport.sent, expected); });
}

template <class Request>
std::vector<Request> requests_of(const std::vector<StoreRequest>& seen) {
    std::vector<Request> out;
    for (const StoreRequest& request : seen)
        if (auto* wanted = std::get_if<Request>(&request)) out.push_back(*wanted);
    return out;
}

}  // namespace

// ---- AUTHORIZATION (RFC 1939 §4, §7) -----------------------------------

TEST(Pop3Greeting, CarriesAnApopTimestampMadeOfTagConnectionAndClock) {
    Rig rig;
    EXPECT_EQ(rig.transport.sent, kGreeting);
    EXPECT_EQ(rig.session.apop_timestamp(), kTimestamp);
}

TEST(Pop3Authorization, UserThenPassLogsInAndReportsTheMaildrop) {
    expect_transcript(kLogin + "STAT\r\n", kGreeting + kLoggedIn + lines({"+OK 2 " + kTotal}));
    for_every_split(kLogin, {}, [](Rig& rig) {
        auto opens = requests_of<OpenMaildrop>(rig.store.seen);
        ASSERT_EQ(opens.size(), 1u);
        EXPECT_EQ(opens[0].user, "alice");
        EXPECT_EQ(opens[0].password, "open sesame");  // spaces belong to the password
        EXPECT_TRUE(opens[0].apop_digest.empty());
        EXPECT_EQ(rig.observer.events, (std::vector<std::string>{"login user=<alice>"}));
    });
}

TEST(Pop3Authorization, CommandsAreCaseInsensitive) {
    expect_transcript("user alice\r\npAsS open sesame\r\nstat\r\n",
                      kGreeting + kLoggedIn + lines({"+OK 2 " + kTotal}));
}

TEST(Pop3Authorization, ApopRequestCarriesTheGreetingTimestamp) {
    std::string input = "APOP alice " + kDigest + "\r\n";
    expect_transcript(input, kGreeting + lines({"+OK Logged in, 2 messages (" + kTotal + " octets)"}));
    for_every_split(input, {}, [](Rig& rig) {
        auto opens = requests_of<OpenMaildrop>(rig.store.seen);
        ASSERT_EQ(opens.size(), 1u);
        EXPECT_EQ(opens[0].user, "alice");
        EXPECT_EQ(opens[0].apop_digest, kDigest);
        EXPECT_EQ(opens[0].apop_timestamp, kTimestamp);
        EXPECT_TRUE(opens[0].password.empty());
    });
}

TEST(Pop3Authorization, ApopWithAMalformedDigestIsRefusedWithoutAsking) {
    expect_transcript("APOP alice xyz\r\nAPOP alice\r\n",
                      kGreeting + lines({"-ERR Invalid APOP digest",
                                         "-ERR APOP needs a name and a digest"}));
}

TEST(Pop3Authorization, WrongPasswordAnswersAuthCodeAndLogsTheFailure) {
    expect_transcript("USER alice\r\nPASS guess\r\n" + kLogin,
                      kGreeting + lines({"+OK", "-ERR [AUTH] Authentication failed"}) +
                          kLoggedIn);
    for_every_split("USER alice\r\nPASS guess\r\n", {}, [](Rig& rig) {
        EXPECT_EQ(rig.observer.events, (std::vector<std::string>{"auth-failed user=<alice>"}));
    });
}

TEST(Pop3Authorization, LockedMaildropAnswersInUse) {
    FakeStore locked;
    locked.login = Outcome::in_use;
    expect_transcript(kLogin, kGreeting + lines({"+OK", "-ERR [IN-USE] Mailbox is locked by another session"}),
                      locked);
}

TEST(Pop3Authorization, PassMustFollowUserImmediately) {
    expect_transcript("PASS open sesame\r\nUSER alice\r\nCAPA x\r\nPASS open sesame\r\nUSER\r\n",
                      kGreeting + lines({"-ERR No username given", "+OK", "-ERR Too many arguments",
                                         "-ERR No username given", "-ERR No username given"}));
}

TEST(Pop3Authorization, PasswordIsMaskedForTheObserver) {
    Rig rig;
    rig.feed(kLogin, kLogin.size());
    EXPECT_EQ(rig.observer.commands, (std::vector<std::string>{"USER alice", "PASS ****"}));
}

TEST(Pop3Authorization, TransactionCommandsBeforeLoginAreRefusedWithAReason) {
    expect_transcript("STAT\r\nRETR 1\r\nNOOP\r\nXYZZY\r\n\r\n",
                      kGreeting + lines({"-ERR Not logged in", "-ERR Not logged in",
                                         "-ERR Not logged in", "-ERR Unknown command",
                                         "-ERR Unknown command"}));
}

TEST(Pop3Authorization, QuitSendsNoStoreRequestAndCloses) {
    for_every_split("QUIT\r\nNOOP\r\n", {}, [](Rig& rig) {
        EXPECT_EQ(rig.transport.sent, kGreeting + lines({"+OK Bye"}));
        EXPECT_TRUE(rig.transport.closed);
        EXPECT_TRUE(rig.store.seen.empty());
        EXPECT_TRUE(rig.port.requests.empty());
    });
}

// ---- login slow-down (Dovecot auth_penalty, apps/login_penalty) ------

// After three failures from an address every further login waits, the
// right password too (a quick +OK would end the guessing early), and the
// wait doubles: 2 s, 4 s, 8 s.
TEST(Pop3LoginDelay, EveryAttemptAfterTheFreeFailuresWaitsLongerThanTheLast) {
    std::string failure = "USER alice\r\nPASS guess\r\n";
    std::string input = failure + failure + failure + failure + failure + kLogin;
    std::string refused = lines({"+OK", "-ERR [AUTH] Authentication failed"});
    expect_transcript(input, kGreeting + refused + refused + refused + refused + refused + kLoggedIn);
    for_every_split(input, {}, [](Rig& rig) {
        using std::chrono::milliseconds;
        EXPECT_EQ(rig.transport.every_wakeup,
                  (std::vector<milliseconds>{milliseconds(2000), milliseconds(4000), milliseconds(8000)}));
        std::vector<std::string> events(3, "auth-failed user=<alice>");
        for (int failures : {3, 4, 5}) {
            std::string wait = std::to_string(2000 << (failures - 3)) + "ms";
            events.push_back("auth-delayed user=<alice> failures=" + std::to_string(failures) + " wait=" + wait);
            events.push_back(failures < 5 ? "auth-failed user=<alice>" : "login user=<alice>");
        }
        EXPECT_EQ(rig.observer.events, events);
    });
}

// A reconnecting guesser starts no fresh count: the address's failures
// carry over to its next connection.
TEST(Pop3LoginDelay, FailuresCountAcrossConnectionsFromOneAddress) {
    SharedPenalty shared;
    std::string failure = "USER alice\r\nPASS guess\r\n";
    for (int i = 0; i < 3; ++i) {
        Rig rig({}, &shared);
        rig.feed(failure + "QUIT\r\n", 64);
        EXPECT_TRUE(rig.transport.every_wakeup.empty()) << "connection " << i + 1;
    }
    Rig fourth({}, &shared);
    fourth.feed(kLogin, 64);
    EXPECT_EQ(fourth.transport.every_wakeup, std::vector<std::chrono::milliseconds>{std::chrono::milliseconds(2000)});
    EXPECT_EQ(fourth.transport.sent, kGreeting + kLoggedIn);
    EXPECT_EQ(shared.penalty.failures("192.0.2.9"), 0u);  // the success forgets them
}

// Hanging up while the answer is held learns nothing and still counts.
TEST(Pop3LoginDelay, AClientThatLeavesBeforeTheAnswerStillHasTheFailureCounted) {
    SharedPenalty shared;
    Rig rig({}, &shared);
    rig.session.on_bytes("USER alice\r\nPASS guess\r\n");
    ASSERT_EQ(rig.port.requests.size(), 1u);
    rig.port.requests.pop_front();
    rig.session.on_peer_closed();
    rig.session.on_store_reply(MaildropOpened{Outcome::auth_failed, 0, {}});
    EXPECT_EQ(shared.penalty.failures("192.0.2.9"), 1u);
}

TEST(Pop3LoginDelay, DelayedReplyIsHeldAndNoCommandRunsMeanwhile) {
    std::string failure = "USER alice\r\nPASS guess\r\n";
    Rig rig;
    rig.feed(failure + failure + failure, 1);
    std::string before = rig.transport.sent;

    EXPECT_EQ(rig.session.on_bytes(failure), failure.size());
    ASSERT_EQ(rig.port.requests.size(), 1u);
    rig.port.requests.pop_front();
    rig.session.on_store_reply(MaildropOpened{Outcome::auth_failed, 0, {}});

    EXPECT_EQ(rig.transport.sent, before + lines({"+OK"}));  // the -ERR is held
    EXPECT_EQ(rig.transport.every_wakeup.size(), 1u);
    EXPECT_TRUE(rig.session.waiting());
    EXPECT_EQ(rig.session.on_bytes("CAPA\r\n"), 0u);

    rig.session.on_wakeup();
    EXPECT_FALSE(rig.session.waiting());
    EXPECT_EQ(rig.transport.sent, before + lines({"+OK", "-ERR [AUTH] Authentication failed"}));
}

TEST(Pop3LoginDelay, ShutdownAnswersTheHeldLoginAtOnce) {
    std::string failure = "USER alice\r\nPASS guess\r\n";
    Rig rig;
    rig.feed(failure + failure + failure, failure.size());
    std::string before = rig.transport.sent;
    rig.session.on_bytes(failure);
    rig.port.requests.pop_front();
    rig.session.on_store_reply(MaildropOpened{Outcome::auth_failed, 0, {}});
    rig.session.on_shutdown();
    EXPECT_EQ(rig.transport.sent, before + lines({"+OK", "-ERR [AUTH] Authentication failed",
                                                  "-ERR Server shutting down"}));
    EXPECT_TRUE(rig.transport.closed);
}

// ---- TRANSACTION (RFC 1939 §5, §7) --------------------------------------

TEST(Pop3Transaction, StatListAndUidlWithAndWithoutArgument) {
    expect_transcript(kLogin + "STAT\r\nLIST\r\nLIST 2\r\nUIDL\r\nUIDL 1\r\n",
                      kGreeting + kLoggedIn +
                          lines({"+OK 2 " + kTotal, "+OK 2 messages:", "1 " + kSize1, "2 " + kSize2,
                                 ".", "+OK 2 " + kSize2, "+OK", "1 uid-1", "2 uid-2", ".",
                                 "+OK 1 uid-1"}));
}

TEST(Pop3Transaction, BadMessageNumbersAreRefused) {
    expect_transcript(kLogin + "LIST 3\r\nLIST 0\r\nLIST x\r\nLIST 1 2\r\nRETR\r\nUIDL -1\r\n"
                               "TOP 1\r\nTOP 1 x\r\nSTAT 1\r\n",
                      kGreeting + kLoggedIn +
                          lines({"-ERR no such message", "-ERR no such message",
                                 "-ERR Invalid message number", "-ERR Too many arguments",
                                 "-ERR Message number required", "-ERR Invalid message number",
                                 "-ERR TOP needs a message number and a line count",
                                 "-ERR Invalid line count", "-ERR Too many arguments"}));
}

TEST(Pop3Transaction, RetrSendsTheSizeThenTheTextByteStuffed) {
    std::string input = kLogin + "RETR 1\r\nNOOP\r\n";
    expect_transcript(input, kGreeting + kLoggedIn + "+OK " + kSize1 + " octets\r\n" +
                                 kMessage1Stuffed + ".\r\n" + lines({"+OK"}));
    for_every_split(input, {}, [](Rig& rig) {
        auto reads = requests_of<ReadMessage>(rig.store.seen);
        ASSERT_EQ(reads.size(), 1u);
        EXPECT_EQ(reads[0].maildrop, 42u);
        EXPECT_EQ(reads[0].index, 0u);
        EXPECT_EQ(reads[0].top_lines, -1);
        // Only the first line of the answer is reported, never the body.
        EXPECT_EQ(rig.observer.replies.at(rig.observer.replies.size() - 2), "+OK " + kSize1 + " octets");
        EXPECT_EQ(rig.observer.replies.back(), "+OK");
    });
}

TEST(Pop3Transaction, TopZeroSendsOnlyTheHeaders) {
    expect_transcript(kLogin + "TOP 2 0\r\n",
                      kGreeting + kLoggedIn + lines({"+OK", "Subject: two", "", "."}));
}

TEST(Pop3Transaction, TopNSendsNBodyLinesStuffed) {
    std::string input = kLogin + "top 2 2\r\n";
    expect_transcript(input, kGreeting + kLoggedIn +
                                 lines({"+OK", "Subject: two", "", "line1", "..line2", "."}));
    for_every_split(input, {}, [](Rig& rig) {
        auto reads = requests_of<ReadMessage>(rig.store.seen);
        ASSERT_EQ(reads.size(), 1u);
        EXPECT_EQ(reads[0].index, 1u);
        EXPECT_EQ(reads[0].top_lines, 2);
    });
}

TEST(Pop3Transaction, DeletedMessageDisappearsFromListAndStat) {
    expect_transcript(kLogin + "DELE 1\r\nSTAT\r\nLIST\r\nUIDL\r\nLIST 1\r\nRETR 1\r\nDELE 1\r\n",
                      kGreeting + kLoggedIn +
                          lines({"+OK message 1 deleted", "+OK 1 " + kSize2, "+OK 1 messages:",
                                 "2 " + kSize2, ".", "+OK", "2 uid-2", ".", "-ERR no such message",
                                 "-ERR no such message", "-ERR no such message"}));
}

TEST(Pop3Transaction, RsetUndeletesEverything) {
    expect_transcript(kLogin + "DELE 1\r\nDELE 2\r\nRSET\r\nSTAT\r\n",
                      kGreeting + kLoggedIn +
                          lines({"+OK message 1 deleted", "+OK message 2 deleted", "+OK",
                                 "+OK 2 " + kTotal}));
}

TEST(Pop3Transaction, AuthorizationCommandsAfterLoginAreRefusedWithAReason) {
    expect_transcript(kLogin + "USER bob\r\nPASS x\r\nAPOP bob " + kDigest + "\r\n",
                      kGreeting + kLoggedIn +
                          lines({"-ERR Already logged in", "-ERR Already logged in",
                                 "-ERR Already logged in"}));
}

// ---- UPDATE (RFC 1939 §6) -----------------------------------------------

TEST(Pop3Update, QuitCommitsExactlyTheDeletedIndexes) {
    std::string input = kLogin + "DELE 2\r\nQUIT\r\nNOOP\r\n";
    expect_transcript(input, kGreeting + kLoggedIn +
                                 lines({"+OK message 2 deleted",
                                        "+OK baremail POP3 server signing off (1 messages left)"}));
    for_every_split(input, {}, [](Rig& rig) {
        EXPECT_TRUE(rig.transport.closed);
        auto closes = requests_of<CloseMaildrop>(rig.store.seen);
        ASSERT_EQ(closes.size(), 1u);
        EXPECT_TRUE(closes[0].commit);
        EXPECT_EQ(closes[0].maildrop, 42u);
        EXPECT_EQ(closes[0].deleted, (std::vector<std::uint32_t>{1}));
    });
}

TEST(Pop3Update, FailedCommitAnswersSysTemp) {
    Rig rig;
    rig.feed(kLogin, 3);
    std::string before = rig.transport.sent;
    rig.session.on_bytes("DELE 1\r\nQUIT\r\n");
    ASSERT_EQ(rig.port.requests.size(), 1u);
    rig.session.on_store_reply(MaildropClosed{Outcome::temp_failure});
    EXPECT_EQ(rig.transport.sent, before + lines({"+OK message 1 deleted",
                                                  "-ERR [SYS/TEMP] some deleted messages not removed"}));
    EXPECT_TRUE(rig.transport.closed);
}

TEST(Pop3Update, PeerClosedInTransactionReleasesWithoutCommit) {
    for_every_split(kLogin + "DELE 1\r\n", {}, [](Rig& rig) {
        rig.session.on_peer_closed();
        ASSERT_EQ(rig.port.requests.size(), 1u);
        auto* release = std::get_if<CloseMaildrop>(&rig.port.requests.front());
        ASSERT_NE(release, nullptr);
        EXPECT_FALSE(release->commit);
        EXPECT_TRUE(release->deleted.empty());
        EXPECT_EQ(release->maildrop, 42u);
    });
}

TEST(Pop3Update, PeerClosedDuringLoginReleasesTheMaildropItWon) {
    Rig rig;
    rig.session.on_bytes(kLogin);
    ASSERT_EQ(rig.port.requests.size(), 1u);
    rig.port.requests.pop_front();
    rig.session.on_peer_closed();
    rig.session.on_store_reply(rig.store.open_maildrop({"alice", "open sesame", "", ""}));
    ASSERT_EQ(rig.port.requests.size(), 1u);
    auto* release = std::get_if<CloseMaildrop>(&rig.port.requests.front());
    ASSERT_NE(release, nullptr);
    EXPECT_FALSE(release->commit);
    EXPECT_EQ(rig.transport.sent, kGreeting + lines({"+OK"}));
}

// ---- framing and pipelining ----------------------------------------------

TEST(Pop3Framing, PipelinedCommandsInOneWriteAreAnsweredInOrder) {
    std::string input = kLogin + "STAT\r\nRETR 2\r\nDELE 1\r\nLIST\r\nQUIT\r\n";
    std::string expected = kGreeting + kLoggedIn + lines({"+OK 2 " + kTotal}) + "+OK " + kSize2 +
                           " octets\r\nSubject: two\r\n\r\nline1\r\n..line2\r\nline3\r\n.\r\n" +
                           lines({"+OK message 1 deleted", "+OK 1 messages:", "2 " + kSize2, ".",
                                  "+OK baremail POP3 server signing off (1 messages left)"});
    Rig rig;
    rig.feed(input, input.size());
    EXPECT_EQ(rig.transport.sent, expected);
    expect_transcript(input, expected);
}

TEST(Pop3Framing, OverLongLineIsRefusedAndTheSessionSurvives) {
    std::string input = "USER alice\r\n" + std::string(1500, 'x') + "\r\nCAPA\r\n";
    Rig rig;
    rig.feed(input, 1);
    EXPECT_EQ(rig.transport.sent,
              kGreeting + lines({"+OK", "-ERR Line too long", "+OK Capability list follows", "TOP",
                                 "USER", "UIDL", "RESP-CODES", "AUTH-RESP-CODE", "PIPELINING",
                                 "IMPLEMENTATION baremail", "."}));
    for (std::size_t step : {7u, 999u, 1000u, 1600u}) {
        Rig again;
        again.feed(input, step);
        EXPECT_EQ(again.transport.sent, rig.transport.sent) << "step " << step;
    }
}

TEST(Pop3Capa, ListsTheSameCapabilitiesInBothStates) {
    std::string capa = lines({"+OK Capability list follows", "TOP", "USER", "UIDL", "RESP-CODES",
                              "AUTH-RESP-CODE", "PIPELINING", "IMPLEMENTATION baremail", "."});
    expect_transcript("CAPA\r\n" + kLogin + "capa\r\n", kGreeting + capa + kLoggedIn + capa);
}

// ---- ending the session --------------------------------------------------

TEST(Pop3Shutdown, PendingRetrIsAnsweredBeforeTheShutdownLine) {
    Rig rig;
    rig.feed(kLogin, 5);
    std::string before = rig.transport.sent;
    rig.session.on_bytes("RETR 1\r\nNOOP\r\n");
    ASSERT_EQ(rig.port.requests.size(), 1u);
    StoreRequest read = rig.port.requests.front();
    rig.port.requests.pop_front();

    rig.session.on_shutdown();
    EXPECT_EQ(rig.transport.sent, before);
    EXPECT_FALSE(rig.transport.closed);

    rig.session.on_store_reply(rig.store.answer(read));
    EXPECT_EQ(rig.transport.sent, before + "+OK " + kSize1 + " octets\r\n" + kMessage1Stuffed +
                                      ".\r\n-ERR Server shutting down\r\n");
    EXPECT_TRUE(rig.transport.closed);
    ASSERT_EQ(rig.port.requests.size(), 1u);
    auto* release = std::get_if<CloseMaildrop>(&rig.port.requests.front());
    ASSERT_NE(release, nullptr);
    EXPECT_FALSE(release->commit);
}

TEST(Pop3Shutdown, IdleSessionGetsExactlyTheShutdownLine) {
    Rig rig;
    rig.session.on_shutdown();
    EXPECT_EQ(rig.transport.sent, kGreeting + "-ERR Server shutting down\r\n");
    EXPECT_TRUE(rig.transport.closed);
    EXPECT_TRUE(rig.port.requests.empty());
}

TEST(Pop3IdleTimeout, AutologoutReleasesWithoutDeleting) {
    Rig rig;
    rig.feed(kLogin + "DELE 1\r\n", 4);
    std::string before = rig.transport.sent;
    rig.session.on_idle_timeout();
    EXPECT_EQ(rig.transport.sent, before + "-ERR Autologout; idle for too long\r\n");
    EXPECT_TRUE(rig.transport.closed);
    ASSERT_EQ(rig.port.requests.size(), 1u);
    auto* release = std::get_if<CloseMaildrop>(&rig.port.requests.front());
    ASSERT_NE(release, nullptr);
    EXPECT_FALSE(release->commit);
    EXPECT_TRUE(release->deleted.empty());
}

// ---- streaming RETR / TOP ------------------------------------------------

namespace {

// A send queue of `bound` octets that the test drains by hand, as a TCB's
// ring or the kernel build's buffer does when the peer reads.
class DrainingTransport : public harness::RecordingTransport {
public:
    explicit DrainingTransport(std::size_t bound) : bound_(bound) {}
    std::size_t send_room() const override {
        std::size_t queued = sent.size() - drained;
        return queued < bound_ ? bound_ - queued : 0;
    }
    std::size_t queued() const { return sent.size() - drained; }
    std::size_t drained = 0;

private:
    std::size_t bound_;
};

// Lines of 60 octets, every seventh starting with a dot: about `size` octets.
std::string big_message(std::size_t size) {
    std::string text = "Subject: big\r\n\r\n";
    for (std::size_t i = 0; text.size() < size; ++i)
        text += (i % 7 == 0 ? "." : "x") + std::string(57, char('a' + i % 26)) + "\r\n";
    return text;
}

std::string stuffed(const std::string& text) {
    std::string out;
    bool line_start = true;
    for (char c : text) {
        if (line_start && c == '.') out += '.';
        out += c;
        line_start = c == '\n';
    }
    return out;
}

}  // namespace

TEST(Pop3Stream, PiecesOfAnySizeGiveTheSameBytes) {
    std::string input = kLogin + "RETR 1\r\nTOP 2 2\r\nNOOP\r\n";
    std::string expected = kGreeting + kLoggedIn + "+OK " + kSize1 + " octets\r\n" +
                           kMessage1Stuffed + ".\r\n" +
                           lines({"+OK", "Subject: two", "", "line1", "..line2", ".", "+OK"});
    for (std::size_t piece = 1; piece <= kMessage1.size() + 1; ++piece) {
        SCOPED_TRACE("pieces of " + std::to_string(piece));
        FakeStore store;
        store.piece = piece;
        Rig rig(store);
        rig.feed(input, input.size());
        EXPECT_EQ(rig.transport.sent, expected);
        // The pieces are asked for in order, each where the last one ended.
        std::uint64_t next = 0;
        for (const ReadMessage& read : requests_of<ReadMessage>(rig.store.seen)) {
            if (read.index != 0) break;
            EXPECT_EQ(read.offset, next);
            next += std::min<std::uint64_t>(piece, kMessage1.size() - read.offset);
        }
        EXPECT_EQ(next, kMessage1.size());
    }
}

TEST(Pop3Stream, NextPieceWaitsForRoomAndTheQueueStaysBounded) {
    constexpr std::size_t bound = 64 * 1024;
    FakeStore store;
    store.first = big_message(1024 * 1024);
    DrainingTransport transport(bound);
    harness::QueuedMailPort port;
    harness::RecordingObserver observer;
    Pop3Config config = test_config();
    Pop3Server session{config, test_peer(), transport, port, observer};
    session.start();
    std::string input = kLogin + "RETR 1\r\nNOOP\r\n";
    std::size_t taken = 0, reads = 0, most_queued = 0;
    for (int turn = 0; turn < 10000 && !transport.closed; ++turn) {
        taken += session.on_bytes(std::string_view(input).substr(taken));
        if (!port.requests.empty()) {
            StoreRequest request = std::move(port.requests.front());
            port.requests.pop_front();
            if (auto* read = std::get_if<ReadMessage>(&request)) {
                ++reads;
                EXPECT_LE(read->max_bytes, 64u * 1024);
            }
            session.on_store_reply(store.answer(request));
            most_queued = std::max(most_queued, transport.queued());
            continue;
        }
        if (taken == input.size() && !session.waiting()) break;
        // Nothing asked: the peer reads half the queue, as ACKs would free it.
        std::size_t was = transport.queued();
        transport.drained += was - std::min(was, bound / 2);
        if (was > bound / 2) session.on_writable();
    }
    std::string total = std::to_string(store.first.size() + kMessage2.size());
    std::string expected = kGreeting + lines({"+OK", "+OK Logged in, 2 messages (" + total + " octets)"}) +
                           "+OK " + std::to_string(store.first.size()) + " octets\r\n" +
                           stuffed(store.first) + ".\r\n+OK\r\n";
    EXPECT_TRUE(transport.sent == expected);  // 1 MiB: no diff printed
    EXPECT_GT(reads, 1024u * 1024 / (64 * 1024));  // pieces, not one read
    // Never more queued than the bound plus one piece and its stuffing.
    EXPECT_LE(most_queued, bound + 64 * 1024 + 64 * 1024 / 59 + 64);
}

TEST(Pop3Stream, ReadFailureBeforeAnyTextAnswersErrAndGoesOn) {
    FakeStore store;
    store.fail = Outcome::temp_failure;
    expect_transcript(kLogin + "RETR 1\r\nNOOP\r\n",
                      kGreeting + kLoggedIn +
                          lines({"-ERR [SYS/TEMP] Message could not be read, try again later", "+OK"}),
                      store);
}

TEST(Pop3Stream, ReadFailureMidMessageDropsTheConnectionWithoutTheTerminator) {
    FakeStore store;
    store.piece = 10;
    store.fail = Outcome::temp_failure;
    store.fail_at = 20;
    Rig rig(store);
    rig.feed(kLogin + "RETR 1\r\nNOOP\r\n", 1000);
    EXPECT_TRUE(rig.transport.closed);
    EXPECT_EQ(rig.transport.sent, kGreeting + kLoggedIn + "+OK " + kSize1 + " octets\r\n" +
                                      kMessage1Stuffed.substr(0, 20));
    auto closes = requests_of<CloseMaildrop>(rig.store.seen);
    ASSERT_EQ(closes.size(), 1u);
    EXPECT_FALSE(closes[0].commit);
    EXPECT_EQ(rig.observer.events.back(), "read-failed message 1 at octet 20");
}

TEST(Pop3Stream, ShutdownWhileWaitingForRoomCutsTheStreamAndReleasesTheMaildrop) {
    FakeStore store;
    store.first = big_message(300 * 1024);
    Rig rig(store);
    rig.transport.room = 4 * 1024;  // room for the first piece only
    rig.feed(kLogin, kLogin.size());
    rig.transport.room = 0;
    rig.feed("RETR 1\r\n", 100);
    ASSERT_TRUE(rig.session.waiting());
    std::size_t sent = rig.transport.sent.size();
    rig.session.on_shutdown();
    EXPECT_TRUE(rig.transport.closed);
    EXPECT_EQ(rig.transport.sent.size(), sent);  // no -ERR inside the message text
    ASSERT_EQ(rig.port.requests.size(), 1u);
    auto* release = std::get_if<CloseMaildrop>(&rig.port.requests.front());
    ASSERT_NE(release, nullptr);
    EXPECT_FALSE(release->commit);
    EXPECT_EQ(rig.observer.events.back(), "stream-cut Server shutting down");
}

TEST(Pop3Stream, MissingFinalCrlfIsAddedBeforeTheTerminator) {
    FakeStore store;
    store.first = "Subject: x\r\n\r\n.no end";
    store.piece = 3;
    expect_transcript(kLogin + "RETR 1\r\n",
                      kGreeting + lines({"+OK", "+OK Logged in, 2 messages (" +
                                                    std::to_string(store.first.size() + kMessage2.size()) +
                                                    " octets)"}) +
                          lines({"+OK " + std::to_string(store.first.size()) + " octets", "Subject: x",
                                 "", "..no end", "."}),
                      store);
}
