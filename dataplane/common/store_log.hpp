// The store's lines in the server's event log (store/log.hpp's sink).
#pragma once

#include "dataplane/common/event_log.hpp"

namespace bm {

// Sends the store's lines (store/log.hpp: a failed fsync or rename, a
// delivery that kept no copy, a spent spool budget) to `log` as
// "store - store <text>" while it lives, the text one escaped field. All of
// them are kept, never dropped: each says a message may be delayed or lost
// or the disk is failing, and they are few (one per failed job at most),
// written by the worker that failed (EventLog::event_now), which waits on
// the disk anyway. Restores the store's default (stderr) when it goes.
class StoreLogLink {
public:
    explicit StoreLogLink(EventLog& log);
    ~StoreLogLink();
    StoreLogLink(const StoreLogLink&) = delete;
    StoreLogLink& operator=(const StoreLogLink&) = delete;
};

}  // namespace bm
