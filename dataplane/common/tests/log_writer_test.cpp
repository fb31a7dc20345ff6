// The DPDK build's log writer: lines leave in order from another thread, a
// full ring drops lines and says how many, and nothing queued is lost at stop.
#include "dataplane/common/log_writer.hpp"

#include <gtest/gtest.h>

#include <fcntl.h>
#include <string>
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
        LogWriter writer(64);
        for (int i = 0; i < 50; ++i) EXPECT_TRUE(writer.push(pipe.out, "line " + std::to_string(i) + "\n"));
    }  // stop: the queue is written out first
    std::string expected;
    for (int i = 0; i < 50; ++i) expected += "line " + std::to_string(i) + "\n";
    EXPECT_EQ(pipe.finish(), expected);
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
        LogWriter writer(4);
        int accepted = 0;
        for (int i = 0; i < 10; ++i) accepted += writer.push(pipe.out, "line " + std::to_string(i) + "\n");
        EXPECT_EQ(accepted, 4);
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
    EXPECT_LT(lines.find("line 0\n"), lines.find("line 3\n"));
    EXPECT_EQ(lines.find("line 4\n"), std::string::npos);
}

TEST(LogWriter, OverlongLineIsCutButStaysOneLine) {
    Pipe pipe;
    {
        LogWriter writer(4);
        writer.push(pipe.out, std::string(5000, 'a') + "\n");
    }
    std::string out = pipe.finish();
    EXPECT_EQ(out.size(), LogWriter::line_bytes);
    EXPECT_EQ(out.back(), '\n');
}

}  // namespace
}  // namespace bm
