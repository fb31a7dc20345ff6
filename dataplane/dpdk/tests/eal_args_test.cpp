#include "dataplane/dpdk/eal_args.hpp"

#include <gtest/gtest.h>

namespace bm::dpdk {
namespace {

using Strings = std::vector<std::string>;

Strings with_program(Strings rest) {
    rest.insert(rest.begin(), "baremail");
    return rest;
}

TEST(EalArgs, NoSeparatorUsesDefaultsAndEverythingIsOurs) {
    const char* argv[] = {"baremail", "-d", "/tmp/mail"};
    CommandLine line = split_command_line(3, argv);
    EXPECT_EQ(line.eal, with_program(default_eal_args()));
    EXPECT_EQ(line.app, with_program({"-d", "/tmp/mail"}));
}

TEST(EalArgs, EmptyEalPartUsesDefaults) {
    const char* argv[] = {"baremail", "--", "-d", "x"};
    CommandLine line = split_command_line(4, argv);
    EXPECT_EQ(line.eal, with_program(default_eal_args()));
    EXPECT_EQ(line.app, with_program({"-d", "x"}));
}

TEST(EalArgs, GivenEalOptionsReplaceDefaults) {
    const char* argv[] = {"baremail", "--no-huge", "--vdev", "net_ring0", "--", "-d", "x", "--", "y"};
    CommandLine line = split_command_line(9, argv);
    EXPECT_EQ(line.eal, with_program({"--no-huge", "--vdev", "net_ring0"}));
    EXPECT_EQ(line.app, with_program({"-d", "x", "--", "y"}));  // only the first "--" splits
}

TEST(EalArgs, DefaultIsSpecTapPort) {
    Strings d = default_eal_args();
    Strings spec = {"--no-huge", "-m", "512", "--no-pci", "--vdev", "net_tap0,iface=bm0"};
    ASSERT_GE(d.size(), spec.size());
    EXPECT_TRUE(std::equal(spec.begin(), spec.end(), d.begin()));
}

TEST(EalArgs, ArgvIsNullTerminated) {
    Strings args = {"baremail", "-v"};
    Argv argv(args);
    EXPECT_EQ(argv.argc(), 2);
    EXPECT_STREQ(argv.argv()[1], "-v");
    EXPECT_EQ(argv.argv()[2], nullptr);
}

}  // namespace
}  // namespace bm::dpdk
