// Echo service transcripts (SPEC, seed milestone), replayed split at every
// byte position and checked against the exact reply text.
#include "apps/echo_server.hpp"

#include <gtest/gtest.h>

#include <initializer_list>
#include <string>
#include <vector>

#include "apps/tests/session_harness.hpp"

namespace harness = bm::apps::testing;
using bm::apps::EchoServer;
using bm::apps::Peer;
using bm::apps::StoreReply;
using bm::apps::StoreRequest;

namespace {

std::string lines(std::initializer_list<std::string> each) {
    std::string out;
    for (const std::string& line : each) out += line + "\r\n";
    return out;
}

const std::string kGreeting = lines({"+OK Server ready (baremail)"});

struct Rig {
    Rig() { session.start(); }
    void feed(std::string_view input, std::size_t step) {
        harness::feed(session, transport, port, input, step, [](const StoreRequest&) -> StoreReply {
            ADD_FAILURE() << "the echo service never asks the store";
            return {};
        });
    }
    harness::RecordingTransport transport;
    harness::QueuedMailPort port;
    harness::RecordingObserver observer;
    EchoServer session{Peer{}, transport, observer};
};

void expect_transcript(std::string_view input, const std::string& expected) {
    for (std::size_t step = 1; step <= input.size(); ++step) {
        Rig rig;
        rig.feed(input, step);
        ASSERT_EQ(rig.transport.sent, expected) << "split every " << step << " bytes";
    }
}

}  // namespace

TEST(EchoSeed, EchoUnknownAndQuitTranscript) {
    std::string input = "ECHO Hello world\r\nTEST unsupported\r\nQUIT\r\n";
    expect_transcript(input, kGreeting + lines({"+OK Hello world", "-ERR Unknown command",
                                                "+OK Goodbye!"}));
    Rig rig;
    rig.feed(input, 5);
    EXPECT_TRUE(rig.transport.closed);
    EXPECT_EQ(rig.observer.commands,
              (std::vector<std::string>{"ECHO Hello world", "TEST unsupported", "QUIT"}));
    EXPECT_EQ(rig.observer.replies,
              (std::vector<std::string>{"+OK Server ready (baremail)", "+OK Hello world",
                                        "-ERR Unknown command", "+OK Goodbye!"}));
}

TEST(EchoSeed, PipelinedCommandsInOneWriteAreAnsweredInOrderAndNothingAfterQuit) {
    std::string input = "echo one\r\nEcHo two  spaces\r\nNOPE\r\nquit\r\nECHO late\r\n";
    Rig rig;
    rig.feed(input, input.size());
    EXPECT_EQ(rig.transport.sent, kGreeting + lines({"+OK one", "+OK two  spaces",
                                                     "-ERR Unknown command", "+OK Goodbye!"}));
    expect_transcript(input, rig.transport.sent);
}

TEST(EchoSeed, KeywordIsReplacedByOkAndTheRestComesBackAsSent) {
    expect_transcript("ECHO\r\nECHO \r\nECHOX\r\nECHO\tTab\r\n",
                      kGreeting + lines({"+OK", "+OK ", "-ERR Unknown command",
                                         "-ERR Unknown command"}));
}

TEST(EchoSeed, BareLfEndsALineToo) {
    expect_transcript("ECHO a\nQUIT\n", kGreeting + lines({"+OK a", "+OK Goodbye!"}));
}

TEST(EchoSeed, OverLongLineIsRefusedAndTheSessionSurvives) {
    std::string input = std::string(2500, 'e') + "\r\nECHO still here\r\n";
    for (std::size_t step : {1u, 3u, 998u, 1000u, 1001u, 4096u}) {
        Rig rig;
        rig.feed(input, step);
        EXPECT_EQ(rig.transport.sent,
                  kGreeting + lines({"-ERR Line too long", "+OK still here"}))
            << "step " << step;
    }
}

TEST(EchoSeed, IdleTimeoutSaysSoAndCloses) {
    Rig rig;
    rig.feed("ECHO x\r\n", 1);
    rig.session.on_idle_timeout();
    EXPECT_EQ(rig.transport.sent, kGreeting + lines({"+OK x", "-ERR Timeout"}));
    EXPECT_TRUE(rig.transport.closed);
}

TEST(EchoSeed, ShutdownSendsExactlyTheShutdownLineAndCloses) {
    Rig rig;
    rig.session.on_shutdown();
    EXPECT_EQ(rig.transport.sent, kGreeting + lines({"-ERR Server shutting down"}));
    EXPECT_TRUE(rig.transport.closed);
    EXPECT_FALSE(rig.session.waiting());
}

TEST(EchoSeed, NothingIsSentAfterThePeerLeft) {
    Rig rig;
    rig.session.on_peer_closed();
    rig.session.on_shutdown();
    EXPECT_EQ(rig.session.on_bytes("ECHO x\r\n"), 8u);
    EXPECT_EQ(rig.transport.sent, kGreeting);
}
