"""A QR code encoder specialised for the kits' serial codes: alphanumeric mode, level M, mask 0, versions 1-9.

A group's kits print tens of thousands of codes and segno, a general pure-Python encoder, took about 1 ms
each: 40 % of the kits' CPU. Every kit code has the same shape (upper-case serial, establishment and form
type), so what does not depend on the payload is computed once per version: the function patterns, the
format and version information, the order in which data modules are placed and the mask over them. Making
a code is then building its bit stream, Reed-Solomon with one table lookup per codeword, one XOR with the
mask and one permutation of the bits into the matrix (``operator.itemgetter``, in C): about 50 µs.

The symbols are the standard ones (ISO/IEC 18004): a test compares them module for module with segno's for
the same payload, level and mask. Payloads outside this subset (other characters, more than 262 characters)
are made by segno, so ``modules`` accepts any text.
"""

from __future__ import annotations

import functools
import operator
import re
from collections.abc import Callable
from dataclasses import dataclass

import segno

ALPHANUMERIC = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:"
_ALNUM_VALUE = {ch: i for i, ch in enumerate(ALPHANUMERIC)}
_ALNUM = re.compile(r"[0-9A-Z $%*+\-./:]*")

# per version at level M: (blocks as (count, data codewords), EC codewords per block, alignment centres)
_LEVEL_M: dict[int, tuple[tuple[tuple[int, int], ...], int, tuple[int, ...]]] = {
    1: (((1, 16),), 10, ()),
    2: (((1, 28),), 16, (6, 18)),
    3: (((1, 44),), 26, (6, 22)),
    4: (((2, 32),), 18, (6, 26)),
    5: (((2, 43),), 24, (6, 30)),
    6: (((4, 27),), 16, (6, 34)),
    7: (((4, 31),), 18, (6, 22, 38)),
    8: (((2, 38), (2, 39)), 22, (6, 24, 42)),
    9: (((3, 36), (2, 37)), 22, (6, 26, 46)),
}
MAX_VERSION = max(_LEVEL_M)

# GF(256) with the QR code polynomial x^8 + x^4 + x^3 + x^2 + 1
_EXP = [0] * 512
_LOG = [0] * 256
_x = 1
for _i in range(255):
    _EXP[_i] = _x
    _LOG[_x] = _i
    _x <<= 1
    if _x & 0x100:
        _x ^= 0x11D
for _i in range(255, 512):
    _EXP[_i] = _EXP[_i - 255]


def _gf_mul(a: int, b: int) -> int:
    return 0 if a == 0 or b == 0 else _EXP[_LOG[a] + _LOG[b]]


@functools.cache
def _rs_table(ec: int) -> tuple[int, ...]:
    """For each feedback byte f, the EC remainder's update f × g(x) (without its leading term) as one int.

    The remainder is then kept as one integer of ``ec`` bytes: one shift, one mask and one XOR per data
    codeword instead of ``ec`` multiplications."""
    gen = [1]  # g(x) = (x - a^0)(x - a^1)…(x - a^(ec-1)), highest degree first
    for i in range(ec):
        nxt = [*gen, 0]
        for j, coef in enumerate(gen):
            nxt[j + 1] ^= _gf_mul(coef, _EXP[i])
        gen = nxt
    return tuple(int.from_bytes(bytes(_gf_mul(f, g) for g in gen[1:]), "big") for f in range(256))


def _ec_codewords(data: bytes, ec: int) -> bytes:
    table, top, mask = _rs_table(ec), 8 * (ec - 1), (1 << 8 * ec) - 1
    rem = 0
    for byte in data:
        rem = ((rem << 8) & mask) ^ table[(rem >> top) ^ byte]
    return rem.to_bytes(ec, "big")


def _bch(value: int, poly: int, bits: int) -> int:
    """``value`` followed by the remainder of its division by ``poly`` (of degree ``bits``)."""
    rem = value << bits
    for shift in range(rem.bit_length() - 1, bits - 1, -1):
        if rem >> shift & 1:
            rem ^= poly << (shift - bits)
    return value << bits | rem


@dataclass(frozen=True)
class _Layout:
    """What every symbol of one version has in common."""

    version: int
    size: int
    capacity_bits: int  # data codewords × 8
    blocks: tuple[int, ...]  # data codewords of each block
    ec: int
    data_bits: int  # every module not in a function pattern: codewords, then remainder bits
    mask: int  # mask 0 over the data modules, in placement order (first placed = most significant)
    gather: Callable[[bytes], tuple[int, ...]]  # placed bits + b"01" -> rows of '0'/'1', each ending in '0'


def _finders_and_timing(size: int, dark: dict[tuple[int, int], bool]) -> None:
    for r0, c0 in ((0, 0), (0, size - 7), (size - 7, 0)):
        for dr in range(-1, 8):
            for dc in range(-1, 8):
                r, c = r0 + dr, c0 + dc
                if 0 <= r < size and 0 <= c < size:  # the separator ring is clipped at the edges
                    dark[r, c] = max(abs(dr - 3), abs(dc - 3)) not in {2, 4}
    for i in range(8, size - 8):
        dark[6, i] = dark[i, 6] = i % 2 == 0


def _alignment(centres: tuple[int, ...], dark: dict[tuple[int, int], bool]) -> None:
    if not centres:
        return
    first, last = centres[0], centres[-1]
    for r in centres:
        for c in centres:
            if (r, c) not in {(first, first), (first, last), (last, first)}:  # where the finders are
                for dr in range(-2, 3):
                    for dc in range(-2, 3):
                        dark[r + dr, c + dc] = max(abs(dr), abs(dc)) != 1


def _format_and_version(version: int, size: int, dark: dict[tuple[int, int], bool]) -> None:
    # format information: level M (00) and mask 0 (000), BCH(15,5), XOR 101010000010010
    fmt = _bch(0b00000, 0x537, 10) ^ 0x5412
    around = [(i, 8) for i in range(6)] + [(7, 8), (8, 8), (8, 7)] + [(8, 14 - i) for i in range(9, 15)]
    along = [(8, size - 1 - i) for i in range(8)] + [(size - 15 + i, 8) for i in range(8, 15)]
    for i in range(15):
        dark[around[i]] = dark[along[i]] = bool(fmt >> i & 1)
    dark[size - 8, 8] = True  # the dark module
    if version >= 7:
        info = _bch(version, 0x1F25, 12)
        for i in range(18):
            bit = bool(info >> i & 1)
            dark[i // 3, size - 11 + i % 3] = dark[size - 11 + i % 3, i // 3] = bit


def _placement(size: int, function: dict[tuple[int, int], bool]) -> list[tuple[int, int]]:
    """Data modules in placement order: two-column strips from the right, zigzagging up then down,
    the vertical timing column skipped."""
    order: list[tuple[int, int]] = []
    right = size - 1
    while right >= 1:
        if right == 6:
            right = 5
        upward = (right + 1) & 2 == 0
        for vert in range(size):
            r = size - 1 - vert if upward else vert
            order.extend((r, c) for c in (right, right - 1) if (r, c) not in function)
        right -= 2
    return order


@functools.cache
def _layout(version: int) -> _Layout:
    groups, ec, centres = _LEVEL_M[version]
    size = 17 + 4 * version
    dark: dict[tuple[int, int], bool] = {}  # function modules, (row, column) -> dark
    _finders_and_timing(size, dark)
    _alignment(centres, dark)
    _format_and_version(version, size, dark)
    order = _placement(size, dark)
    mask = 0
    for r, c in order:
        mask = mask << 1 | ((r + c) % 2 == 0)
    index = {pos: i for i, pos in enumerate(order)}
    zero, one = len(order), len(order) + 1  # the two constants appended after the placed bits
    picks: list[int] = []
    stride = (size + 8) // 8 * 8  # rows padded to whole bytes (sizes are odd: at least one padding bit)
    for r in range(size):
        for c in range(size):
            picks.append(index[r, c] if (r, c) in index else (one if dark[r, c] else zero))
        picks.extend([zero] * (stride - size))
    blocks = tuple(n for count, n in groups for _ in range(count))
    return _Layout(
        version=version,
        size=size,
        capacity_bits=8 * sum(blocks),
        blocks=blocks,
        ec=ec,
        data_bits=len(order),
        mask=mask,
        gather=operator.itemgetter(*picks),
    )


def _version_for(length: int) -> int | None:
    need = 4 + 9 + 11 * (length // 2) + 6 * (length % 2)
    return next((v for v in _LEVEL_M if need <= _layout(v).capacity_bits), None)


@dataclass(frozen=True)
class Symbol:
    """A QR code's modules, quiet zone excluded: ``rows`` holds one b'0'/b'1' string per row (1 dark),
    each padded with b'0' to a whole number of bytes, as the rows of a 1-bit image are."""

    size: int
    rows: bytes

    @property
    def stride(self) -> int:
        return len(self.rows) // self.size

    def packed(self) -> bytes:
        """The modules as 1-bit image rows, eight modules a byte, most significant bit first."""
        return int(self.rows, 2).to_bytes(len(self.rows) // 8, "big")

    def matrix(self) -> list[list[int]]:
        w = self.stride
        return [[self.rows[r * w + c] - 48 for c in range(self.size)] for r in range(self.size)]


def modules(payload: str) -> Symbol:
    """The symbol segno makes with ``make_qr(payload, error="m", mask=0, boost_error=False)``.

    Except where segno departs from the standard: when the bit stream ends on a codeword boundary after
    the terminator, segno 1.6 adds a zero codeword before the pad codewords (heuer/segno#148); ISO/IEC
    18004 7.4.10 adds padding bits only to reach a boundary, as here. Both decode to the same text."""
    # segno would choose numeric mode for digits only: not a kit payload, so left to segno
    plain = _ALNUM.fullmatch(payload) and not payload.isdigit()
    version = _version_for(len(payload)) if plain else None
    if version is None:
        return _segno(payload)
    lay = _layout(version)
    # bit stream: mode 0010, character count (9 bits up to version 9), pairs in 11 bits, a last one in 6
    values = [_ALNUM_VALUE[ch] for ch in payload]
    bits, n = 0b0010 << 9 | len(values), 13
    for i in range(0, len(values) - 1, 2):
        bits = bits << 11 | values[i] * 45 + values[i + 1]
    n += 11 * (len(values) // 2)
    if len(values) % 2:
        bits, n = bits << 6 | values[-1], n + 6
    cap = lay.capacity_bits
    term = min(4, cap - n)
    bits, n = bits << term, n + term
    pad = -n % 8
    bits, n = bits << pad, n + pad
    data = bits.to_bytes(n // 8, "big") + b"\xec\x11" * ((cap - n) // 16 + 1)
    data = data[: cap // 8]
    # blocks, their EC codewords, then both interleaved column by column
    blocks, at = [], 0
    for k in lay.blocks:
        blocks.append(data[at : at + k])
        at += k
    if len(blocks) == 1:
        stream = data + _ec_codewords(data, lay.ec)
    else:
        ecs = [_ec_codewords(b, lay.ec) for b in blocks]
        longest = max(lay.blocks)
        stream = bytes(b[i] for i in range(longest) for b in blocks if i < len(b))
        stream += bytes(e[i] for i in range(lay.ec) for e in ecs)
    placed = int.from_bytes(stream, "big") << (lay.data_bits - 8 * len(stream))  # remainder bits: 0
    text = format(placed ^ lay.mask, f"0{lay.data_bits}b").encode() + b"01"
    return Symbol(lay.size, bytes(lay.gather(text)))


def _segno(payload: str) -> Symbol:
    code = segno.make_qr(payload, error="m", mask=0, boost_error=False)
    size = len(code.matrix)
    pad = b"0" * ((size + 8) // 8 * 8 - size)
    return Symbol(size, b"".join(bytes(48 + v for v in row) + pad for row in code.matrix))
