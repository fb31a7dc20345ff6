// The eventfd(2) steps the store's worker threads share (the I/O worker,
// the password checks): make one, signal it, drain it, take one write.
#pragma once

#include <sys/eventfd.h>

namespace bm::store {

// An eventfd with EFD_CLOEXEC | `flags`; throws std::runtime_error
// "<owner>: eventfd: <reason>".
int make_eventfd(int flags, const char* owner);
// Adds 1 (retried on EINTR).
void signal_eventfd(int fd);
// Reads the count back to 0 (a semaphore eventfd: takes one write).
void drain_eventfd(int fd);
// On a semaphore eventfd: takes exactly one write if one is there.
bool take_one_write(int fd);

}  // namespace bm::store
