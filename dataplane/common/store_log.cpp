#include "dataplane/common/store_log.hpp"

#include "store/log.hpp"

namespace bm {

StoreLogLink::StoreLogLink(EventLog& log) {
    store::set_log_sink([&log](std::string_view line) { log.event_now("store", "-", "store", line); });
}

StoreLogLink::~StoreLogLink() { store::set_log_sink(nullptr); }

}  // namespace bm
