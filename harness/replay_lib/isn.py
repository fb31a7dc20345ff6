"""The ISN `baremail --fixed-isn` gives a connection (tcp/isn.cpp): RFC 6528's
F() alone, SipHash-2-4 keyed with the all-zero key over the 4-tuple (local
address and port, then remote, big-endian), low 32 bits; the clock term M is
0. The client's ACK of the SYN-ACK must carry ISN + 1 exactly (RFC 9293
§3.10.7.3), so the workload computes it."""
from __future__ import annotations

import struct

MASK = (1 << 64) - 1


def _rotl(x: int, b: int) -> int:
    return ((x << b) | (x >> (64 - b))) & MASK


def _round(v0: int, v1: int, v2: int, v3: int) -> tuple[int, int, int, int]:
    v0 = (v0 + v1) & MASK; v1 = _rotl(v1, 13); v1 ^= v0; v0 = _rotl(v0, 32)
    v2 = (v2 + v3) & MASK; v3 = _rotl(v3, 16); v3 ^= v2
    v0 = (v0 + v3) & MASK; v3 = _rotl(v3, 21); v3 ^= v0
    v2 = (v2 + v1) & MASK; v1 = _rotl(v1, 17); v1 ^= v2; v2 = _rotl(v2, 32)
    return v0, v1, v2, v3


def siphash24(k0: int, k1: int, data: bytes) -> int:
    """SipHash-2-4 (Aumasson & Bernstein, 2012) of `data` under key (k0, k1)."""
    v0, v1 = k0 ^ 0x736F6D6570736575, k1 ^ 0x646F72616E646F6D
    v2, v3 = k0 ^ 0x6C7967656E657261, k1 ^ 0x7465646279746573
    whole = len(data) & ~7
    for at in range(0, whole, 8):
        m = int.from_bytes(data[at:at + 8], "little")
        v3 ^= m
        v0, v1, v2, v3 = _round(*_round(v0, v1, v2, v3))
        v0 ^= m
    last = ((len(data) & 0xFF) << 56) | int.from_bytes(data[whole:], "little")
    v3 ^= last
    v0, v1, v2, v3 = _round(*_round(v0, v1, v2, v3))
    v0 ^= last
    v2 ^= 0xFF
    for _ in range(4):
        v0, v1, v2, v3 = _round(v0, v1, v2, v3)
    return v0 ^ v1 ^ v2 ^ v3


def fixed_isn(server_ip: int, server_port: int, client_ip: int, client_port: int) -> int:
    """The server's ISN for this 4-tuple under --fixed-isn."""
    tuple_bytes = struct.pack("!IHIH", server_ip, server_port, client_ip, client_port)
    return siphash24(0, 0, tuple_bytes) & 0xFFFFFFFF
