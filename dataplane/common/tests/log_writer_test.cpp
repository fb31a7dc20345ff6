// The DPDK build's log writer: lines leave in order from another thread, a
// full ring drops lines and says how many, and nothing queued is lost at stop;
// and the log a HUP reopens after logrotate moved it.
#include "dataplane/common/log_writer.hpp"

#include <gtest/gtest.h>

#include <fcntl.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>

#include "dataplane/common/event_log.hpp"

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

// ---- SIGHUP after logrotate: EventLog::reopen --------------------------------

namespace bm {
namespace {

std::string file_text(const std::filesystem::path& path) {
    std::ifstream in(path);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
}

std::filesystem::path temp_dir() {
    std::string pattern = (std::filesystem::temp_directory_path() / "logrotate-XXXXXX").string();
    return ::mkdtemp(pattern.data());
}

int count_lines(const std::string& text, const std::string& word) {
    int n = 0;
    for (std::size_t at = 0; (at = text.find(word, at)) != std::string::npos; ++at) ++n;
    return n;
}

// logrotate moves the file, then HUP: lines written before stay in the
// moved file, lines after go to a new file at the old path, through the
// same writer thread that may still hold lines queued for the old stream.
TEST(EventLogReopen, AfterAMoveLinesGoToANewFileAtThePath) {
    std::filesystem::path dir = temp_dir();
    std::filesystem::path path = dir / "baremail.log";
    {
        EventLog log;  // outlives the writer, as in the DPDK build's main
        log.open(path.string(), false);
        LogWriter writer;
        log.write_through(&writer);
        for (int i = 0; i < 100; ++i) log.event("smtp", "-", "before", std::to_string(i));
        // Written out before the move here; lines still queued at a move
        // would go to the new file, which is just as good.
        for (int tries = 0; tries < 2000 && count_lines(file_text(path), " before ") < 100; ++tries)
            std::this_thread::sleep_for(std::chrono::milliseconds(1));
        std::filesystem::rename(path, dir / "baremail.log.1");
        log.reopen();
        for (int i = 0; i < 100; ++i) log.event("smtp", "-", "after", std::to_string(i));
    }
    std::string old_text = file_text(dir / "baremail.log.1");
    std::string new_text = file_text(path);
    EXPECT_EQ(count_lines(old_text, " before "), 100);
    EXPECT_EQ(count_lines(new_text, " after "), 100);
    EXPECT_EQ(count_lines(old_text, " after "), 0);
    EXPECT_EQ(count_lines(new_text, " before "), 0);
    std::filesystem::remove_all(dir);
}

TEST(EventLogReopen, APathThatCannotBeOpenedThrowsAndTheOldFileStays) {
    std::filesystem::path dir = temp_dir();
    std::filesystem::path path = dir / "sub" / "baremail.log";
    std::filesystem::create_directory(dir / "sub");
    EventLog log;
    log.open(path.string(), false);
    std::filesystem::rename(dir / "sub", dir / "moved");
    EXPECT_THROW(log.reopen(), std::runtime_error);  // dir/sub is gone
    log.event("smtp", "-", "still", "here");
    EXPECT_EQ(count_lines(file_text(dir / "moved" / "baremail.log"), " still "), 1);
    std::filesystem::remove_all(dir);
}

TEST(EventLogReopen, StderrHasNothingToReopen) {
    EventLog log;
    log.open("", false);
    EXPECT_NO_THROW(log.reopen());
}

}  // namespace
}  // namespace bm
