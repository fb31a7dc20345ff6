// Latency histogram in the manner of HdrHistogram: log-linear buckets of
// fixed memory, nanosecond resolution, values kept to 2 significant
// decimal digits (a relative error below 1/128), so p99.9 of a million
// samples costs no more memory than p50 of ten.
//
// Values below 256 ns have a bucket each; above, every power-of-two range
// [2^k, 2^(k+1)) is cut into 128 equal buckets. Everything from 1 ns to
// about 73 minutes (2^42 ns) fits; longer values land in the last bucket,
// while max() stays exact.
#pragma once

#include <array>
#include <cstdint>
#include <utility>
#include <vector>

namespace bm::mailgun {

class Histogram {
public:
    void record(std::uint64_t value_ns);
    void merge(const Histogram& other);

    std::uint64_t count() const { return count_; }
    std::uint64_t min() const { return count_ ? min_ : 0; }
    std::uint64_t max() const { return max_; }
    double mean() const { return count_ ? static_cast<double>(sum_) / static_cast<double>(count_) : 0.0; }
    // The smallest recorded value v such that at least `fraction` of the
    // samples are <= v, to the bucket's resolution (the bucket's highest
    // value, never above max()). 0 when empty.
    std::uint64_t percentile(double fraction) const;
    // (value, fraction of samples <= value) for every non-empty bucket, in
    // order: the CDF to plot.
    std::vector<std::pair<std::uint64_t, double>> cdf() const;

    // Bucket arithmetic, exposed for the tests.
    static std::size_t bucket_of(std::uint64_t value_ns);
    static std::uint64_t lowest_in(std::size_t bucket);
    static std::uint64_t highest_in(std::size_t bucket);

    static constexpr unsigned sub_bucket_bits = 7;  // 128 buckets per power of two
    static constexpr unsigned top_bit = 42;         // 2^42 ns ~ 73 min
    static constexpr std::size_t bucket_count =
        (std::size_t{1} << (sub_bucket_bits + 1)) + (top_bit - sub_bucket_bits - 1) * (std::size_t{1} << sub_bucket_bits);

private:
    std::array<std::uint64_t, bucket_count> buckets_{};
    std::uint64_t count_ = 0;
    std::uint64_t sum_ = 0;
    std::uint64_t min_ = UINT64_MAX;
    std::uint64_t max_ = 0;
};

}  // namespace bm::mailgun
