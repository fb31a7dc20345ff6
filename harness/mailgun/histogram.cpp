#include "harness/mailgun/histogram.hpp"

#include <algorithm>
#include <bit>
#include <cmath>

namespace bm::mailgun {

namespace {
constexpr std::uint64_t linear_limit = std::uint64_t{1} << (Histogram::sub_bucket_bits + 1);  // 256
constexpr std::uint64_t half = std::uint64_t{1} << Histogram::sub_bucket_bits;                 // 128
}  // namespace

std::size_t Histogram::bucket_of(std::uint64_t value) {
    if (value < linear_limit) return static_cast<std::size_t>(value);
    // value >> shift lies in [128, 256): its top bit and 7 more.
    unsigned shift = static_cast<unsigned>(std::bit_width(value)) - (sub_bucket_bits + 1);
    std::size_t bucket = linear_limit + (shift - 1) * half + ((value >> shift) - half);
    return std::min(bucket, bucket_count - 1);
}

std::uint64_t Histogram::lowest_in(std::size_t bucket) {
    if (bucket < linear_limit) return bucket;
    std::size_t above = bucket - linear_limit;
    unsigned shift = static_cast<unsigned>(above / half) + 1;
    return (half + above % half) << shift;
}

std::uint64_t Histogram::highest_in(std::size_t bucket) {
    if (bucket + 1 >= bucket_count) return UINT64_MAX;
    return lowest_in(bucket + 1) - 1;
}

void Histogram::record(std::uint64_t value) {
    ++buckets_[bucket_of(value)];
    ++count_;
    sum_ += value;
    min_ = std::min(min_, value);
    max_ = std::max(max_, value);
}

void Histogram::merge(const Histogram& other) {
    for (std::size_t i = 0; i < bucket_count; ++i) buckets_[i] += other.buckets_[i];
    count_ += other.count_;
    sum_ += other.sum_;
    min_ = std::min(min_, other.min_);
    max_ = std::max(max_, other.max_);
}

std::uint64_t Histogram::percentile(double fraction) const {
    if (count_ == 0) return 0;
    fraction = std::clamp(fraction, 0.0, 1.0);
    // The rank of the sample asked for, 1-based: at least one sample.
    auto rank = static_cast<std::uint64_t>(std::ceil(fraction * static_cast<double>(count_)));
    rank = std::clamp<std::uint64_t>(rank, 1, count_);
    std::uint64_t seen = 0;
    for (std::size_t i = 0; i < bucket_count; ++i) {
        seen += buckets_[i];
        if (seen >= rank) return std::min(highest_in(i), max_);
    }
    return max_;
}

std::vector<std::pair<std::uint64_t, double>> Histogram::cdf() const {
    std::vector<std::pair<std::uint64_t, double>> points;
    std::uint64_t seen = 0;
    for (std::size_t i = 0; i < bucket_count && seen < count_; ++i) {
        if (buckets_[i] == 0) continue;
        seen += buckets_[i];
        points.emplace_back(std::min(highest_in(i), max_),
                            static_cast<double>(seen) / static_cast<double>(count_));
    }
    return points;
}

}  // namespace bm::mailgun
