#include "dataplane/dpdk/stack_config.hpp"

#include <memory>
#include <random>
#include <stdexcept>

#include "apps/hosted_session.hpp"

namespace bm::dpdk {
namespace {

constexpr std::uint16_t ip_tcp_headers = 40;

}  // namespace

Addressing addressing(const Options& options) {
    Addressing a;
    a.subnet = {*bm::parse_ipv4(options.ip), options.prefix_len};
    if (!options.gateway.empty()) {
        std::uint32_t gateway = *bm::parse_ipv4(options.gateway);
        if (!a.subnet.on_link(gateway) || gateway == a.subnet.address)
            throw std::runtime_error("--gateway " + options.gateway + " is not another address of " + options.ip +
                                     "/" + std::to_string(options.prefix_len));
        a.gateway = gateway;
    }
    return a;
}

tcp::EngineConfig engine_config(const Options& o, const Port& port, const std::string& tag) {
    tcp::EngineConfig c;
    if (o.tcb_capacity != 0) c.tcb_capacity = o.tcb_capacity;
    c.max_conn_per_service = o.max_conn;
    c.smtp_port = o.smtp_port;
    c.pop3_port = o.pop3_port;
    c.echo_port = o.echo_port;
    c.mss = std::uint16_t(port.mtu() - ip_tcp_headers);
    c.min_mss = o.min_mss;
    c.idle_timeout_s[0] = o.smtp_idle();
    c.idle_timeout_s[1] = o.pop3_idle();
    c.idle_timeout_s[2] = o.echo_idle();
    c.send_timeout_s = o.send_timeout;
    c.fixed_isn = o.fixed_isn;
    std::random_device random;  // RFC 6528: a secret key, fresh per start
    for (std::uint64_t& word : c.isn_secret) word = (std::uint64_t(random()) << 32) | random();
    c.local_ip = bm::parse_ipv4(o.ip).value_or(0);  // the source of relay connections
    c.client_idle_timeout_s = o.relay_timeout;        // relay connections: --relay-timeout per reply
    c.services = std::make_shared<const apps::ServiceHost>(host_config(o, tag));
    return c;
}

}  // namespace bm::dpdk
