#include "dataplane/common/resolv_conf.hpp"

#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <string>

namespace bm {
namespace {

std::string write_file(const std::string& text) {
    std::string path = ::testing::TempDir() + "resolv_conf_test.conf";
    std::ofstream(path) << text;
    return path;
}

TEST(ResolvConf, FirstIpv4NameserverWins) {
    std::string path = write_file("# generated\nsearch example.test\nnameserver ::1\n"
                                  "nameserver 10.99.1.2\nnameserver 10.99.1.3\n");
    EXPECT_EQ(system_nameserver(path), "10.99.1.2");
    std::remove(path.c_str());
}

TEST(ResolvConf, NoneIsEmpty) {
    std::string path = write_file("options edns0\nnameserver not-an-address\n");
    EXPECT_EQ(system_nameserver(path), "");
    std::remove(path.c_str());
    EXPECT_EQ(system_nameserver(path), "");  // missing file
}

}  // namespace
}  // namespace bm
