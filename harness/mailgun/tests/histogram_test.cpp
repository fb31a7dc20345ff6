#include "harness/mailgun/histogram.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <vector>

namespace bm::mailgun {
namespace {

TEST(Histogram, EmptyReportsZeros) {
    Histogram h;
    EXPECT_EQ(h.count(), 0u);
    EXPECT_EQ(h.percentile(0.5), 0u);
    EXPECT_EQ(h.max(), 0u);
    EXPECT_EQ(h.min(), 0u);
    EXPECT_TRUE(h.cdf().empty());
}

TEST(Histogram, SmallValuesAreExact) {
    Histogram h;
    for (std::uint64_t v = 0; v < 256; ++v) h.record(v);
    EXPECT_EQ(h.percentile(0.5), 127u);
    EXPECT_EQ(h.percentile(1.0), 255u);
    EXPECT_EQ(h.min(), 0u);
}

TEST(Histogram, BucketsTileTheRangeWithoutGapsOrOverlap) {
    for (std::size_t b = 0; b + 2 < Histogram::bucket_count; ++b) {
        ASSERT_EQ(Histogram::highest_in(b) + 1, Histogram::lowest_in(b + 1)) << "bucket " << b;
        ASSERT_EQ(Histogram::bucket_of(Histogram::lowest_in(b)), b);
        ASSERT_EQ(Histogram::bucket_of(Histogram::highest_in(b)), b);
    }
}

// Two significant digits: every bucket is narrower than 1% of its values.
TEST(Histogram, RelativeErrorBelowOnePercent) {
    for (std::size_t b = 256; b + 1 < Histogram::bucket_count; ++b) {
        double width = static_cast<double>(Histogram::highest_in(b) - Histogram::lowest_in(b) + 1);
        ASSERT_LT(width / static_cast<double>(Histogram::lowest_in(b)), 0.01) << "bucket " << b;
    }
}

TEST(Histogram, HugeValuesLandInTheLastBucketAndMaxStaysExact) {
    Histogram h;
    h.record(UINT64_MAX / 2);
    EXPECT_EQ(Histogram::bucket_of(UINT64_MAX / 2), Histogram::bucket_count - 1);
    EXPECT_EQ(h.max(), UINT64_MAX / 2);
    EXPECT_EQ(h.percentile(0.5), UINT64_MAX / 2);
}

// Percentiles agree with the exact order statistic of the samples to the
// bucket's resolution, never below it and never above the maximum.
TEST(Histogram, PercentilesMatchSortedSamples) {
    std::mt19937_64 random(42);
    std::lognormal_distribution<double> latency(13.0, 1.0);  // ~0.5 ms median, long tail
    std::vector<std::uint64_t> samples;
    Histogram h;
    for (int i = 0; i < 100000; ++i) {
        auto v = static_cast<std::uint64_t>(latency(random));
        samples.push_back(v);
        h.record(v);
    }
    std::sort(samples.begin(), samples.end());
    for (double q : {0.5, 0.9, 0.99, 0.999, 1.0}) {
        std::uint64_t exact = samples[static_cast<std::size_t>(std::ceil(q * samples.size())) - 1];
        std::uint64_t got = h.percentile(q);
        EXPECT_GE(got, exact) << q;
        EXPECT_LE(static_cast<double>(got), static_cast<double>(exact) * 1.01) << q;
        EXPECT_LE(got, h.max());
    }
    EXPECT_EQ(h.max(), samples.back());
    EXPECT_EQ(h.min(), samples.front());
}

TEST(Histogram, CdfEndsAtOneAndMergeAddsCounts) {
    Histogram a, b;
    for (std::uint64_t v : {1000u, 2000u, 3000u}) a.record(v);
    for (std::uint64_t v : {500u, 4000u}) b.record(v);
    a.merge(b);
    EXPECT_EQ(a.count(), 5u);
    EXPECT_EQ(a.min(), 500u);
    EXPECT_EQ(a.max(), 4000u);
    auto cdf = a.cdf();
    ASSERT_EQ(cdf.size(), 5u);
    EXPECT_DOUBLE_EQ(cdf.back().second, 1.0);
    EXPECT_DOUBLE_EQ(cdf.front().second, 0.2);
    EXPECT_EQ(cdf.back().first, 4000u);
}

}  // namespace
}  // namespace bm::mailgun
