#include "apps/hosted_session.hpp"

namespace bm::apps {

const char* service_name(Service service) {
    switch (service) {
    case Service::smtp: return "smtp";
    case Service::pop3: return "pop3";
    case Service::echo: return "echo";
    }
    return "?";
}

Session& HostedSession::session() {
    return *std::visit(
        [](auto& m) -> Session* {
            using T = std::decay_t<decltype(m)>;
            if constexpr (std::is_same_v<T, std::monostate>) return nullptr;
            else if constexpr (std::is_same_v<T, std::unique_ptr<Session>>) return m.get();
            else if constexpr (std::is_same_v<T, PooledMachine<Pop3Server>> ||
                               std::is_same_v<T, PooledMachine<EchoServer>> ||
                               std::is_same_v<T, PooledMachine<SmtpClient>>) return &m.get();
            else return &m;
        },
        machine_);
}

HostedSession::Offered HostedSession::offer(std::string_view bytes, const Transport& transport) {
    Offered offered;
    while (offered.taken < bytes.size() && open() && transport.send_room() > 0) {
        Session& machine = session();
        std::string_view rest = bytes.substr(offered.taken);
        std::string_view slice = machine.reply_due() ? rest.substr(0, offer_slice) : rest;
        std::size_t n = machine.on_bytes(slice);
        if (n == 0) break;
        if (!offered.line_ended) offered.line_ended = slice.substr(0, n).find('\n') != std::string_view::npos;
        offered.taken += n;
    }
    return offered;
}

void HostedSession::end() {
    machine_.emplace<std::monostate>();
    ++generation_;
}

// RFC 5321 §3.8 (421: service not available, closing the channel) and
// RFC 3206 §4 ([SYS/TEMP]: a temporary problem). Echo has no protocol of
// its own and gets the POP3 form, as from the first.
ServiceHost::ServiceHost(HostConfig config)
    : config_(std::move(config)),
      smtp_busy_line_("421 4.7.0 " + config_.smtp.hostname + " Error: too many connections\r\n"),
      smtp_shutdown_line_("421 " + config_.smtp.hostname + " shutting down\r\n") {
    limits_.fill(ClientLimits(config_.client_limits));
    config_.pop3.login_penalty = &login_penalty_;
}

bool ServiceHost::exempt(std::uint32_t remote_ip) const { return config_.may_relay && config_.may_relay(remote_ip); }

ClientLimits::Verdict ServiceHost::admit(Service service, std::uint32_t remote_ip,
                                         std::chrono::milliseconds now) const {
    if (exempt(remote_ip)) return ClientLimits::Verdict::admitted;
    return limits_[std::size_t(service)].admit(remote_ip, now);
}

void ServiceHost::release(Service service, std::uint32_t remote_ip, std::chrono::milliseconds now) const {
    if (!exempt(remote_ip)) limits_[std::size_t(service)].release(remote_ip, now);
}

std::string_view ServiceHost::busy_line(Service service) const {
    if (service == Service::smtp) return smtp_busy_line_;
    return "-ERR [SYS/TEMP] Too many connections\r\n";
}

std::string_view ServiceHost::shutdown_line(Service service) const {
    if (service == Service::smtp) return smtp_shutdown_line_;
    return "-ERR Server shutting down\r\n";
}

Session& ServiceHost::open(HostedSession& hosted, Service service, Peer& peer, std::uint32_t remote_ip,
                           Transport& transport, MailPort& store, Observer& observer) const {
    peer.may_relay = config_.may_relay ? config_.may_relay(remote_ip) : false;
    switch (service) {
    case Service::smtp: return hosted.emplace<SmtpServer>(config_.smtp, peer, transport, store, observer);
    case Service::pop3: return hosted.emplace<Pop3Server>(config_.pop3, peer, transport, store, observer);
    case Service::echo: return hosted.emplace<EchoServer>(peer, transport, observer);
    }
    return hosted.emplace<EchoServer>(peer, transport, observer);  // not reached: every Service is above
}

}  // namespace bm::apps
