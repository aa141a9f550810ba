"""SLP v2 on the wire, for tests that craft frames by hand: a second,
independent reading of docs/protocol.md (the C codec is dataplane/slp.c).
Every frame is a 16-byte header, a body, and the CRC32C of everything
before it; the header's length counts the body and the CRC."""
import struct

MAGIC, VERSION = 0x534C, 2
OPEN, DATA, FIN = 0x01, 0x02, 0x03
ACCEPT, REJECT, STATUS, DONE, NAK = 0x81, 0x82, 0x83, 0x84, 0x85
F_RESUME, F_BEYOND = 0x0001, 0x0002


def _table():
    t = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ (0x82F63B78 if c & 1 else 0)
        t.append(c)
    return t


_T = _table()


def crc32c(data, crc=0):
    """CRC32C (Castagnoli); chains like slp_crc32c: crc32c(b, crc32c(a)) == crc32c(a + b)."""
    c = crc ^ 0xFFFFFFFF
    for b in data:
        c = _T[(c ^ b) & 0xFF] ^ (c >> 8)
    return c ^ 0xFFFFFFFF


def frame(t, body, stream=0, session=0, flags=0, magic=MAGIC, ver=VERSION, length=None, crc=None):
    """A frame; length and crc may be forced to something wrong."""
    head = struct.pack(">HBBHHII", magic, ver, t, flags, len(body) + 4 if length is None else length, stream, session)
    return head + body + struct.pack(">I", crc32c(head + body) if crc is None else crc)


def open_frame(rev, tenant, token, doc, session, flags=0):
    t, k, d = tenant.encode(), token.encode(), doc.encode()
    return frame(OPEN, struct.pack(">QBBBB", rev, len(t), len(k), len(d), 0) + t + k + d, 0, session, flags)


def data_frame(off, payload, stream, session, **kw):
    return frame(DATA, struct.pack(">Q", off) + payload, stream, session, **kw)


def fin_frame(total, crc, stream, session):
    return frame(FIN, struct.pack(">QI", total, crc), stream, session)


def parse(d):
    """A reply as a dict: t, flags, stream, session, crc_ok, and its fields."""
    magic, ver, t, flags, ln, stream, session = struct.unpack(">HBBHHII", d[:16])
    r = {"t": t, "flags": flags, "stream": stream, "session": session,
         "crc_ok": len(d) >= 20 and struct.unpack(">I", d[-4:])[0] == crc32c(d[:-4])}
    b = d[16:-4]
    if t in (ACCEPT, STATUS, NAK) and len(b) >= 20:
        r["pos"], r["window"], r["durable"] = struct.unpack(">QIQ", b[:20])
    if t == NAK and len(b) >= 32:
        r["gap_offset"], r["gap_len"] = struct.unpack(">QI", b[20:32])
    if t == REJECT and len(b) >= 2:
        r["code"], r["reason"] = struct.unpack(">H", b[:2])[0], b[2:].decode(errors="replace")
    if t == DONE and len(b) >= 28:
        r["code"], _, r["lines"], r["ok"], r["errors"] = struct.unpack(">HHQQQ", b[:28])
        r["reason"] = b[28:].decode(errors="replace")
    return r
