#include "dataplane/dpdk/icmp.hpp"

#include "dataplane/dpdk/checksum.hpp"
#include "dataplane/dpdk/wire_bytes.hpp"

namespace bm::dpdk {

DropReason answer_echo_request(std::span<std::uint8_t> message) {
    if (message.size() < icmp_header_size) return DropReason::icmp_truncated;
    if (!checksum_verifies(checksum_add(0, message))) return DropReason::icmp_bad_checksum;
    if (message[0] != icmp_echo_request || message[1] != 0) return DropReason::icmp_not_echo_request;
    message[0] = icmp_echo_reply;
    store_be16(message.data() + 2, 0);
    store_be16(message.data() + 2, checksum_finish(checksum_add(0, message)));
    return DropReason::none;
}

}  // namespace bm::dpdk
