// The event log: every field escaped so no input can forge or break a
// line, and security lines kept when a flood fills the writer's ring.
#include "dataplane/common/event_log.hpp"

#include <gtest/gtest.h>

#include <fcntl.h>
#include <string>
#include <thread>
#include <utility>
#include <unistd.h>

#include "dataplane/common/log_writer.hpp"
#include "dataplane/common/store_log.hpp"
#include "store/log.hpp"

namespace bm {
namespace {

TEST(EscapeLogField, PrintableAsciiAndUtf8PassUnchanged) {
    EXPECT_EQ(escape_log_field("user=<bob> reason=relay access denied"), "user=<bob> reason=relay access denied");
    EXPECT_EQ(escape_log_field("Grüße, 日本, 𝄞"), "Grüße, 日本, 𝄞");
    EXPECT_EQ(escape_log_field(""), "");
}

TEST(EscapeLogField, LineBreaksAndControlsBecomeHexEscapes) {
    EXPECT_EQ(escape_log_field("mx.example\n2026-01-01T00:00:00.000Z pop3 10.0.0.9:1 auth-failed"),
              "mx.example\\x0a2026-01-01T00:00:00.000Z pop3 10.0.0.9:1 auth-failed");
    EXPECT_EQ(escape_log_field("250 ok\rforged"), "250 ok\\x0dforged");
    EXPECT_EQ(escape_log_field(std::string("a\0b", 3)), "a\\x00b");
    EXPECT_EQ(escape_log_field("\t\x1b[31m\x7f"), "\\x09\\x1b[31m\\x7f");
}

TEST(EscapeLogField, BackslashIsEscapedSoEscapesCannotBeImitated) {
    EXPECT_EQ(escape_log_field("\\x0a"), "\\x5cx0a");
}

TEST(EscapeLogField, MalformedUtf8AndC1ControlsAreEscapedOctetByOctet) {
    EXPECT_EQ(escape_log_field("\xff\xfe"), "\\xff\\xfe");
    EXPECT_EQ(escape_log_field("\xc3"), "\\xc3");                  // cut short
    EXPECT_EQ(escape_log_field("\xc3("), "\\xc3(");                // bad continuation
    EXPECT_EQ(escape_log_field("\xc0\xaf"), "\\xc0\\xaf");         // overlong '/'
    EXPECT_EQ(escape_log_field("\xe0\x80\xaf"), "\\xe0\\x80\\xaf"); // overlong
    EXPECT_EQ(escape_log_field("\xed\xa0\x80"), "\\xed\\xa0\\x80"); // surrogate D800
    EXPECT_EQ(escape_log_field("\xf4\x90\x80\x80"), "\\xf4\\x90\\x80\\x80");  // past U+10FFFF
    EXPECT_EQ(escape_log_field("\xc2\x85"), "\\xc2\\x85");         // NEL, a C1 control
    EXPECT_EQ(escape_log_field("\xc2\xa0"), "\xc2\xa0");           // NBSP is text
}

TEST(EscapeLogField, EveryOctetEitherPassesOrIsEscapedAndNothingIsLost) {
    // Every single octet: output is one of the two forms, never a control.
    for (int b = 0; b < 256; ++b) {
        std::string in(1, char(b));
        std::string out = escape_log_field(in);
        bool plain = b >= 0x20 && b < 0x7f && b != '\\';
        if (plain) {
            EXPECT_EQ(out, in) << b;
        } else {
            ASSERT_EQ(out.size(), 4u) << b;
            EXPECT_EQ(std::stoi(out.substr(2), nullptr, 16), b);
        }
    }
}

TEST(EscapeLogField, RoomIsNeverOverrunAndAnEscapeIsNeverCut) {
    char out[6];
    EXPECT_EQ(escape_log_field("ab\ncd", out, sizeof out), 6u);
    EXPECT_EQ(std::string(out, 6), "ab\\x0a");
    EXPECT_EQ(escape_log_field("abc\n", out, 5), 3u);  // "\x0a" does not fit whole
    EXPECT_EQ(escape_log_field("a日", out, 3), 1u);     // nor does a 3-octet character
}

struct Pipe {
    Pipe() { EXPECT_EQ(::pipe(fds), 0); }
    ~Pipe() {
        ::close(fds[0]);
        if (fds[1] >= 0) ::close(fds[1]);
    }
    std::string path() const { return "/dev/fd/" + std::to_string(fds[1]); }
    int fds[2];
};

std::string read_available(int fd) {
    std::string out;
    char buf[65536];
    ::fcntl(fd, F_SETFL, O_NONBLOCK);
    for (ssize_t n; (n = ::read(fd, buf, sizeof buf)) > 0;) out.append(buf, std::size_t(n));
    return out;
}

std::size_t count(const std::string& text, std::string_view what) {
    std::size_t n = 0;
    for (std::size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
    return n;
}

TEST(EventLog, FieldsAreEscapedSoALineCannotBeForged) {
    Pipe pipe;
    {
        EventLog log;
        log.open(pipe.path(), false);
        log.event("relay", "-", "deferred", "mx=evil.example\n2026-01-01T00:00:00.000Z pop3 10.0.0.9:1 auth-failed");
        log.event("relay", "10.0.0.1:25", "reply", "550 no\rsuch");
    }
    std::string out = read_available(pipe.fds[0]);
    EXPECT_EQ(count(out, "\n"), 2u) << out;
    EXPECT_EQ(out.find('\r'), std::string::npos);
    EXPECT_NE(out.find("mx=evil.example\\x0a2026"), std::string::npos) << out;
    EXPECT_NE(out.find(" relay 10.0.0.1:25 reply 550 no\\x0dsuch\n"), std::string::npos) << out;
}

TEST(EventLog, DebugLinesAreEscapedToo) {
    Pipe pipe;
    {
        EventLog log;
        log.open(pipe.path(), true);
        log.detach_from_terminal();
        log.debug_line("C: ", 7, "EHLO x\r\nMAIL");
    }
    EXPECT_EQ(read_available(pipe.fds[0]), "[7] C: EHLO x\\x0d\\x0aMAIL\n");
}

// The store's lines (a file name may hold any octet) reach the log file
// as one escaped field each, even with the log's writer in use (from
// another thread than its one producer: written by the caller).
TEST(StoreLogLink, AStoreLineWithControlsLandsInTheLogEscaped) {
    Pipe pipe;
    {
        EventLog log;
        log.open(pipe.path(), false);
        LogWriter writer;
        log.write_through(&writer);
        StoreLogLink link(log);
        std::thread worker([] { store::log_line("rename /q/tmp/a\r\nforged\x1b[2J: EIO"); });
        worker.join();
    }
    std::string out = read_available(pipe.fds[0]);
    EXPECT_EQ(count(out, "\n"), 1u) << out;
    EXPECT_NE(out.find(" store - store rename /q/tmp/a\\x0d\\x0aforged\\x1b[2J: EIO\n"), std::string::npos) << out;
}

// Without a server's log (the link gone, or never made) the store writes
// to stderr, escaped with the same function.
TEST(StoreLogLink, GoneTheDefaultStderrLineIsEscapedToo) {
    Pipe pipe;
    {
        EventLog log;
        log.open(pipe.path(), false);
        StoreLogLink link(log);
    }
    testing::internal::CaptureStderr();
    store::log_line("queue file x\ny");
    std::string err = testing::internal::GetCapturedStderr();
    EXPECT_EQ(err, "baremail store: queue file x\\x0ay\n");
    EXPECT_EQ(read_available(pipe.fds[0]), "");
}

// Blocks the writer thread: fills the pipe so its first write waits.
std::size_t fill(int fd) {
    ::fcntl(fd, F_SETFL, O_NONBLOCK);
    std::string filler(4096, 'x');
    std::size_t filled = 0;
    for (ssize_t n; (n = ::write(fd, filler.data(), filler.size())) > 0;) filled += std::size_t(n);
    ::fcntl(fd, F_SETFL, 0);
    return filled;
}

std::string drain_until_closed(int fd) {
    ::fcntl(fd, F_SETFL, 0);
    std::string out;
    char buf[65536];
    for (ssize_t n; (n = ::read(fd, buf, sizeof buf)) > 0;) out.append(buf, std::size_t(n));
    return out;
}

TEST(EventLog, AFloodOfOrdinaryLinesCannotDropAnAuthFailedLine) {
    Pipe pipe;
    std::size_t filled = fill(pipe.fds[1]);
    std::string out;
    std::thread reader;
    std::uint64_t dropped = 0;
    {
        EventLog log;  // outlives the writer, which writes into its file
        log.open(pipe.path(), false);
        ::close(std::exchange(pipe.fds[1], -1));  // the log holds its own descriptor
        LogWriter writer(16 * 1024);  // 2 KiB reserved
        log.write_through(&writer);
        for (int i = 0; i < 2000; ++i) log.event("smtp", "10.99.0.5:40000", "connect", "");
        dropped = writer.dropped();
        log.event("pop3", "10.99.0.6:40112", "auth-failed", "user=<bob>");
        log.event("smtp", "10.99.0.7:1234", "refused", "too many connections");
        EXPECT_EQ(writer.dropped(), dropped);    // neither security line was dropped
        EXPECT_EQ(writer.security_waits(), 0u);  // the reserve held them
        reader = std::thread([&] { out = drain_until_closed(pipe.fds[0]); });
    }  // the writer writes out its queue, then the log closes the pipe
    reader.join();
    ASSERT_GE(out.size(), filled);
    std::string lines = out.substr(filled);
    EXPECT_GT(dropped, 1000u);
    EXPECT_EQ(count(lines, " pop3 10.99.0.6:40112 auth-failed user=<bob>\n"), 1u);
    EXPECT_EQ(count(lines, " smtp 10.99.0.7:1234 refused too many connections\n"), 1u);
    // The gap is reported (in one or more lines, as the writer got room).
    std::uint64_t reported = 0;
    for (std::size_t at = lines.find(" log - dropped lines="); at != std::string::npos;
         at = lines.find(" log - dropped lines=", at + 1))
        reported += std::stoull(lines.substr(at + 21));
    EXPECT_EQ(reported, dropped);
}

TEST(LogWriterSecurity, ASecurityLineThatFindsTheRingFullWaitsInsteadOfBeingDropped) {
    Pipe pipe;
    std::size_t filled = fill(pipe.fds[1]);
    FILE* to = ::fdopen(std::exchange(pipe.fds[1], -1), "w");
    std::setvbuf(to, nullptr, _IOLBF, 0);
    std::string out;
    std::thread reader;
    {
        LogWriter writer(4096, 1024);
        // More security lines than the whole ring holds, while the writer
        // is stuck: the producer waits until the reader below frees it.
        reader = std::thread([&] {
            ::usleep(100 * 1000);
            out = drain_until_closed(pipe.fds[0]);
        });
        for (int i = 0; i < 300; ++i)
            EXPECT_TRUE(writer.push(to, "auth-failed " + std::to_string(i) + "\n", LogWriter::Priority::security));
        EXPECT_EQ(writer.dropped(), 0u);
        EXPECT_GE(writer.security_waits(), 1u);
    }
    std::fclose(to);
    reader.join();
    ASSERT_GE(out.size(), filled);
    std::string lines = out.substr(filled);
    std::string expected;
    for (int i = 0; i < 300; ++i) expected += "auth-failed " + std::to_string(i) + "\n";
    EXPECT_TRUE(lines == expected);
}

}  // namespace
}  // namespace bm

// The lines fail2ban and an operator need are never dropped: failed and
// held logins, refused connections and recipients.
TEST(EventLog, SecurityEventsAreTheLoginAndRefusalLines) {
    for (const char* event : {"auth-failed", "auth-delayed", "refused", "rejected"})
        EXPECT_TRUE(bm::is_security_event(event)) << event;
    for (const char* event : {"login", "connect", "accepted", "disconnect"})
        EXPECT_FALSE(bm::is_security_event(event)) << event;
}
