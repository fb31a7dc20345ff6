#include "apps/client_limits.hpp"

#include <gtest/gtest.h>

namespace bm::apps {
namespace {

using std::chrono::milliseconds;
using V = ClientLimits::Verdict;

constexpr std::uint32_t kA = 0x0a630005, kB = 0x0a630006;

TEST(ClientLimits, TheConnectionPastTheLimitIsRefusedWhileAnotherAddressIsAdmitted) {
    ClientLimits limits({.max_connections = 50});
    for (int i = 0; i < 50; ++i) ASSERT_EQ(limits.admit(kA, milliseconds(i)), V::admitted) << i;
    EXPECT_EQ(limits.admit(kA, milliseconds(60)), V::too_many_connections);
    EXPECT_EQ(limits.admit(kB, milliseconds(61)), V::admitted);
    EXPECT_EQ(limits.open_connections(kA), 50u);  // the refused one is not open
}

TEST(ClientLimits, AReleasedConnectionMakesRoomForTheNext) {
    ClientLimits limits({.max_connections = 2});
    EXPECT_EQ(limits.admit(kA, milliseconds(0)), V::admitted);
    EXPECT_EQ(limits.admit(kA, milliseconds(0)), V::admitted);
    EXPECT_EQ(limits.admit(kA, milliseconds(0)), V::too_many_connections);
    limits.release(kA, milliseconds(1));
    EXPECT_EQ(limits.admit(kA, milliseconds(2)), V::admitted);
}

TEST(ClientLimits, RateIsCountedInAFixedWindowThatStartsWithTheFirstConnection) {
    ClientLimits limits({.max_connections = 0, .max_rate = 3, .window = milliseconds(60000)});
    for (int i = 0; i < 3; ++i) {
        ASSERT_EQ(limits.admit(kA, milliseconds(1000 + i)), V::admitted);
        limits.release(kA, milliseconds(1000 + i));
    }
    EXPECT_EQ(limits.admit(kA, milliseconds(30000)), V::too_fast);
    EXPECT_EQ(limits.admit(kA, milliseconds(60999)), V::too_fast);   // still the first window
    EXPECT_EQ(limits.admit(kB, milliseconds(30000)), V::admitted);   // another address's own window
    EXPECT_EQ(limits.admit(kA, milliseconds(61000)), V::admitted);   // a new window
}

TEST(ClientLimits, ZeroMeansNoLimit) {
    ClientLimits limits({.max_connections = 0, .max_rate = 0});
    for (int i = 0; i < 1000; ++i) ASSERT_EQ(limits.admit(kA, milliseconds(0)), V::admitted);
    EXPECT_EQ(limits.tracked(), 0u);
}

TEST(ClientLimits, AddressesWithNothingOpenAreForgotten) {
    ClientLimits limits({.max_connections = 5, .max_rate = 10, .window = milliseconds(1000)});
    for (std::uint32_t ip = 1; ip <= 100; ++ip) {
        ASSERT_EQ(limits.admit(ip, milliseconds(0)), V::admitted);
        limits.release(ip, milliseconds(10));
    }
    EXPECT_EQ(limits.tracked(), 100u);  // their rate windows still run
    EXPECT_EQ(limits.admit(kA, milliseconds(2000)), V::admitted);
    EXPECT_EQ(limits.tracked(), 1u);    // swept once the window passed
    limits.release(kA, milliseconds(3001));
    EXPECT_EQ(limits.tracked(), 0u);
}

TEST(ClientLimits, ReleaseOfAnUnknownAddressIsHarmless) {
    ClientLimits limits;
    limits.release(kA, milliseconds(0));
    EXPECT_EQ(limits.open_connections(kA), 0u);
}

}  // namespace
}  // namespace bm::apps
