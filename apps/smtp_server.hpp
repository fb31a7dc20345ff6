// The SMTP receiver (RFC 5321 server side) as a sans-I/O session.
//
// Read first: RFC 5321 §3 (the mail transaction), §4.1.1 (commands),
// §4.1.4 (command order), §4.2 (replies), §4.5.2 (dot transparency),
// §2.3.8 (only CRLF ends a line), RFC 2920 (PIPELINING), RFC 1870 (SIZE),
// RFC 2034/3463 (enhanced status codes, only after EHLO).
//
// Like OpenSMTPD's smtp_session.c: one enum of phases, and a command table
// that separates checking a command (sequence, syntax; replies on failure)
// from doing it. Disk work goes out as a StoreRequest; while one is
// pending no further command is read, so replies stay in command order.
// A big message goes to the store in chunks as it arrives (SpoolChunk,
// like Postfix writing its queue file during DATA); while a chunk is out
// no input is read, so a fast client meets TCP back-pressure.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "apps/address.hpp"
#include "apps/block_pool.hpp"
#include "apps/config.hpp"
#include "apps/data_reader.hpp"
#include "apps/header_scan.hpp"
#include "apps/line_reader.hpp"
#include "apps/mail_port.hpp"
#include "apps/session.hpp"

namespace bm::apps {

class SmtpServer final : public Session {
public:
    SmtpServer(const SmtpConfig& config, const Peer& peer, Transport& transport, MailPort& port,
               Observer& observer);
    ~SmtpServer() override;

    void start() override;
    std::size_t on_bytes(std::string_view bytes) override;
    void on_store_reply(StoreReply reply) override;
    void on_idle_timeout() override;
    void on_shutdown() override;
    void on_peer_closed() override;
    bool waiting() const override { return pending_ != Pending::none; }
    // RFC 5321 §4.1.1.4: no reply until the final dot ends the body.
    bool reply_due() const override { return phase_ != Phase::in_data; }

private:
    // RFC 5321 §4.1.4: where the session is in the command sequence.
    enum class Phase : std::uint8_t {
        connected,  // greeting sent, no HELO/EHLO yet
        greeted,    // HELO/EHLO done, no transaction
        in_mail,    // MAIL accepted, collecting RCPTs
        in_data,    // after 354: reading the message
        closed,
    };
    enum class Greeting : std::uint8_t { none, helo, ehlo };
    enum class Pending : std::uint8_t { none, lookup_user, spool, deliver };

    struct Command {
        std::string_view verb;
        bool (SmtpServer::*check)(std::string_view argument);
        void (SmtpServer::*proceed)(std::string_view argument);
    };
    static const Command* find_command(std::string_view verb);

    struct Transaction {
        std::string sender;
        std::vector<Recipient> recipients;
        std::uint64_t declared_size = 0;  // RFC 1870 SIZE= hint, 0 = none
    };

    // ---- input
    void process_input();
    std::size_t read_in_place(std::string_view input);
    void take_line(const LineReader::Line& line);
    void dispatch(std::string_view line);

    // ---- checks: true if the command may proceed, else the reply is sent
    bool check_greeting(std::string_view argument);
    bool check_mail_from(std::string_view argument);
    bool check_rcpt_to(std::string_view argument);
    bool check_data(std::string_view argument);
    bool check_rset(std::string_view argument);
    bool check_vrfy(std::string_view argument);
    bool check_anything(std::string_view argument);
    bool reject_path(const PathArgument& parsed, bool sender);

    // ---- proceeds
    void proceed_helo(std::string_view argument);
    void proceed_ehlo(std::string_view argument);
    void proceed_mail_from(std::string_view argument);
    void proceed_rcpt_to(std::string_view argument);
    void proceed_data(std::string_view argument);
    void proceed_rset(std::string_view argument);
    void proceed_noop(std::string_view argument);
    void proceed_quit(std::string_view argument);
    void proceed_help(std::string_view argument);
    void proceed_vrfy(std::string_view argument);
    void proceed_not_implemented(std::string_view argument);

    // ---- recipients
    bool is_local(const Path& path) const;
    bool is_local_domain(std::string_view domain) const;
    void lookup_recipient(const Path& path);
    bool expand_alias(const std::string& name);
    void lookup_next();
    void on_user_found(const UserFound& found);
    void finish_recipient();
    void accept_recipient(const std::string& address, const std::string& mailbox);
    void add_recipient(Recipient recipient);

    // ---- DATA
    struct BodyRead {
        std::size_t consumed = 0;
        bool ended = false;  // <CRLF>.<CRLF> consumed
    };
    void begin_body();
    BodyRead read_body(std::string_view input);
    void store_body(std::string_view octets);
    bool body_refused() const;
    void count_hops(std::string_view octets);
    void refuse_loop();
    void discard_body();
    void spool_body();
    void on_spooled(const Spooled& spooled);
    void drop_spool();
    void release_late_spool(const StoreReply& reply);
    void end_of_data();
    void submit_delivery();
    std::string next_queue_id();
    void on_delivered(const Delivered& delivered);
    void reply_store_failure(Outcome outcome);

    // ---- replies and session end
    bool esmtp() const { return greeting_ == Greeting::ehlo; }
    bool closed_session() const { return phase_ == Phase::closed; }
    void send_line(std::string_view line);
    void send_line(std::initializer_list<std::string_view> parts);
    void reply(std::string_view code, std::string_view status, std::string_view text,
               std::string_view more = {});
    void reply_ok(std::string_view status, std::string_view text, std::string_view more = {});
    void count_error_reply(std::string_view line);
    bool refuse_after_too_many_errors();
    void end_session(std::initializer_list<std::string_view> line);
    void close();
    void reset_transaction();

    // What a session needs only once the client has spoken: the line
    // buffer, the HELO name, the transaction and its body, the replies
    // owed once the store answers. A pooled block (apps/block_pool.hpp),
    // taken at the first input and given back with the session, so an idle
    // connection holds none of it and a block's strings keep their capacity.
    struct Work;
    Work& work();
    void clear_transaction(Work& work);

    // The driver keeps these alive for the session's life (apps/session.hpp),
    // the peer included: the TCB's or the kernel Connection's.
    const SmtpConfig& config_;  // the driver's, shared by every session
    const Peer& peer_;
    Transport& transport_;
    MailPort& port_;
    Observer& observer_;

    PooledBlock<Work> work_;
    Phase phase_ = Phase::connected;
    Greeting greeting_ = Greeting::none;
    Pending pending_ = Pending::none;
};

}  // namespace bm::apps
