// UDP services on the stack: who receives a datagram (by local port) and
// how one is sent. A receiver claims the ports it listens on (the relay
// client's DNS queries each have one, RFC 5452 §9.2), so the table holds
// receivers, not ports. Fixed size: binding allocates nothing, delivering
// is a scan of a few entries.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>

#include "dataplane/dpdk/udp.hpp"

namespace bm::dpdk {

class UdpReceiver {
public:
    virtual bool listens_on(std::uint16_t local_port) const = 0;
    // `datagram.payload` is valid only during the call.
    virtual void on_datagram(std::uint32_t source, const UdpDatagram& datagram) = 0;

protected:
    ~UdpReceiver() = default;
};

class UdpSender {
public:
    // Builds the frame to the next hop (ARP resolution as for TCP). False
    // when it could not even be queued (no buffer, no route, too big; counted).
    virtual bool send_udp(std::uint16_t local_port, std::uint32_t destination, std::uint16_t destination_port,
                          std::span<const std::uint8_t> payload) = 0;

protected:
    ~UdpSender() = default;
};

class UdpPorts {
public:
    static constexpr std::size_t capacity = 4;

    // False when the table is full.
    bool bind(UdpReceiver& receiver) {
        if (size_ == capacity) return false;
        receivers_[size_++] = &receiver;
        return true;
    }

    // False when no receiver listens on the datagram's port (the caller
    // counts it; RFC 1122 §4.1.3.1's port unreachable is not sent).
    bool deliver(std::uint32_t source, const UdpDatagram& datagram) const {
        for (std::size_t i = 0; i < size_; ++i) {
            if (!receivers_[i]->listens_on(datagram.destination_port)) continue;
            receivers_[i]->on_datagram(source, datagram);
            return true;
        }
        return false;
    }

private:
    std::array<UdpReceiver*, capacity> receivers_{};
    std::size_t size_ = 0;
};

}  // namespace bm::dpdk
