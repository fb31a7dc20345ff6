#include "dataplane/dpdk/icmp.hpp"

#include <gtest/gtest.h>

#include "dataplane/dpdk/checksum.hpp"
#include "dataplane/dpdk/tests/vectors.hpp"

namespace bm::dpdk {
namespace {

using vectors::Bytes;

Bytes request_message() { return Bytes(vectors::echo_request.begin() + 20, vectors::echo_request.end()); }

TEST(Icmp, EchoRequestAnsweredInPlace) {
    Bytes message = request_message();
    ASSERT_EQ(answer_echo_request(message), DropReason::none);
    EXPECT_EQ(message, vectors::echo_reply_message);
}

TEST(Icmp, BadChecksumNotAnswered) {
    Bytes message = request_message();
    message[3] ^= 0x40;
    Bytes before = message;
    EXPECT_EQ(answer_echo_request(message), DropReason::icmp_bad_checksum);
    EXPECT_EQ(message, before);
}

TEST(Icmp, TruncatedNotAnswered) {
    Bytes message(vectors::echo_request.begin() + 20, vectors::echo_request.begin() + 27);
    EXPECT_EQ(answer_echo_request(message), DropReason::icmp_truncated);
}

TEST(Icmp, EchoReplyIsNotAnswered) {
    Bytes message = vectors::echo_reply_message;
    EXPECT_EQ(answer_echo_request(message), DropReason::icmp_not_echo_request);
}

TEST(Icmp, OddLengthDataChecksummed) {
    Bytes message = {0x08, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x02, 'x', 'y', 'z'};
    std::uint16_t sum = checksum_finish(checksum_add(0, message));
    message[2] = std::uint8_t(sum >> 8);
    message[3] = std::uint8_t(sum);
    ASSERT_EQ(answer_echo_request(message), DropReason::none);
    EXPECT_EQ(message[0], icmp_echo_reply);
    EXPECT_TRUE(checksum_verifies(checksum_add(0, message)));
}

}  // namespace
}  // namespace bm::dpdk
