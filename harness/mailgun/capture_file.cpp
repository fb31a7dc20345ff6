#include "harness/mailgun/capture_file.hpp"

#include <cstring>
#include <fstream>
#include <iterator>

namespace bm::mailgun {

namespace {

constexpr std::uint32_t pcap_magic_us = 0xa1b2c3d4;
constexpr std::uint32_t pcap_magic_ns = 0xa1b23c4d;
constexpr std::uint32_t pcapng_section = 0x0a0d0d0a;
constexpr std::uint32_t pcapng_byte_order = 0x1a2b3c4d;
constexpr std::uint32_t block_interface = 1;
constexpr std::uint32_t block_packet_obsolete = 2;
constexpr std::uint32_t block_simple_packet = 3;
constexpr std::uint32_t block_enhanced_packet = 6;
constexpr std::uint16_t option_end = 0;
constexpr std::uint16_t option_if_tsresol = 9;

std::uint32_t swap32(std::uint32_t v) { return __builtin_bswap32(v); }

std::uint32_t native32(const std::uint8_t* p) {
    std::uint32_t v;
    std::memcpy(&v, p, 4);
    return v;
}

std::size_t padded4(std::size_t n) { return (n + 3) & ~std::size_t{3}; }

// pcapng if_tsresol: high bit clear = 10^-v seconds, set = 2^-v.
std::uint64_t units_per_second(std::uint8_t resolution) {
    std::uint64_t units = 1;
    unsigned exponent = resolution & 0x7f;
    for (unsigned i = 0; i < exponent && units < (std::uint64_t{1} << 60); ++i) units *= (resolution & 0x80) ? 2 : 10;
    return units;
}

std::uint64_t to_ns(std::uint64_t units, std::uint64_t per_second) {
    auto fraction = static_cast<unsigned __int128>(units % per_second) * 1'000'000'000u / per_second;
    return units / per_second * 1'000'000'000u + static_cast<std::uint64_t>(fraction);
}

}  // namespace

CaptureReader CaptureReader::open(const std::string& path) {
    std::ifstream file(path, std::ios::binary);
    if (!file) throw CaptureError(path + ": cannot open: " + std::strerror(errno));
    std::vector<std::uint8_t> bytes((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());
    try {
        return CaptureReader(std::move(bytes));
    } catch (const CaptureError& e) {
        throw CaptureError(path + ": " + e.what());
    }
}

CaptureReader::CaptureReader(std::vector<std::uint8_t> bytes) : bytes_(std::move(bytes)) {
    if (bytes_.size() < 24) throw CaptureError("too short for a capture file");
    std::uint32_t magic = native32(bytes_.data());
    if (magic == pcapng_section) {
        pcapng_ = true;
        return;  // next() reads the section header as a block
    }
    if (magic == pcap_magic_us || magic == pcap_magic_ns) swapped_ = false;
    else if (swap32(magic) == pcap_magic_us || swap32(magic) == pcap_magic_ns) swapped_ = true;
    else throw CaptureError("not a pcap or pcapng file");
    nanoseconds_ = magic == pcap_magic_ns || swap32(magic) == pcap_magic_ns;
    linktype_ = u32(20) & 0x0fffffff;  // the top bits carry the FCS length
    at_ = 24;
}

std::uint16_t CaptureReader::u16(std::size_t at) const {
    std::uint16_t v;
    std::memcpy(&v, bytes_.data() + at, 2);
    return swapped_ ? static_cast<std::uint16_t>(__builtin_bswap16(v)) : v;
}

std::uint32_t CaptureReader::u32(std::size_t at) const {
    std::uint32_t v = native32(bytes_.data() + at);
    return swapped_ ? swap32(v) : v;
}

bool CaptureReader::next(CapturedFrame& frame) { return pcapng_ ? next_pcapng(frame) : next_pcap(frame); }

bool CaptureReader::next_pcap(CapturedFrame& frame) {
    if (at_ == bytes_.size()) return false;
    if (bytes_.size() - at_ < 16) {
        ++truncated_;
        return false;
    }
    std::uint64_t seconds = u32(at_), fraction = u32(at_ + 4);
    std::uint32_t captured = u32(at_ + 8);
    if (captured > bytes_.size() - at_ - 16) {
        ++truncated_;
        return false;
    }
    frame.time_ns = seconds * 1'000'000'000u + (nanoseconds_ ? fraction : fraction * 1000);
    frame.linktype = linktype_;
    frame.bytes = {bytes_.data() + at_ + 16, captured};
    at_ += 16 + captured;
    return true;
}

// Blocks: type, total length, body, total length again (pcapng §3.1).
bool CaptureReader::next_pcapng(CapturedFrame& frame) {
    for (;;) {
        if (at_ == bytes_.size()) return false;
        if (bytes_.size() - at_ < 12) {
            ++truncated_;
            return false;
        }
        if (native32(bytes_.data() + at_) == pcapng_section) read_section_header(at_);
        std::uint32_t type = u32(at_), length = u32(at_ + 4);
        if (length < 12 || length % 4 != 0 || length > bytes_.size() - at_) {
            ++truncated_;
            return false;
        }
        std::size_t body = at_ + 8, body_length = length - 12;
        at_ += length;
        if (type == block_interface) {
            read_interface(body, body_length);
            continue;
        }
        std::uint32_t interface = 0;
        std::uint64_t stamp = 0;
        std::size_t data = 0, captured = 0;
        if (type == block_enhanced_packet && body_length >= 20) {
            interface = u32(body);
            stamp = (std::uint64_t{u32(body + 4)} << 32) | u32(body + 8);
            captured = u32(body + 12);
            data = body + 20;
        } else if (type == block_packet_obsolete && body_length >= 20) {
            interface = u16(body);
            stamp = (std::uint64_t{u32(body + 4)} << 32) | u32(body + 8);
            captured = u32(body + 12);
            data = body + 20;
        } else if (type == block_simple_packet && body_length >= 4) {
            // No captured length of its own: what the block holds, at most the original.
            captured = std::min<std::size_t>(u32(body), body_length - 4);
            data = body + 4;
        } else {
            continue;  // statistics, name resolution, custom blocks
        }
        if (interface >= interfaces_.size() || data + captured > body + body_length) {
            ++truncated_;
            continue;
        }
        const Interface& i = interfaces_[interface];
        frame.time_ns = to_ns(stamp, i.units_per_second);
        frame.linktype = i.linktype;
        frame.bytes = {bytes_.data() + data, captured};
        return true;
    }
}

void CaptureReader::read_section_header(std::size_t at) {
    if (bytes_.size() - at < 12) return;
    std::uint32_t order = native32(bytes_.data() + at + 8);
    swapped_ = order != pcapng_byte_order;
    interfaces_.clear();  // interface ids are per section
}

// Link type, reserved, snap length, then options (code, length, value
// padded to 4): if_tsresol is the one that matters for time.
void CaptureReader::read_interface(std::size_t body, std::size_t body_length) {
    if (body_length < 8) return;
    Interface i;
    i.linktype = u16(body);
    std::size_t at = body + 8, end = body + body_length;
    while (at + 4 <= end) {
        std::uint16_t code = u16(at), length = u16(at + 2);
        if (code == option_end || at + 4 + length > end) break;
        if (code == option_if_tsresol && length >= 1) i.units_per_second = units_per_second(bytes_[at + 4]);
        at += 4 + padded4(length);
    }
    interfaces_.push_back(i);
}

}  // namespace bm::mailgun
