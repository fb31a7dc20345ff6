// The SMTP receiver's alias expansion at RCPT (SPEC --aliases, RFC 5321
// §4.5.1 postmaster) and its loop detection after DATA (RFC 5321 §6.3,
// --max-hops): replies, what reaches the store, and what never does.
#include <gtest/gtest.h>

#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "apps/aliases.hpp"
#include "apps/ascii.hpp"
#include "apps/smtp_server.hpp"
#include "apps/ipv4_text.hpp"
#include "apps/tests/session_harness.hpp"

using namespace bm::apps;
using namespace bm::apps::testing;

namespace {

// The fake store: these mailboxes exist; "tempfail" fails for now.
const std::set<std::string> mailboxes = {"alice", "bob", "postmaster"};

struct Result {
    std::string sent;
    std::vector<std::string> lookups;
    std::vector<Envelope> delivered;
    std::vector<std::string> events;
    std::map<std::uint64_t, std::string> open_spools;
    std::size_t chunks = 0;
};

StoreReply answer(Result& run, const StoreRequest& request) {
    if (const auto* lookup = std::get_if<LookupUser>(&request)) {
        run.lookups.push_back(lookup->local_part);
        if (lookup->local_part == "tempfail") return UserFound{Outcome::temp_failure, {}};
        if (mailboxes.count(lookup->local_part)) return UserFound{Outcome::ok, lookup->local_part};
        return UserFound{Outcome::not_found, {}};
    }
    if (const auto* chunk = std::get_if<SpoolChunk>(&request)) {
        ++run.chunks;
        std::uint64_t id = chunk->spool ? chunk->spool : run.chunks;
        run.open_spools[id] += chunk->bytes;
        return Spooled{Outcome::ok, id};
    }
    if (const auto* drop = std::get_if<DropSpool>(&request)) {
        EXPECT_EQ(run.open_spools.erase(drop->spool), 1u);
        return SpoolDropped{};
    }
    if (const auto* deliver = std::get_if<Deliver>(&request)) {
        run.open_spools.erase(deliver->spool);
        run.delivered.push_back(deliver->envelope);
        return Delivered{Outcome::ok, {}};
    }
    ADD_FAILURE() << "unexpected store request";
    return Delivered{};
}

struct Rig {
    SmtpConfig config;
    Peer peer{*bm::parse_ipv4("10.99.0.7"), 40000, *bm::parse_ipv4("10.99.0.1"), false, 1};
    std::shared_ptr<AliasBook> book = std::make_shared<AliasBook>();

    explicit Rig(std::string_view aliases = {}) {
        config.hostname = "mx.example";
        config.local_domains = {"mx.example", "localhost"};
        config.header_fill = false;  // the stored text is the client's
        config.aliases = book;
        auto parsed = AliasTable::parse(aliases);
        EXPECT_TRUE(std::holds_alternative<AliasTable>(parsed));
        if (auto* table = std::get_if<AliasTable>(&parsed)) book->replace(std::move(*table));
    }

    Result run(std::string_view input, std::size_t step = std::size_t(-1)) const {
        RecordingTransport transport;
        QueuedMailPort port;
        RecordingObserver observer;
        SmtpServer session(config, peer, transport, port, observer);
        Result result;
        session.start();
        feed(session, transport, port, input, std::min(step, std::max<std::size_t>(input.size(), 1)),
             [&](const StoreRequest& request) { return answer(result, request); });
        result.sent = transport.sent;
        result.events = observer.events;
        return result;
    }
};

// The reply lines after the greeting, without CRLF.
std::vector<std::string> replies(const Result& run) {
    std::vector<std::string> lines;
    std::string_view rest = run.sent;
    while (!rest.empty()) {
        std::size_t eol = rest.find("\r\n");
        lines.emplace_back(rest.substr(0, eol));
        rest.remove_prefix(eol == std::string_view::npos ? rest.size() : eol + 2);
    }
    if (!lines.empty()) lines.erase(lines.begin());
    return lines;
}

using Lines = std::vector<std::string>;

std::vector<std::pair<std::string, std::string>> recipients_of(const Envelope& envelope) {
    std::vector<std::pair<std::string, std::string>> out;
    for (const Recipient& r : envelope.recipients) out.emplace_back(r.address, r.mailbox);
    return out;
}
using Pairs = std::vector<std::pair<std::string, std::string>>;

bool any_event_has(const Result& run, std::string_view part) {
    for (const std::string& e : run.events)
        if (e.find(part) != std::string::npos) return true;
    return false;
}

std::string with_received(int count, std::string_view rest = "Subject: x\r\n\r\nhello\r\n") {
    std::string m;
    for (int i = 0; i < count; ++i) m += "Received: from h" + std::to_string(i) + " by mx; Fri, 4 Dec 2026\r\n";
    return m + std::string(rest);
}

std::string one_message(std::string_view rcpt, const std::string& message) {
    return "HELO c\r\nMAIL FROM:<s@client.test>\r\nRCPT TO:<" + std::string(rcpt) + ">\r\nDATA\r\n" +
           message + ".\r\nQUIT\r\n";
}

}  // namespace

// ---- aliases ------------------------------------------------------------------

TEST(SmtpAliases, AnAliasDeliversToEachMemberOnceAndQueuesItsRemoteOnes) {
    Rig setup("team: alice, bob, Alice, carol@example.org, alice@mx.example\n");
    Result run = setup.run(
        "EHLO c\r\nMAIL FROM:<s@client.test>\r\nRCPT TO:<Team@MX.example>\r\n"
        "RCPT TO:<alice@mx.example>\r\nDATA\r\nSubject: x\r\n\r\nhi\r\n.\r\nQUIT\r\n");
    EXPECT_EQ(replies(run)[7], "250 2.1.5 Ok");
    EXPECT_EQ(replies(run)[8], "250 2.1.5 Ok");
    ASSERT_EQ(run.delivered.size(), 1u);
    // The client is not in --relay-from: the remote member is queued all
    // the same, the alias's owner allowed it. alice, named thrice, once.
    EXPECT_EQ(recipients_of(run.delivered[0]), (Pairs{{"carol@example.org", ""},
                                                      {"Team@mx.example", "alice"},
                                                      {"Team@mx.example", "bob"}}));
    EXPECT_EQ(run.lookups, (Lines{"alice", "bob", "alice"}));
}

TEST(SmtpAliases, ARemoteRecipientOfTheClientItselfStillNeedsRelayRights) {
    Rig setup("team: carol@example.org\n");
    Result run = setup.run("HELO c\r\nMAIL FROM:<s@client.test>\r\nRCPT TO:<carol@example.org>\r\nQUIT\r\n");
    EXPECT_EQ(replies(run)[2], "554 <carol@example.org>: Relay access denied");
}

TEST(SmtpAliases, PostmasterInAnyCaseWithOrWithoutADomainGoesToItsAlias) {
    Rig setup("postmaster: alice\n");
    for (std::string rcpt : {"postmaster", "POSTMASTER", "PostMaster@localhost", "postmaster@[10.99.0.1]"}) {
        Result run = setup.run(one_message(rcpt, "Subject: x\r\n\r\nhi\r\n"));
        EXPECT_EQ(replies(run)[2], "250 OK") << rcpt;
        ASSERT_EQ(run.delivered.size(), 1u) << rcpt;
        ASSERT_EQ(run.delivered[0].recipients.size(), 1u);
        EXPECT_TRUE(iequals(run.delivered[0].recipients[0].address, rcpt)) << rcpt;
        EXPECT_EQ(run.delivered[0].recipients[0].mailbox, "alice");
    }
}

TEST(SmtpAliases, PostmasterWithoutAnAliasIsItsMailbox) {
    Rig setup("team: bob\n");
    Result run = setup.run(one_message("Postmaster", "Subject: x\r\n\r\nhi\r\n"));
    EXPECT_EQ(run.lookups, (Lines{"postmaster"}));
    ASSERT_EQ(run.delivered.size(), 1u);
    EXPECT_EQ(recipients_of(run.delivered[0]), (Pairs{{"postmaster", "postmaster"}}));
}

TEST(SmtpAliases, UnknownMembersAreLoggedAndSkippedAnAliasOfNoneIsUnknown) {
    Rig setup("some: nobody, bob\nnone: nobody, ghost\n");
    Result some = setup.run(one_message("some@localhost", "Subject: x\r\n\r\nhi\r\n"));
    EXPECT_EQ(replies(some)[2], "250 OK");
    ASSERT_EQ(some.delivered.size(), 1u);
    EXPECT_EQ(recipients_of(some.delivered[0]), (Pairs{{"some@localhost", "bob"}}));
    EXPECT_TRUE(any_event_has(some, "member=nobody reason=user unknown")) << some.events.size();

    Result none = setup.run("EHLO c\r\nMAIL FROM:<s@client.test>\r\nRCPT TO:<none@localhost>\r\nQUIT\r\n");
    EXPECT_EQ(replies(none)[7], "550 5.1.1 <none@localhost>: Recipient address rejected: User unknown");
    EXPECT_TRUE(none.delivered.empty());
}

TEST(SmtpAliases, AChainTooDeepIsRefusedAsARoutingLoop) {
    std::string text;
    for (std::size_t i = 0; i <= max_alias_depth; ++i)
        text += "a" + std::to_string(i) + ": a" + std::to_string(i + 1) + "\n";
    Rig setup(text);
    Result run = setup.run("EHLO c\r\nMAIL FROM:<s@client.test>\r\nRCPT TO:<a0@localhost>\r\nQUIT\r\n");
    EXPECT_EQ(replies(run)[7], "550 5.4.6 <a0@localhost>: Recipient address rejected: alias expansion too deep");
    EXPECT_TRUE(run.lookups.empty());
}

TEST(SmtpAliases, ATemporaryLookupFailureOfAMemberFailsTheRecipientForNow) {
    Rig setup("team: alice, tempfail, bob\n");
    Result run = setup.run("EHLO c\r\nMAIL FROM:<s@client.test>\r\nRCPT TO:<team@localhost>\r\nDATA\r\nQUIT\r\n");
    EXPECT_EQ(replies(run)[7], "451 4.3.0 <team@localhost>: Temporary lookup failure");
    EXPECT_EQ(replies(run)[8], "503 5.5.1 Error: need RCPT command");
    EXPECT_EQ(run.lookups, (Lines{"alice", "tempfail"}));
}

TEST(SmtpAliases, PipelinedRecipientsSplitAnywhereGiveTheSameReplies) {
    Rig setup("team: alice, bob, remote@example.org\nroot: root, bob\n");
    std::string input =
        "EHLO c\r\nMAIL FROM:<s@client.test>\r\nRCPT TO:<team@localhost>\r\nRCPT TO:<nobody@localhost>\r\n"
        "RCPT TO:<root@localhost>\r\nRCPT TO:<bob@localhost>\r\nDATA\r\nSubject: x\r\n\r\nhi\r\n.\r\nQUIT\r\n";
    Result whole = setup.run(input);
    for (std::size_t step = 1; step < input.size(); ++step) {
        Result split = setup.run(input, step);
        ASSERT_EQ(split.sent, whole.sent) << "step " << step;
        ASSERT_EQ(split.delivered.size(), 1u);
        ASSERT_EQ(recipients_of(split.delivered[0]), recipients_of(whole.delivered[0]));
    }
    // root: root (no mailbox: unknown member) and bob; bob already came with team.
    EXPECT_EQ(recipients_of(whole.delivered[0]), (Pairs{{"remote@example.org", ""},
                                                        {"team@localhost", "alice"},
                                                        {"team@localhost", "bob"}}));
}

TEST(SmtpAliases, AReloadedTableServesTheNextRecipient) {
    Rig setup("team: alice\n");
    EXPECT_EQ(setup.run(one_message("team@localhost", "\r\nhi\r\n")).lookups, (Lines{"alice"}));
    setup.book->replace(std::get<AliasTable>(AliasTable::parse("team: bob\n")));
    EXPECT_EQ(setup.run(one_message("team@localhost", "\r\nhi\r\n")).lookups, (Lines{"bob"}));
}

TEST(SmtpAliases, WithoutATableANameIsItsMailbox) {
    Rig setup;
    setup.config.aliases = nullptr;
    Result run = setup.run(one_message("bob@localhost", "\r\nhi\r\n"));
    EXPECT_EQ(run.lookups, (Lines{"bob"}));
    EXPECT_EQ(run.delivered.size(), 1u);
}

// ---- loop detection ------------------------------------------------------------

TEST(SmtpHops, AHundredReceivedFieldsPassAHundredAndOneAreALoop) {
    Rig setup;
    Result hundred = setup.run(one_message("alice@localhost", with_received(100)));
    EXPECT_EQ(replies(hundred)[4], "250 OK");
    EXPECT_EQ(hundred.delivered.size(), 1u);

    Result loop = setup.run(one_message("alice@localhost", with_received(101)));
    EXPECT_EQ(replies(loop)[4], "554 Too many hops");
    EXPECT_TRUE(loop.delivered.empty());
    EXPECT_TRUE(any_event_has(loop, "reason=too many hops")) << loop.events.size();
    EXPECT_EQ(replies(loop)[5], "221 mx.example closing connection");
}

TEST(SmtpHops, TheEnhancedCodeIsX46AndTheSessionGoesOn) {
    Rig setup;
    setup.config.max_hops = 2;
    std::string input = "EHLO c\r\nMAIL FROM:<s@client.test>\r\nRCPT TO:<alice@localhost>\r\nDATA\r\n" +
                        with_received(3) + ".\r\nMAIL FROM:<s@client.test>\r\nRCPT TO:<bob@localhost>\r\nDATA\r\n" +
                        with_received(2) + ".\r\nQUIT\r\n";
    Result whole = setup.run(input);
    Lines r = replies(whole);
    EXPECT_EQ(r[9], "554 5.4.6 Too many hops");
    EXPECT_EQ(r[13], "250 2.0.0 Ok: queued as 0.1.1");
    ASSERT_EQ(whole.delivered.size(), 1u);
    EXPECT_EQ(whole.delivered[0].recipients[0].mailbox, "bob");
    for (std::size_t step = 1; step < input.size(); ++step) ASSERT_EQ(setup.run(input, step).sent, whole.sent);
}

TEST(SmtpHops, OnlyTheHeaderSectionCountsWithOrWithoutHeaderFill) {
    Rig setup;
    setup.config.max_hops = 1;
    std::string body_fields = with_received(1, "Subject: x\r\n\r\n") + with_received(5);
    for (bool fill : {false, true}) {
        setup.config.header_fill = fill;
        EXPECT_EQ(setup.run(one_message("alice@localhost", body_fields)).delivered.size(), 1u) << fill;
        EXPECT_TRUE(setup.run(one_message("alice@localhost", with_received(2))).delivered.empty()) << fill;
    }
}

// A big message goes to the store in chunks as it arrives: the loop is
// known from its header, so its spool is dropped and nothing is kept.
TEST(SmtpHops, ASpooledLoopingMessageLeavesNoSpool) {
    Rig setup;
    std::string line(998, 'x');
    std::string body;
    while (body.size() < 3 * spool_chunk_size) body += line + "\r\n";
    Result run = setup.run(one_message("alice@localhost", with_received(101, "Subject: big\r\n\r\n" + body)), 64 * 1024);
    EXPECT_EQ(replies(run)[4], "554 Too many hops");
    EXPECT_TRUE(run.delivered.empty());
    EXPECT_TRUE(run.open_spools.empty());

    Result fine = setup.run(one_message("alice@localhost", with_received(100, "Subject: big\r\n\r\n" + body)), 64 * 1024);
    EXPECT_EQ(replies(fine)[4], "250 OK");
    EXPECT_GT(fine.chunks, 0u);
}
