// Capture files as tcpdump, tshark and dumpcap write them: the classic
// libpcap format (microsecond or nanosecond, either byte order) and pcapng
// (section header, interface descriptions with their time resolution,
// enhanced and simple packet blocks). The file is read whole; every length
// field is checked against the bytes that are there.
#pragma once

#include <cstdint>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

namespace bm::mailgun {

struct CaptureError : std::runtime_error {
    using std::runtime_error::runtime_error;
};

struct CapturedFrame {
    std::uint64_t time_ns = 0;  // since the epoch, as the capture says
    std::uint32_t linktype = 0; // LINKTYPE_* of its interface
    std::span<const std::uint8_t> bytes;  // what was captured (may be cut at the snap length)
};

class CaptureReader {
public:
    // Throws CaptureError when the bytes are neither pcap nor pcapng.
    explicit CaptureReader(std::vector<std::uint8_t> bytes);
    static CaptureReader open(const std::string& path);  // throws CaptureError

    // The next frame, false at the end. A block cut short at the end of the
    // file (a capture still being written) ends it, and is counted.
    bool next(CapturedFrame& frame);
    std::uint64_t truncated_blocks() const { return truncated_; }

private:
    struct Interface {
        std::uint32_t linktype = 0;
        std::uint64_t units_per_second = 1'000'000;  // pcapng if_tsresol
    };

    bool next_pcap(CapturedFrame& frame);
    bool next_pcapng(CapturedFrame& frame);
    void read_section_header(std::size_t at);
    void read_interface(std::size_t body, std::size_t body_length);
    std::uint16_t u16(std::size_t at) const;
    std::uint32_t u32(std::size_t at) const;

    std::vector<std::uint8_t> bytes_;
    std::size_t at_ = 0;
    bool pcapng_ = false;
    bool swapped_ = false;   // the file's byte order is not ours
    bool nanoseconds_ = false;  // classic pcap
    std::uint32_t linktype_ = 0;  // classic pcap
    std::vector<Interface> interfaces_;  // pcapng, of the current section
    std::uint64_t truncated_ = 0;
};

}  // namespace bm::mailgun
