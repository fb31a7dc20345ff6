#include "dataplane/dpdk/helper_cpus.hpp"

#include <gtest/gtest.h>
#include <pthread.h>

#include <initializer_list>
#include <thread>

namespace bm::dpdk {
namespace {

cpu_set_t cpus(std::initializer_list<int> list) {
    cpu_set_t set;
    CPU_ZERO(&set);
    for (int cpu : list) CPU_SET(cpu, &set);
    return set;
}

TEST(HelperCpus, EveryAllowedCpuButThePollingOnes) {
    HelperCpus h = helper_cpus(cpus({0, 1, 2, 3}), cpus({1}));
    EXPECT_FALSE(h.shared);
    EXPECT_EQ(cpu_list(h.cpus), "0,2-3");
    // `-l 1` on two CPUs: the helpers get CPU 0.
    EXPECT_EQ(cpu_list(helper_cpus(cpus({0, 1}), cpus({1})).cpus), "0");
    // The polling CPU outside the allowed set changes nothing.
    EXPECT_EQ(cpu_list(helper_cpus(cpus({2, 3}), cpus({0})).cpus), "2-3");
}

TEST(HelperCpus, OneCpuIsShared) {
    HelperCpus h = helper_cpus(cpus({0}), cpus({0}));
    EXPECT_TRUE(h.shared);
    EXPECT_EQ(cpu_list(h.cpus), "0");
}

TEST(HelperCpus, CpuListRanges) {
    EXPECT_EQ(cpu_list(cpus({})), "");
    EXPECT_EQ(cpu_list(cpus({0, 1, 2, 4, 6, 7})), "0-2,4,6-7");
}

TEST(ScopedAffinity, ThreadsStartedInsideInheritItAndTheCallerGetsItsOwnBack) {
    cpu_set_t own;
    ASSERT_EQ(pthread_getaffinity_np(pthread_self(), sizeof own, &own), 0);
    int first = -1;
    for (int cpu = 0; cpu < CPU_SETSIZE && first < 0; ++cpu)
        if (CPU_ISSET(cpu, &own)) first = cpu;
    ASSERT_GE(first, 0);
    cpu_set_t inherited;
    CPU_ZERO(&inherited);
    {
        ScopedAffinity pinned(cpus({first}));
        std::thread([&] { pthread_getaffinity_np(pthread_self(), sizeof inherited, &inherited); }).join();
    }
    EXPECT_EQ(cpu_list(inherited), std::to_string(first));
    cpu_set_t after;
    ASSERT_EQ(pthread_getaffinity_np(pthread_self(), sizeof after, &after), 0);
    EXPECT_TRUE(CPU_EQUAL(&after, &own));
}

}  // namespace
}  // namespace bm::dpdk
