// The DPDK build's log writer: lines leave in order from another thread, a
// full ring drops lines and says how many, and nothing queued is lost at stop.
#include "dataplane/common/log_writer.hpp"

#include <gtest/gtest.h>

#include <fcntl.h>
#include <string>
#include <thread>
#include <unistd.h>

namespace bm {
namespace {

std::string read_all(int fd) {
    std::string out;
    char buf[65536];
    for (ssize_t n; (n = ::read(fd, buf, sizeof buf)) > 0;) out.append(buf, std::size_t(n));
    return out;
}

struct Pipe {
    Pipe() {
        EXPECT_EQ(::pipe(fds), 0);
        out = ::fdopen(fds[1], "w");
        std::setvbuf(out, nullptr, _IOLBF, 0);
    }
    ~Pipe() {
        if (out) std::fclose(out);
        ::close(fds[0]);
    }
    std::string finish() {
        std::fclose(out);
        out = nullptr;
        return read_all(fds[0]);
    }
    int fds[2];
    std::FILE* out;
};

TEST(LogWriter, LinesLeaveInOrderAndAllAreWrittenAtStop) {
    Pipe pipe;
    {
        LogWriter writer(4096);
        for (int i = 0; i < 50; ++i) EXPECT_TRUE(writer.push(pipe.out, "line " + std::to_string(i) + "\n"));
    }  // stop: the queue is written out first
    std::string expected;
    for (int i = 0; i < 50; ++i) expected += "line " + std::to_string(i) + "\n";
    EXPECT_EQ(pipe.finish(), expected);
}

TEST(LogWriter, RecordsWrapAroundTheRingIntact) {
    Pipe pipe;
    std::string all;
    std::thread reader([&] { all = read_all(pipe.fds[0]); });  // the pipe never fills
    std::string expected;
    {
        LogWriter writer(1024);  // a few records: the ring wraps hundreds of times
        for (int i = 0; i < 3000; ++i) {
            std::string line = std::to_string(i) + " " + std::string(std::size_t(i % 97), 'x') + "\n";
            expected += line;
            while (!writer.push(pipe.out, line)) ::usleep(100);  // full: wait for the writer
        }
    }
    std::fclose(pipe.out);
    pipe.out = nullptr;
    reader.join();
    std::string got;
    std::size_t at = 0;
    // Drop reports are lines of their own; the data lines are all there, in order.
    while (at < all.size()) {
        std::size_t eol = all.find('\n', at) + 1;
        std::string_view line(all.data() + at, eol - at);
        if (line.find(" log - dropped lines=") == std::string_view::npos) got += line;
        at = eol;
    }
    EXPECT_TRUE(got == expected);
}

TEST(LogWriter, FullRingDropsAndReportsHowMany) {
    Pipe pipe;
    // Fill the pipe so the writer's first write blocks until we read.
    ::fcntl(pipe.fds[1], F_SETFL, O_NONBLOCK);
    std::string filler(4096, 'x');
    std::size_t filled = 0;
    for (ssize_t n; (n = ::write(pipe.fds[1], filler.data(), filler.size())) > 0;) filled += std::size_t(n);
    ::fcntl(pipe.fds[1], F_SETFL, 0);
    std::string got;
    {
        LogWriter writer(LogWriter::line_bytes + 16, 0);  // 2064: 64 records of 32 octets, no reserve
        int accepted = 0;
        for (int i = 0; i < 70; ++i) accepted += writer.push(pipe.out, "line " + std::to_string(i) + "\n");
        EXPECT_EQ(accepted, 64);
        EXPECT_EQ(writer.dropped(), 6u);
        ::fcntl(pipe.fds[0], F_SETFL, O_NONBLOCK);
        while (got.size() < filled) {  // unblock the writer
            std::string part = read_all(pipe.fds[0]);
            got += part;
            if (part.empty()) ::usleep(1000);
        }
        ::fcntl(pipe.fds[0], F_SETFL, 0);
    }
    got += pipe.finish();
    std::string lines = got.substr(filled);
    EXPECT_NE(lines.find("line 0\n"), std::string::npos);
    EXPECT_NE(lines.find(" log - dropped lines=6\n"), std::string::npos);
    EXPECT_LT(lines.find("line 0\n"), lines.find("line 63\n"));
    EXPECT_EQ(lines.find("line 64\n"), std::string::npos);
}

TEST(LogWriter, OverlongLineIsCutButStaysOneLine) {
    Pipe pipe;
    {
        LogWriter writer(8192);
        writer.push(pipe.out, std::string(5000, 'a') + "\n");
    }
    std::string out = pipe.finish();
    EXPECT_EQ(out.size(), LogWriter::line_bytes);
    EXPECT_EQ(out.back(), '\n');
}

}  // namespace
}  // namespace bm
