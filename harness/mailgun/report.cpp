#include "harness/mailgun/report.hpp"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iomanip>
#include <sstream>
#include <stdexcept>

#include "dataplane/common/cidr.hpp"

namespace bm::mailgun {

namespace {

struct Figures {
    double elapsed_s = 0;
    double messages_per_s = 0;
    double sessions_per_s = 0;
    std::uint64_t sessions = 0;
};

Figures figures(const Tally& t) {
    Figures f;
    f.elapsed_s = t.ended_ns > t.started_ns ? static_cast<double>(t.ended_ns - t.started_ns) / 1e9 : 0;
    f.sessions = t.sessions_ok + t.sessions_failed;
    if (f.elapsed_s > 0) {
        f.messages_per_s = static_cast<double>(t.messages_ok) / f.elapsed_s;
        f.sessions_per_s = static_cast<double>(t.sessions_ok) / f.elapsed_s;
    }
    return f;
}

const char* protocol_name(Protocol p) { return p == Protocol::smtp ? "smtp" : "pop3"; }
const char* transport_name(TransportKind t) { return t == TransportKind::kernel ? "kernel" : "dpdk"; }

std::string latency_what(const Workload& w) {
    if (w.replay()) return "turn sent -> its last reply";
    return w.protocol == Protocol::smtp ? "final dot sent -> reply" : "RETR sent -> final dot line";
}

std::string server_text(const Workload& w) {
    std::string s = format_ipv4(w.server_ip);
    if (w.server_port) s += ":" + std::to_string(w.server_port);
    return s;
}

std::string fixed(double value, int decimals) {
    std::ostringstream s;
    s << std::fixed << std::setprecision(decimals) << value;
    return s.str();
}

std::string ms(std::uint64_t ns) { return fixed(static_cast<double>(ns) / 1e6, 3); }
std::string us(std::uint64_t ns) { return fixed(static_cast<double>(ns) / 1e3, 1); }

std::string errors_text(const Tally& t) {
    std::string s;
    for (int k = 0; k < error_kind_count; ++k)
        if (t.errors[k]) s += std::string(s.empty() ? "" : " ") + error_kind_name(static_cast<ErrorKind>(k)) + "=" +
                              std::to_string(t.errors[k]);
    if (s.empty()) return "none";
    if (!t.codes.empty()) {
        s += "; by reply:";
        for (const auto& [code, n] : t.codes) s += " '" + code + "'=" + std::to_string(n);
    }
    return s;
}

std::string json_string(std::string_view text) {
    std::string s = "\"";
    for (unsigned char c : text) {
        if (c == '"' || c == '\\') s += '\\', s += static_cast<char>(c);
        else if (c < 0x20) {
            char buf[8];
            std::snprintf(buf, sizeof buf, "\\u%04x", c);
            s += buf;
        } else s += static_cast<char>(c);
    }
    return s + "\"";
}

}  // namespace

void print_report(std::ostream& out, const Workload& w, const Tally& t) {
    Figures f = figures(t);
    const Histogram& h = t.latency;
    out << "mailgun " << (w.replay() ? "replay " + w.replay_path : std::string(protocol_name(w.protocol)))
        << " -> " << server_text(w) << " transport=" << transport_name(w.transport);
    if (!w.replay())
        out << " sessions=" << w.sessions << " size=" << w.size << " per-connection=" << w.per_connection
            << " pipelining=" << (w.pipelining ? "on" : "off");
    out << "\n"
        << "  elapsed   " << fixed(f.elapsed_s, 3) << " s\n"
        << (w.replay() ? "  turns     " : "  messages  ") << t.messages_ok << " ok, " << t.messages_failed_count << " failed, "
        << fixed(f.messages_per_s, 1) << "/s\n"
        << "  sessions  " << t.sessions_ok << " ok, " << t.sessions_failed << " failed, "
        << fixed(f.sessions_per_s, 1) << "/s\n"
        << "  latency   (" << latency_what(w) << ", ms) n=" << h.count() << " min=" << ms(h.min())
        << " p50=" << ms(h.percentile(0.50)) << " p90=" << ms(h.percentile(0.90))
        << " p99=" << ms(h.percentile(0.99)) << " p99.9=" << ms(h.percentile(0.999)) << " max=" << ms(h.max())
        << "\n"
        << "  errors    " << errors_text(t) << "\n";
    if (w.replay()) {
        out << "  replies   " << t.replies_compared << " compared, " << t.mismatch_count
            << " of another class than in the capture\n";
        for (const Mismatch& m : t.mismatches)
            out << "  mismatch  session=" << m.session << " reply=" << m.turn << " after '" << m.command
                << "': capture " << m.expected << ", live '" << m.got << "'\n";
    }
    out << "summary protocol=" << (w.replay() ? "replay" : protocol_name(w.protocol))
        << " transport=" << transport_name(w.transport) << " messages_ok=" << t.messages_ok
        << " messages_failed=" << t.messages_failed_count << " sessions_ok=" << t.sessions_ok
        << " sessions_failed=" << t.sessions_failed << " elapsed_s=" << fixed(f.elapsed_s, 3)
        << " msg_per_s=" << fixed(f.messages_per_s, 1) << " sessions_per_s=" << fixed(f.sessions_per_s, 1)
        << " p50_us=" << us(h.percentile(0.50)) << " p90_us=" << us(h.percentile(0.90))
        << " p99_us=" << us(h.percentile(0.99)) << " p999_us=" << us(h.percentile(0.999))
        << " max_us=" << us(h.max()) << " errors=" << t.error_total();
    if (w.replay()) out << " replies=" << t.replies_compared << " mismatches=" << t.mismatch_count;
    out << "\n";
}

void write_json_report(const std::string& path, const Workload& w, const Tally& t) {
    Figures f = figures(t);
    const Histogram& h = t.latency;
    std::ostringstream j;
    j << "{\n"
      << "  \"tool\": \"mailgun\",\n"
      << "  \"mode\": " << json_string(w.replay() ? "replay" : "load") << ",\n"
      << "  \"protocol\": " << json_string(w.replay() ? "replay" : protocol_name(w.protocol)) << ",\n"
      << "  \"transport\": " << json_string(transport_name(w.transport)) << ",\n"
      << "  \"server\": " << json_string(server_text(w)) << ",\n"
      << "  \"sessions_concurrent\": " << w.sessions << ",\n"
      << "  \"size\": " << w.size << ",\n"
      << "  \"per_connection\": " << w.per_connection << ",\n"
      << "  \"pipelining\": " << (w.pipelining ? "true" : "false") << ",\n"
      << "  \"replay_file\": " << json_string(w.replay_path) << ",\n"
      << "  \"elapsed_s\": " << fixed(f.elapsed_s, 6) << ",\n"
      << "  \"messages_ok\": " << t.messages_ok << ",\n"
      << "  \"messages_failed\": " << t.messages_failed_count << ",\n"
      << "  \"sessions_ok\": " << t.sessions_ok << ",\n"
      << "  \"sessions_failed\": " << t.sessions_failed << ",\n"
      << "  \"messages_per_s\": " << fixed(f.messages_per_s, 3) << ",\n"
      << "  \"sessions_per_s\": " << fixed(f.sessions_per_s, 3) << ",\n"
      << "  \"latency_ns\": {\"what\": " << json_string(latency_what(w)) << ", \"count\": " << h.count()
      << ", \"min\": " << h.min() << ", \"mean\": " << fixed(h.mean(), 1) << ", \"p50\": " << h.percentile(0.5)
      << ", \"p90\": " << h.percentile(0.9) << ", \"p99\": " << h.percentile(0.99)
      << ", \"p999\": " << h.percentile(0.999) << ", \"max\": " << h.max() << "},\n"
      << "  \"latency_cdf\": [";
    bool first = true;
    for (const auto& [value, fraction] : h.cdf()) {
        j << (first ? "" : ", ") << "[" << value << ", " << fixed(fraction, 6) << "]";
        first = false;
    }
    j << "],\n  \"errors\": {";
    first = true;
    for (int k = 0; k < error_kind_count; ++k) {
        j << (first ? "" : ", ") << json_string(error_kind_name(static_cast<ErrorKind>(k))) << ": " << t.errors[k];
        first = false;
    }
    j << "},\n  \"error_total\": " << t.error_total() << ",\n  \"reply_codes\": {";
    first = true;
    for (const auto& [code, n] : t.codes) {
        j << (first ? "" : ", ") << json_string(code) << ": " << n;
        first = false;
    }
    j << "},\n  \"replies_compared\": " << t.replies_compared << ",\n  \"mismatch_count\": " << t.mismatch_count
      << ",\n  \"mismatches\": [";
    first = true;
    for (const Mismatch& m : t.mismatches) {
        j << (first ? "\n" : ",\n") << "    {\"session\": " << m.session << ", \"reply\": " << m.turn
          << ", \"command\": " << json_string(m.command) << ", \"expected\": " << json_string(m.expected)
          << ", \"got\": " << json_string(m.got) << "}";
        first = false;
    }
    j << (first ? "]\n" : "\n  ]\n") << "}\n";
    std::ofstream file(path, std::ios::trunc);
    file << j.str();
    file.close();
    if (!file) throw std::runtime_error("--json " + path + ": cannot write: " + std::strerror(errno));
}

}  // namespace bm::mailgun
