#include "dataplane/dpdk/helper_cpus.hpp"

#include <pthread.h>

namespace bm::dpdk {

HelperCpus helper_cpus(const cpu_set_t& allowed, const cpu_set_t& polling) {
    HelperCpus h;
    CPU_ZERO(&h.cpus);
    for (int cpu = 0; cpu < CPU_SETSIZE; ++cpu)
        if (CPU_ISSET(cpu, &allowed) && !CPU_ISSET(cpu, &polling)) CPU_SET(cpu, &h.cpus);
    if (CPU_COUNT(&h.cpus) == 0) {
        h.cpus = allowed;
        h.shared = true;
    }
    return h;
}

std::string cpu_list(const cpu_set_t& cpus) {
    std::string text;
    for (int cpu = 0; cpu < CPU_SETSIZE; ++cpu) {
        if (!CPU_ISSET(cpu, &cpus)) continue;
        int last = cpu;
        while (last + 1 < CPU_SETSIZE && CPU_ISSET(last + 1, &cpus)) ++last;
        if (!text.empty()) text += ",";
        text += std::to_string(cpu);
        if (last > cpu) text += "-" + std::to_string(last);
        cpu = last;
    }
    return text;
}

ScopedAffinity::ScopedAffinity(const cpu_set_t& cpus) {
    if (pthread_getaffinity_np(pthread_self(), sizeof saved_, &saved_) != 0) return;
    changed_ = pthread_setaffinity_np(pthread_self(), sizeof cpus, &cpus) == 0;
}

ScopedAffinity::~ScopedAffinity() {
    if (changed_) pthread_setaffinity_np(pthread_self(), sizeof saved_, &saved_);
}

}  // namespace bm::dpdk
