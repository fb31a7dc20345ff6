"""Reset rules (RFC 9293 §3.10.7.1, RFC 5961 §3-§4) and the close
(RFC 9293 §3.6, §3.10.7.4 eighth step, TIME-WAIT)."""

from __future__ import annotations

import time

from scapy.layers.inet import TCP

from wire import flags_of, is_pure_ack, payload_of, seq_add

SILENCE = 0.5  # s to wait for "no answer"


def established(srv, port=None):
    c = srv.conn(port)
    c.handshake()
    g, _ = c.read()
    assert g.startswith((b"220 ", b"+OK")), g
    return c


def assert_alive(c):
    """The connection still works: a command gets its reply."""
    if c.dport == c.srv.smtp_port:
        assert c.command(b"NOOP\r\n").startswith(b"250"), "connection no longer answers"
    else:
        assert c.command(b"ECHO still-here\r\n").startswith(b"+OK still-here")


def test_rfc9293_3_10_7_1_syn_to_closed_port_gets_rst_ack(srv):
    c = srv.conn(port=2599)
    c.syn()
    f = c.next(2.0)
    assert f is not None, "no answer to a SYN for a closed port"
    p = f.pkt
    # <SEQ=0><ACK=SEG.SEQ+SEG.LEN><CTL=RST,ACK>
    assert flags_of(p) == "RA", flags_of(p)
    assert p[TCP].seq == 0 and p[TCP].ack == seq_add(c.isn, 1)


def test_rfc9293_3_10_7_1_ack_to_closed_port_gets_rst_at_its_ack(srv):
    c = srv.conn(port=2599)
    c.rcv_nxt = 0x12345678
    c.send(b"data", flags="PA")
    f = c.next(2.0)
    assert f is not None, "no answer to an ACK segment for a closed port"
    # <SEQ=SEG.ACK><CTL=RST>
    assert flags_of(f.pkt) == "R" and f.pkt[TCP].seq == 0x12345678


def test_rfc9293_3_10_7_1_rst_to_closed_port_is_not_answered(srv):
    c = srv.conn(port=2599)
    c.send(b"", flags="R")
    assert not c.segments_within(SILENCE), "a RST was answered"


def test_rfc5961_4_2_in_window_syn_gets_challenge_ack(srv):
    c = established(srv)
    c.send(b"", flags="S", seq=seq_add(c.snd_nxt, 100), advance=False)
    f = c.next(1.0)
    assert f is not None, "no challenge ACK for an in-window SYN"
    p = f.pkt
    # <SEQ=SND.NXT><ACK=RCV.NXT><CTL=ACK>
    assert is_pure_ack(p), flags_of(p)
    assert p[TCP].ack == c.snd_nxt and p[TCP].seq == c.rcv_nxt
    assert_alive(c)
    assert srv.counters()["tcp.challenge_acks"] >= 1


def test_rfc5961_3_2_in_window_inexact_rst_gets_challenge_ack(srv):
    c = established(srv)
    c.send(b"", flags="R", seq=seq_add(c.snd_nxt, 10), advance=False)
    f = c.next(1.0)
    assert f is not None, "no challenge ACK for an in-window, not exact RST"
    p = f.pkt
    assert is_pure_ack(p), flags_of(p)
    assert p[TCP].ack == c.snd_nxt and p[TCP].seq == c.rcv_nxt
    assert_alive(c)


def test_rfc5961_3_2_out_of_window_rst_is_silently_dropped(srv):
    c = established(srv)
    c.send(b"", flags="R", seq=seq_add(c.snd_nxt, 1 << 24), advance=False)
    assert not c.segments_within(SILENCE), "an out-of-window RST was answered"
    assert_alive(c)


def test_rfc5961_3_2_exact_rst_resets_the_connection(srv):
    c = established(srv)
    c.send(b"", flags="R", advance=False)
    time.sleep(0.1)
    # The TCB is gone: data now meets the CLOSED rules (RST at SEG.ACK).
    c.send(b"NOOP\r\n")
    f = c.next(1.0)
    assert f is not None and "R" in flags_of(f.pkt), "connection survived an exact RST"


def test_rfc9293_3_6_quit_fin_final_ack_and_time_wait_reacks_fin(srv):
    c = established(srv)
    c.send(b"QUIT\r\n")
    data, frames = c.read()
    assert data.startswith(b"221 "), data
    # The server closes first (active close) after its 221.
    if not c.peer_fin:
        f = c.next(2.0, lambda p: int(p[TCP].flags) & 0x01)
        assert f is not None, "no FIN after 221"
        assert f.pkt[TCP].seq == c.rcv_nxt, "FIN must follow the last data octet"
        c.rcv_nxt = seq_add(c.rcv_nxt, 1)
        c.peer_fin = True
        c.ack()
    # Our FIN: the server (FIN-WAIT-2 -> TIME-WAIT) sends the final ACK.
    fin_seq = c.snd_nxt
    c.send(b"", flags="FA")
    f = c.next(1.0)
    assert f is not None, "no ACK of our FIN"
    assert is_pure_ack(f.pkt) and f.pkt[TCP].ack == seq_add(fin_seq, 1), \
        f"final ACK {flags_of(f.pkt)} ack {f.pkt[TCP].ack}, want {seq_add(fin_seq, 1)}"
    # A retransmitted FIN (as if the final ACK were lost) is ACKed again.
    c.send(b"", flags="FA", seq=fin_seq, advance=False)
    f = c.next(1.0)
    assert f is not None, "retransmitted FIN in TIME-WAIT was not re-ACKed"
    assert is_pure_ack(f.pkt) and f.pkt[TCP].ack == seq_add(fin_seq, 1)
    assert not payload_of(f.pkt)
    # And nothing else (no RST: the TCB is still in TIME-WAIT).
    assert not [x for x in c.segments_within(0.3) if "R" in flags_of(x.pkt)]


def test_rfc9293_3_6_passive_close_fin_then_last_ack(srv):
    """Client closes first: the server ACKs our FIN, sends its own
    (CLOSE-WAIT -> LAST-ACK), and forgets the connection on our ACK."""
    c = established(srv, srv.echo_port)
    fin_seq = c.snd_nxt
    c.send(b"", flags="FA")
    f = c.next(2.0, lambda p: int(p[TCP].flags) & 0x01)
    assert f is not None, "server did not FIN after our FIN"
    assert f.pkt[TCP].ack == seq_add(fin_seq, 1)
    c.rcv_nxt = seq_add(f.pkt[TCP].seq, len(payload_of(f.pkt)) + 1)
    c.ack()
    # The TCB is gone: a further segment meets the CLOSED rules.
    time.sleep(0.1)
    c.send(b"x")
    f = c.next(1.0)
    assert f is not None and "R" in flags_of(f.pkt), "connection not closed after LAST-ACK"
