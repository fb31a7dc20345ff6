#include "dataplane/common/program.hpp"

#include <cstdio>
#include <exception>

#include "apps/relay/route.hpp"

namespace bm {

int run_program(const Program& program, int argc, char** argv,
                const std::function<int(const Options&)>& serve) {
    Options options;
    try {
        options = parse_options(argc, argv, program.build);
    } catch (const UsageError& e) {
        std::fprintf(stderr, "%s: %s\n", program.name, e.what());
        return 2;
    }
    if (options.help) {
        std::fputs(usage(program.build).c_str(), stdout);
        return 0;
    }
    if (options.version) {
        std::printf("%s %s (%s)\n", program.name, BAREMAIL_VERSION, program.description);
        return 0;
    }
    if (options.about) {
        std::fprintf(stderr, "%s %s (%s)\n", program.name, BAREMAIL_VERSION, program.description);
        return 0;
    }
    try {
        return serve(options);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "%s: %s\n", program.name, e.what());
        return 2;
    }
}

store::StoreConfig store_config(const Options& o) {
    store::StoreConfig c;
    c.mail_dir = o.mail_dir;
    c.queue_dir = o.queue_dir;
    c.users_file = o.users_file;
    c.hostname = o.hostname;
    c.max_spool_bytes = o.max_spool;
    return c;
}

RelaySettings relay_settings(const Options& options, const std::string& instance_tag) {
    RelaySettings settings;
    settings.queue_dir = options.queue_dir;
    settings.hostname = options.hostname;
    settings.local_domains = options.local_domains;
    if (!options.relayhost.empty()) settings.relayhost = parse_relayhost(options.relayhost);
    settings.retry_delay = options.retry_delay;
    settings.max_attempts = options.max_attempts;
    settings.instance_tag = instance_tag;
    return settings;
}

}  // namespace bm
