// baremail-queue: list, show, flush, delete, hold and release queued mail
// (Postfix's mailq, postcat -h, postqueue -f/-i and postsuper -d/-h/-H in
// one). list and show read the queue files (with or without the server);
// the rest ask the running server over its control socket, so only the
// relay agent ever changes its queue.
#include <cstdio>
#include <cstring>
#include <ctime>
#include <string>
#include <sys/stat.h>
#include <vector>

#include "relay/control/client.hpp"
#include "relay/control/listing.hpp"
#include "store/queue_text.hpp"

namespace {

using namespace bm;

// sysexits.h, as postqueue: EX_USAGE for a bad command line would be 64,
// but 2 is what the servers use; EX_UNAVAILABLE when the server is down.
constexpr int exit_failed = 1;
constexpr int exit_usage = 2;
constexpr int exit_not_running = 69;

constexpr std::size_t show_header_cap = 256 * 1024;

const char* usage_text =
    "usage: baremail-queue (--queue-dir DIR | -d DIR) [--json] COMMAND\n"
    "  list              every queued message: id, size, age, sender, attempts, next try,\n"
    "                    each recipient with its state and last error (id! = on hold)\n"
    "  show ID           one message: its envelope and header section\n"
    "  flush [ID]        try now (all messages, or ID)          needs the server\n"
    "  delete ID         remove it; it is never tried again     needs the server\n"
    "  hold ID           never try it until released            needs the server\n"
    "  release ID        end the hold                           needs the server\n"
    "  --queue-dir DIR   the server's --queue-dir; -d DIR: the server's mail dir (queue DIR/.queue)\n"
    "  --json            list and show as JSON\n"
    "exit: 0 done, 1 no such message or refused, 2 usage, 69 server not running\n";

struct Command {
    std::string queue_dir;
    bool json = false;
    std::vector<std::string> words;
};

int usage(const std::string& why) {
    std::fprintf(stderr, "baremail-queue: %s\n%s", why.c_str(), usage_text);
    return exit_usage;
}

bool parse(int argc, char** argv, Command& c, std::string& why) {
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        if (a == "--json") c.json = true;
        else if (a == "--queue-dir" || a == "-d" || a == "--mail-dir") {
            if (i + 1 >= argc) return why = "missing argument for " + a, false;
            c.queue_dir = argv[++i];
            if (a != "--queue-dir") c.queue_dir += "/.queue";
        } else if (a.starts_with("--queue-dir=")) c.queue_dir = a.substr(12);
        else if (a.starts_with("-") && a.size() > 1) return why = "unknown option " + a, false;
        else c.words.push_back(a);
    }
    if (c.queue_dir.empty()) return why = "--queue-dir DIR (or -d MAILDIR) is required", false;
    if (c.words.empty()) return why = "no command", false;
    return true;
}

bool queue_exists(const Command& c) {
    struct stat st {};
    if (::stat(c.queue_dir.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) return true;
    std::fprintf(stderr, "baremail-queue: no queue directory %s\n", c.queue_dir.c_str());
    return false;
}

int list(const Command& c) {
    if (!queue_exists(c)) return exit_failed;
    std::size_t skipped = 0;
    auto entries = control::read_queue(c.queue_dir, &skipped);
    std::int64_t now = std::time(nullptr);
    std::fputs((c.json ? control::list_json(entries, now) : control::list_text(entries, now)).c_str(), stdout);
    if (skipped) std::fprintf(stderr, "baremail-queue: %zu unreadable queue files skipped\n", skipped);
    return 0;
}

int show(const Command& c, const std::string& id) {
    if (!queue_exists(c)) return exit_failed;
    auto entry = control::find_message(c.queue_dir, id);
    std::string headers;
    if (!entry || store::queue::read_header_section(c.queue_dir, entry->name, show_header_cap, headers) !=
                      store::Status::ok) {
        std::fprintf(stderr, "baremail-queue: no message %s in %s\n", id.c_str(), c.queue_dir.c_str());
        return exit_failed;
    }
    std::int64_t now = std::time(nullptr);
    std::fputs((c.json ? control::show_json(*entry, headers, now) : control::show_text(*entry, headers, now)).c_str(),
               stdout);
    return 0;
}

int ask(const Command& c, const control::Request& request) {
    control::ClientResult r = control::ask_server(c.queue_dir, request);
    if (r.kind == control::ClientResult::Kind::not_running) {
        std::fprintf(stderr, "baremail-queue: cannot %s: %s\n",
                     std::string(control::command_name(request.command)).c_str(), r.error.c_str());
        return exit_not_running;
    }
    if (r.kind == control::ClientResult::Kind::failed) {
        std::fprintf(stderr, "baremail-queue: %s\n", r.error.c_str());
        return exit_failed;
    }
    if (r.reply.outcome != control::Outcome::ok) {
        std::fprintf(stderr, "baremail-queue: %s\n", r.reply.text.c_str());
        return exit_failed;
    }
    std::printf("%s\n", r.reply.text.c_str());
    return 0;
}

int run(const Command& c) {
    const std::string& verb = c.words[0];
    std::size_t args = c.words.size() - 1;
    std::string id = args ? c.words[1] : "";
    if (verb == "list" && args == 0) return list(c);
    if (verb == "show" && args == 1) return show(c, id);
    control::Request request;
    if (verb == "flush" && args <= 1) request.command = control::Command::flush;
    else if (verb == "delete" && args == 1) request.command = control::Command::remove;
    else if (verb == "hold" && args == 1) request.command = control::Command::hold;
    else if (verb == "release" && args == 1) request.command = control::Command::release;
    else return usage("bad command: " + verb + (args ? " with " + std::to_string(args) + " arguments" : ""));
    if (!id.empty() && !control::valid_id(id)) return usage("not a queue id: " + id);
    request.id = id;
    return ask(c, request);
}

}  // namespace

int main(int argc, char** argv) {
    if (argc == 2 && (std::strcmp(argv[1], "--help") == 0 || std::strcmp(argv[1], "-h") == 0)) {
        std::fputs(usage_text, stdout);
        return 0;
    }
    Command c;
    std::string why;
    if (!parse(argc, argv, c, why)) return usage(why);
    return run(c);
}
