"""RFC 6587 framing of syslog over a stream: octet counting (``LEN SP MSG``) or a trailer (LF, or NUL).

The framing is chosen once per connection from its first byte, as rsyslog and syslog-ng send it: a digit
starts an octet count, anything else (``<`` of a PRI) is trailer framing. RFC 3164 and RFC 5424 messages
are not parsed here; they pass through as the payload.

Over-long messages (more than ``max_message_bytes``) are dropped whole and counted, and the connection
goes on, because both framings say where the next message starts: the octet count says how much to skip,
the trailer framing skips to the next LF/NUL. A malformed octet count leaves no way to find the next
message: the messages complete before it are still returned, :attr:`Framer.error` says what broke,
and the receiver hands those messages to the sink, then closes that connection.
"""

from __future__ import annotations

from dataclasses import dataclass, field

MAX_COUNT_DIGITS = 10  # an octet count longer than this cannot be a message we would take


class FramingError(Exception):
    """The stream cannot be cut into messages any more (a malformed octet count)."""


@dataclass
class Framer:
    """Incremental: :meth:`feed` takes what was read, returns the complete messages, keeps the rest."""

    max_message_bytes: int = 64 * 1024
    octet_counted: bool | None = None  # None until the first byte is seen
    too_long: int = 0  # messages dropped for their length, since the start
    _buffer: bytearray = field(default_factory=bytearray)
    _skip: int = 0  # octets of an over-long counted message still to discard
    _discarding: bool = False  # inside an over-long trailer-framed message, until its LF/NUL
    error: str | None = None  # set once the stream cannot be cut any more; feed then returns nothing

    def feed(self, data: bytes) -> list[bytes]:
        if self.error is not None:
            return []
        self._buffer += data
        if self.octet_counted is None:
            if not self._buffer:
                return []
            self.octet_counted = self._buffer[:1].isdigit()
        return self._counted() if self.octet_counted else self._trailer()

    @property
    def pending(self) -> int:
        """Octets read and not yet part of a complete message (lost if the peer goes away now)."""
        return len(self._buffer)

    def _counted(self) -> list[bytes]:
        out: list[bytes] = []
        try:
            self._cut_counted(out)
        except FramingError as exc:
            self.error = str(exc)
        return out

    def _cut_counted(self, out: list[bytes]) -> None:
        buf = self._buffer
        pos = 0
        while True:  # pos only moves past complete messages, so the error path needs no cleanup
            if self._skip:
                n = min(self._skip, len(buf) - pos)
                self._skip -= n
                pos += n
                if self._skip:
                    break
            space = buf.find(b" ", pos, pos + MAX_COUNT_DIGITS + 1)
            if space < 0:
                head = bytes(buf[pos:pos + MAX_COUNT_DIGITS + 1])
                if len(head) > MAX_COUNT_DIGITS or (head and not head.isdigit()):
                    raise FramingError(f"malformed octet count {head[:20]!r}")
                break
            digits = bytes(buf[pos:space])
            if not digits.isdigit() or digits.startswith(b"0"):
                raise FramingError(f"malformed octet count {digits[:20]!r}")
            length = int(digits)
            if length > self.max_message_bytes:
                self.too_long += 1
                self._skip = length
                pos = space + 1
                continue
            end = space + 1 + length
            if end > len(buf):
                break
            out.append(bytes(buf[space + 1:end]))
            pos = end
        del buf[:pos]

    def _trailer(self) -> list[bytes]:
        out: list[bytes] = []
        buf = self._buffer
        pos = 0
        while True:
            lf, nul = buf.find(b"\n", pos), buf.find(b"\0", pos)
            end = min(i for i in (lf, nul) if i >= 0) if lf >= 0 or nul >= 0 else -1
            if end < 0:
                if len(buf) - pos > self.max_message_bytes:
                    if not self._discarding:
                        self.too_long += 1
                    self._discarding = True
                    pos = len(buf)
                break
            if self._discarding or end - pos > self.max_message_bytes:
                if not self._discarding:
                    self.too_long += 1
                self._discarding = False
            else:
                message = bytes(buf[pos:end]).removesuffix(b"\r")
                if message:  # an empty line is no message
                    out.append(message)
            pos = end + 1
        del buf[:pos]
        return out
