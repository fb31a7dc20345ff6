// The mbox format as mboxrd (the "From " line format of RFC 4155, with
// the quoting used by mutt and Dovecot): each message starts with a line
// "From <sender> <asctime date>", its lines end in LF, every line matching
// ^>*From  gets one more '>' on the way in and loses one on the way out,
// and a blank line follows each message.
#pragma once

#include <cstdint>
#include <ctime>
#include <functional>
#include <string>
#include <string_view>
#include <sys/types.h>
#include <vector>

#include "store/commit_group.hpp"
#include "store/file_io.hpp"
#include "store/message_parts.hpp"

namespace bm::store::mbox {

// Holds both locks other mail programs may check before touching an mbox:
// the dotlock file "<mbox>.lock" (O_CREAT|O_EXCL; works over NFS and for
// programs that use nothing else) and an fcntl write lock on the whole file
// (an open-file-description lock, which conflicts with classic POSIX locks
// of other processes but is not dropped when another fd of ours closes).
class LockedMbox {
public:
    LockedMbox() = default;
    ~LockedMbox() { unlock(); }
    LockedMbox(const LockedMbox&) = delete;
    LockedMbox& operator=(const LockedMbox&) = delete;

    // The file must exist (a user exists iff the mbox does). Gives up with
    // temp_failure after a few seconds of another holder.
    Status lock(const std::string& path);
    void unlock();
    int fd() const { return fd_.get(); }
    const std::string& path() const { return path_; }

private:
    Status take_dotlock();
    Status open_and_lock_file();

    std::string path_;
    std::string dotlock_;
    UniqueFd fd_;
};

// "From <sender or MAILER-DAEMON> <asctime date>\n".
std::string from_line(std::string_view sender, std::time_t when);

// Appends `from_line`, the CRLF message in mbox form (LF line ends,
// mboxrd quoting, a final LF; see store/mbox_quoter.hpp) and a blank line,
// converting and writing it piece by piece, and fsyncs. On any failure the
// file is cut back to `old_size`, so no partial message stays.
Status append_durably(LockedMbox& box, std::string_view from, const MessageParts& message,
                      off_t& old_size);
// Undoes a successful append whose delivery failed elsewhere.
void truncate_back(LockedMbox& box, off_t old_size);

// One message of an mbox file, as byte offsets.
struct Message {
    std::uint64_t start = 0;       // the From_ line
    std::uint64_t text_start = 0;  // after the From_ line
    std::uint64_t text_end = 0;    // without the separating blank line
    std::uint64_t end = 0;         // next From_ line or end of file
};
// Bytes before the first From_ line are not a message (and are kept).
std::vector<Message> parse(std::string_view file);

// A stored message back in the form it was delivered: unquoted, CRLF.
std::string message_text(std::string_view stored);

// Writes the new content at the file position of `fd`: 0 or an errno
// value. A callback, so that big content can be copied piece by piece.
using ContentWriter = std::function<int(int fd)>;

// Atomically replaces the mbox content: temp file beside it, fsync,
// rename over, fsync the directory. Mode and owner are kept.
Status replace_contents(LockedMbox& box, const ContentWriter& write);
Status replace_contents(LockedMbox& box, std::string_view contents);

}  // namespace bm::store::mbox
