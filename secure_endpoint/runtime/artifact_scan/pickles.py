"""Walk a pickle's opcodes without unpickling it, and find the imports it would make.

``pickletools`` describes every opcode of protocols 0-5; this module reads them one at a time
from a stream (bounded memory: a large bytes value is skipped or scanned as a stream, never held)
and runs a symbolic stack machine: strings, numbers and containers are tracked as values, the
memo is kept, and every import (``GLOBAL``, ``STACK_GLOBAL``, ``INST``) is resolved to its
``module.name`` and judged by the ``Policy``. ``STACK_GLOBAL`` takes its two strings from the
stack, so a name pushed through the memo (``BINPUT``/``MEMOIZE`` then ``BINGET``) is resolved
like a literal one; one that is not a string known before loading is refused. Extension codes
(``EXT1/2/4``, the copyreg registry) are refused: what they import is not in the pickle.

Bytes (and protocol 2's latin-1 strings) that are themselves a pickle or a zip are scanned as
nested members. joblib's files are pickles interleaved with raw array data: after the ``BUILD``
of a ``NumpyArrayWrapper`` the array's bytes (object arrays: a nested pickle) follow, and are
skipped (or scanned) the way ``joblib.load`` reads them.
"""

from __future__ import annotations

import io
import math
import pickle
import pickletools
import re
import struct
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from secure_endpoint.runtime.artifact_scan.findings import Finding, Limits
from secure_endpoint.runtime.artifact_scan.policy import Policy
from secure_endpoint.runtime.artifact_scan.streams import Reader, Truncated

PICKLE_PROTOCOLS = range(2, 6)
MAX_INLINE = 8 * 2**20
"""Bytes and strings up to this size are held as values; larger ones are streamed past."""
MAX_LINE = 64 * 1024
MAX_STACK = 1_000_000
MAX_MEMO = 8_000_000
"""Memo entries: a pickle of millions of Python objects has as many. Only values a later
``GET`` may need known are held (``_kept``), strings up to ``MAX_MEMO_TEXT`` bytes in all; the
keys of the others are a set of ints. About 250 MB for 3 million objects (measured), so the
limit stays within the verifier's 2 GB."""
MAX_MEMO_TEXT = 128 * 2**20
"""Bytes of memoized strings held; later ones are ``UNKNOWN`` (a ``STACK_GLOBAL`` of one is
refused, never resolved wrongly)."""
MAX_ITEMS = 100_000
"""Items kept per container (more are dropped: only small structures are read)."""
MAX_RETAINED = 2_000_000
"""Items kept in containers over the whole pickle."""
_BY_CODE = {op.code.encode("latin-1"): op for op in pickletools.opcodes}
_LENGTH_PREFIX = {
    "string1": "<B", "bytes1": "<B", "unicodestring1": "<B", "long1": "<B",
    "string4": "<i", "long4": "<i", "bytes4": "<I", "unicodestring4": "<I",
    "bytes8": "<Q", "unicodestring8": "<Q", "bytearray8": "<Q",
}  # fmt: skip
_FIXED = {
    name: struct.Struct(fmt)
    for name, fmt in (
        ("uint1", "<B"), ("uint2", "<H"), ("int4", "<i"), ("uint4", "<I"), ("uint8", "<Q"),
        ("float8", ">d"),
    )
}  # fmt: skip
"""Fixed-size arguments, decoded without pickletools' per-call stream."""
_JOBLIB_WRAPPER = "joblib.numpy_pickle.NumpyArrayWrapper"
_DIGITS = re.compile(r"(\d+)")


class Malformed(Exception):
    """Not a well-formed pickle at this point."""


class _Stop(Exception):
    """A finding that ends the scan of this pickle (a limit, an unreadable joblib array)."""


class _Unknown:
    def __repr__(self) -> str:
        return "<unknown>"


UNKNOWN = _Unknown()


@dataclass(frozen=True)
class Global:
    module: str
    name: str

    @property
    def full(self) -> str:
        return f"{self.module}.{self.name}"


@dataclass(eq=False)
class Obj:
    """What a call (``REDUCE``, ``NEWOBJ``, ``INST``, ``OBJ``) would return; ``BUILD``'s state."""

    func: Any
    args: Any
    state: Any = None


@dataclass(eq=False)
class Pairs:
    """A dict (its keys may be symbolic, so not hashable): its pairs, in order."""

    items: list[tuple[Any, Any]]

    def get(self, key: Any, default: Any = None) -> Any:
        for k, v in self.items:
            if k == key:
                return v
        return default


@dataclass
class Outcome:
    """How the walk of one pickle ended."""

    opcodes: int = 0
    stopped: bool = False  # reached STOP
    error: str | None = None
    error_offset: int | None = None


Sink = Callable[[Finding], None]
Nested = Callable[[str, Reader], None]


def looks_like_pickle(head: bytes) -> bool:
    """A protocol 2-5 pickle starts with PROTO and its protocol."""
    return len(head) >= 2 and head[0] == 0x80 and head[1] in PICKLE_PROTOCOLS


class Walker:
    """One pickle (or a run of them) of ``member`` read from ``reader``."""

    def __init__(
        self,
        reader: Reader,
        member: str,
        policy: Policy,
        limits: Limits,
        sink: Sink,
        nested: Nested,
        tick: Callable[[], None] = lambda: None,
    ) -> None:
        self.reader = reader
        self.tick = tick
        self.member = member
        self.policy = policy
        self.limits = limits
        self.sink = sink
        self.nested = nested
        self.found = 0
        self.retained = 0

    def _finding(self, kind: str, reason: str, offset: int | None, opcode: str | None = None,
                 global_name: str | None = None) -> None:  # fmt: skip
        self.found += 1
        self.sink(Finding(self.member, kind, reason, offset, opcode, global_name))

    def walk(self) -> Outcome:
        """Walk one pickle to its STOP; an error is the outcome's, not raised."""
        outcome = Outcome()
        try:
            self._run(outcome)
        except (
            Malformed,
            Truncated,
            ValueError,
            struct.error,
            UnicodeDecodeError,
            RecursionError,
        ) as error:
            outcome.error = str(error) or type(error).__name__
            outcome.error_offset = self.reader.pos
        except _Stop as stop:
            outcome.error = str(stop)
            outcome.error_offset = self.reader.pos
        return outcome

    def _run(self, outcome: Outcome) -> None:
        stack: list[Any] = []
        metastack: list[list[Any]] = []
        memo = _Memo()
        reader = self.reader

        def pop() -> Any:
            if not stack:
                raise Malformed("an opcode pops from an empty stack")
            return stack.pop()

        def pop_mark() -> list[Any]:
            nonlocal stack
            if not metastack:
                raise Malformed("an opcode pops to a MARK that was never pushed")
            items, stack = stack, metastack.pop()
            return items

        def top() -> Any:
            if not stack:
                raise Malformed("an opcode needs a value on an empty stack")
            return stack[-1]

        while True:
            pos = reader.pos
            reader.fill()
            code = reader.read(1)
            if not code:
                raise Truncated("the pickle ends before its STOP opcode")
            op = _BY_CODE.get(code)
            if op is None:
                raise Malformed(f"unknown opcode byte {code!r} at offset {pos}")
            outcome.opcodes += 1
            if not outcome.opcodes & 0xFFFF:
                self.tick()  # ScanTimeout, raised through: the whole scan stops
            if outcome.opcodes > self.limits.max_pickle_ops:
                self._finding("limit", f"more than {self.limits.max_pickle_ops} opcodes", pos)
                raise _Stop("opcode limit")
            if len(stack) > MAX_STACK or len(memo) > MAX_MEMO:
                self._finding(
                    "limit",
                    f"the pickle's stack or memo grows past the scan's limit ({MAX_STACK} "
                    f"values, {MAX_MEMO} memo entries)",
                    pos,
                    op.name,
                )
                raise _Stop("stack limit")
            arg = self._argument(op, pos)
            name = op.name
            if name in ("PROTO",):
                if arg not in range(0, 6):
                    raise Malformed(f"unsupported pickle protocol {arg}")
            elif name in ("FRAME", "READONLY_BUFFER"):
                pass
            elif name == "STOP":
                pop()
                outcome.stopped = True
                return
            elif op.arg is not None and name not in _NOT_A_VALUE:
                stack.append(arg)
            elif name == "NONE":
                stack.append(None)
            elif name == "NEWTRUE":
                stack.append(True)
            elif name == "NEWFALSE":
                stack.append(False)
            elif name == "EMPTY_LIST":
                stack.append([])
            elif name == "EMPTY_TUPLE":
                stack.append(())
            elif name == "EMPTY_DICT":
                stack.append(Pairs([]))
            elif name == "EMPTY_SET":
                stack.append([])
            elif name == "NEXT_BUFFER":
                stack.append(UNKNOWN)
            elif name == "MARK":
                metastack.append(stack)
                stack = []
            elif name == "POP":
                if stack:
                    stack.pop()
                else:
                    pop_mark()
            elif name == "POP_MARK":
                pop_mark()
            elif name == "DUP":
                stack.append(top())
            elif name == "APPEND":
                value = pop()
                self._extend(top(), [value])
            elif name in ("APPENDS", "ADDITEMS"):
                items = pop_mark()
                self._extend(top(), items)
            elif name in ("LIST", "FROZENSET"):
                items = pop_mark()  # before stack.append: pop_mark rebinds the stack
                stack.append(items[:MAX_ITEMS])
            elif name == "TUPLE":
                items = pop_mark()
                stack.append(tuple(items[:MAX_ITEMS]))
            elif name in ("TUPLE1", "TUPLE2", "TUPLE3"):
                n = int(name[-1])
                if len(stack) < n:
                    raise Malformed(f"{name} needs {n} values on the stack")
                values = tuple(stack[-n:])
                del stack[-n:]
                stack.append(values)
            elif name == "DICT":
                items = pop_mark()
                stack.append(Pairs(list(zip(items[::2], items[1::2], strict=False))[:MAX_ITEMS]))
            elif name == "SETITEM":
                value, key = pop(), pop()
                self._set_items(top(), [key, value])
            elif name == "SETITEMS":
                items = pop_mark()
                self._set_items(top(), items)
            elif name in ("PUT", "BINPUT", "LONG_BINPUT"):
                memo.put(int(arg), top())
            elif name == "MEMOIZE":
                memo.put(len(memo), top())  # as pickle does: the number of keys stored
            elif name in ("GET", "BINGET", "LONG_BINGET"):
                stack.append(memo.get(int(arg), name))
            elif name == "GLOBAL":
                module, _, attr = str(arg).partition(" ")
                stack.append(self._import(module, attr, pos, name))
            elif name == "STACK_GLOBAL":
                attr, module = pop(), pop()
                if isinstance(module, str) and isinstance(attr, str):
                    stack.append(self._import(module, attr, pos, name))
                else:
                    self._finding(
                        "pickle-global",
                        "STACK_GLOBAL imports a module or name that is not a string known "
                        f"before loading ({module!r:.60}, {attr!r:.60}): refused",
                        pos,
                        name,
                    )
                    stack.append(UNKNOWN)
            elif name == "INST":
                module, _, attr = str(arg).partition(" ")
                func = self._import(module, attr, pos, name)
                items = pop_mark()
                stack.append(Obj(func, tuple(items)))
            elif name == "OBJ":
                items = pop_mark()
                if not items:
                    raise Malformed("OBJ without a class")
                stack.append(Obj(items[0], tuple(items[1:])))
            elif name == "REDUCE":
                args, func = pop(), pop()
                stack.append(Obj(func, args))
            elif name == "NEWOBJ":
                args, cls = pop(), pop()
                stack.append(Obj(cls, args))
            elif name == "NEWOBJ_EX":
                _kwargs, args, cls = pop(), pop(), pop()
                stack.append(Obj(cls, args))
            elif name == "BUILD":
                state = pop()
                obj = top()
                if isinstance(obj, Obj):
                    obj.state = state
                    if _is_joblib_wrapper(obj):
                        self._joblib_array(obj, pos)
            elif name == "PERSID":
                stack.append(Obj("persistent_load", arg))
            elif name == "BINPERSID":
                stack.append(Obj("persistent_load", pop()))
            elif name in ("EXT1", "EXT2", "EXT4"):
                self._finding(
                    "pickle-global",
                    f"extension code {arg} imports a global registered with copyreg, which the "
                    "pickle does not name: refused",
                    pos,
                    name,
                )
                stack.append(UNKNOWN)
            else:  # pragma: no cover - every opcode of pickletools is handled above
                raise Malformed(f"unhandled opcode {name}")

    def _extend(self, target: Any, items: list[Any]) -> None:
        if isinstance(target, list) and len(target) < MAX_ITEMS and self.retained < MAX_RETAINED:
            kept = items[: MAX_ITEMS - len(target)]
            self.retained += len(kept)
            target.extend(kept)

    def _set_items(self, target: Any, items: list[Any]) -> None:
        if len(items) % 2:
            raise Malformed("SETITEMS with an odd number of values")
        if (
            isinstance(target, Pairs)
            and len(target.items) < MAX_ITEMS
            and self.retained < MAX_RETAINED
        ):
            self.retained += len(items) // 2
            target.items.extend(zip(items[::2], items[1::2], strict=True))

    def _argument(self, op: pickletools.OpcodeInfo, pos: int) -> Any:
        spec = op.arg
        if spec is None:
            return None
        reader = self.reader
        if spec.n >= 0:
            fixed = _FIXED.get(spec.name)
            if fixed is not None:
                return fixed.unpack(reader.read_exact(fixed.size))[0]
            return spec.reader(io.BytesIO(reader.read_exact(spec.n)))
        if spec.n == pickletools.UP_TO_NEWLINE:
            lines = reader.readline(MAX_LINE)
            if spec.name == "stringnl_noescape_pair":
                lines += reader.readline(MAX_LINE)
            return spec.reader(io.BytesIO(lines))
        fmt = _LENGTH_PREFIX[spec.name]
        (size,) = struct.unpack(fmt, reader.read_exact(struct.calcsize(fmt)))
        if size < 0:
            raise Malformed(f"{op.name} with a negative length {size}")
        if size > MAX_INLINE:
            return self._large(spec.name, size, pos, op.name)
        data = reader.read_exact(size)
        if spec.name.startswith("unicode"):
            text = data.decode("utf-8", "surrogatepass")
            self._maybe_nested(text, pos)
            return text
        if spec.name.startswith("string"):
            text = data.decode("latin-1")
            self._maybe_nested(text, pos)
            return text
        if spec.name.startswith("long"):
            return pickle.decode_long(data)
        self._maybe_nested(data, pos)
        return data

    def _maybe_nested(self, value: bytes | str, pos: int) -> None:
        """Scan a value that is itself a pickle (or a zip) as a nested member."""
        if isinstance(value, str):
            if not value.startswith(("\x80", "PK")):
                return
            try:
                value = value.encode("latin-1")
            except UnicodeEncodeError:
                return
        if looks_like_pickle(value[:2]) or value[:4] == b"PK\x03\x04":
            self.nested(f"{self.member}!bytes@{pos}", Reader(io.BytesIO(value)))

    def _large(self, kind: str, size: int, pos: int, opcode: str) -> Any:
        """A value too large to hold: scanned as a stream when it is a pickle or zip, else
        skipped."""
        if kind.startswith("long"):
            raise Malformed(f"{opcode} declares a {size}-byte integer")
        if size > self.limits.max_member_bytes:
            self._finding("limit", f"a {size}-byte value, over the scan's limit", pos, opcode)
            raise _Stop("value limit")
        head = self.reader.peek(4)
        embedded = looks_like_pickle(head[:2]) or head == b"PK\x03\x04"
        if kind in ("bytes1", "bytes4", "bytes8", "bytearray8") and embedded:
            inner = Reader(_Remaining(self.reader), limit=size)
            self.nested(f"{self.member}!bytes@{pos}", inner)
            inner.drain()
            return UNKNOWN
        self.reader.skip(size)
        return UNKNOWN

    def _import(self, module: str, attr: str, pos: int, opcode: str) -> Global:
        verdict = self.policy.verdict(module, attr)
        target = Global(module, attr)
        if not verdict.allowed:
            self._finding("pickle-global", verdict.reason, pos, opcode, target.full)
        return target

    def _joblib_array(self, wrapper: Obj, pos: int) -> None:
        """Read past (or scan) the array joblib wrote right after this wrapper."""
        state = wrapper.state
        dtype = state.get("dtype") if isinstance(state, Pairs) else None
        shape = state.get("shape") if isinstance(state, Pairs) else None
        itemsize, has_object = _dtype_size(dtype)
        if has_object:
            inner = Walker(
                self.reader,
                self.member,
                self.policy,
                self.limits,
                self.sink,
                self.nested,
                self.tick,
            )
            outcome = inner.walk()
            self.found += inner.found
            if not outcome.stopped:
                raise Malformed(f"joblib's object array: {outcome.error}")
            return
        if (
            itemsize is None
            or not isinstance(shape, tuple)
            or not all(isinstance(n, int) and n >= 0 for n in shape)
        ):
            self._finding(
                "pickle-corrupt",
                "a joblib array whose size the scan cannot tell (shape "
                f"{shape!r:.60}): the rest of the file is not scanned",
                pos,
                "BUILD",
                _JOBLIB_WRAPPER,
            )
            raise _Stop("joblib array")
        size = math.prod(shape) * itemsize
        if size > self.limits.max_member_bytes:
            self._finding("limit", f"a joblib array of {size} bytes, over the limit", pos)
            raise _Stop("joblib array limit")
        if state.get("numpy_array_alignment_bytes") is not None:
            padding = self.reader.read_exact(1)[0]
            self.reader.skip(padding)
        self.reader.skip(size)


_NOT_A_VALUE = frozenset(
    {
        "PROTO",
        "FRAME",
        "GLOBAL",
        "INST",
        "PUT",
        "BINPUT",
        "LONG_BINPUT",
        "GET",
        "BINGET",
        "LONG_BINGET",
        "EXT1",
        "EXT2",
        "EXT4",
        "PERSID",
    }
)
"""Opcodes with an argument that is not pushed as it is."""


class _Remaining:
    """The rest of a ``Reader`` as a plain stream, for a bounded sub-reader."""

    def __init__(self, reader: Reader) -> None:
        self._reader = reader

    def read(self, size: int = -1, /) -> bytes:
        return self._reader.read(size)


class _Memo:
    """The pickle's memo: the values a ``GET`` may need known (``_kept``), and the keys of the
    others (a bitmap below ``_BITMAP_KEYS``, a set above). Its size is the number of distinct
    keys, as pickle's memo's is (``MEMOIZE`` stores at that index, so the two must agree
    exactly, or a name could be resolved to the wrong string)."""

    def __init__(self) -> None:
        self._known: dict[int, Any] = {}
        self._bits = bytearray()
        self._high: set[int] = set()
        self._unknown = 0
        self._text = 0
        self._strings: dict[str, str] = {}

    def __len__(self) -> int:
        return len(self._known) + self._unknown

    def _is_unknown(self, key: int) -> bool:
        if key < _BITMAP_KEYS:
            return key >> 3 < len(self._bits) and bool(self._bits[key >> 3] & (1 << (key & 7)))
        return key in self._high

    def _mark_unknown(self, key: int, unknown: bool) -> None:
        if unknown == self._is_unknown(key):
            return
        self._unknown += 1 if unknown else -1
        if key >= _BITMAP_KEYS:
            (self._high.add if unknown else self._high.discard)(key)
            return
        if key >> 3 >= len(self._bits):
            self._bits.extend(bytes(max((key >> 3) + 1 - len(self._bits), len(self._bits))))
        self._bits[key >> 3] ^= 1 << (key & 7)

    def put(self, key: int, value: Any) -> None:
        kept = _kept(value)
        if isinstance(kept, str):
            held = self._strings.get(kept)
            if held is not None:
                kept = held  # one copy of a string memoized many times (feature names)
            elif self._text + len(kept) > MAX_MEMO_TEXT:
                kept = UNKNOWN
            else:
                self._text += len(kept)
                self._strings[kept] = kept
        if kept is UNKNOWN:
            self._known.pop(key, None)
            self._mark_unknown(key, True)
        else:
            self._mark_unknown(key, False)
            self._known[key] = kept

    def get(self, key: int, opcode: str) -> Any:
        if key in self._known:
            return self._known[key]
        if self._is_unknown(key):
            return UNKNOWN
        raise Malformed(f"{opcode} of memo key {key}, never stored")


_BITMAP_KEYS = 2**26
"""Memo keys below this are marked in a bitmap (at most 8 MB): pickles number them from 0."""


def _kept(value: Any) -> Any:
    """What the memo keeps of ``value``: what a later ``GET`` may need to be known (names for
    ``STACK_GLOBAL``, globals, small int tuples like an array's shape, a numpy dtype), else
    ``UNKNOWN``."""
    if value is None or isinstance(value, bool | int | Global):
        return value
    if isinstance(value, str):
        return value if len(value) <= 256 else UNKNOWN
    if isinstance(value, tuple):
        small = len(value) <= 16
        return value if small and all(isinstance(v, int | Global) for v in value) else UNKNOWN
    if (
        isinstance(value, Obj)
        and isinstance(value.func, Global)
        and value.func.name == "dtype"
        and value.func.module.startswith("numpy")
    ):
        return value
    return UNKNOWN


def _is_joblib_wrapper(obj: Obj) -> bool:
    func = obj.func
    if isinstance(func, Global) and func.full == _JOBLIB_WRAPPER:
        return True
    # protocol 0/1: copyreg._reconstructor(NumpyArrayWrapper, object, None)
    return (
        isinstance(func, Global)
        and func.full == "copyreg._reconstructor"
        and isinstance(obj.args, tuple)
        and bool(obj.args)
        and isinstance(obj.args[0], Global)
        and obj.args[0].full == _JOBLIB_WRAPPER
    )


def _dtype_size(dtype: Any) -> tuple[int | None, bool]:
    """A pickled ``numpy.dtype``'s item size and whether it holds objects (None: unknown)."""
    if not isinstance(dtype, Obj) or not isinstance(dtype.args, tuple) or not dtype.args:
        return None, False
    descr = dtype.args[0]
    if not isinstance(descr, str):
        return None, False
    state = dtype.state if isinstance(dtype.state, tuple) else ()
    flags = state[7] if len(state) > 7 and isinstance(state[7], int) else 0
    if descr.startswith("O") or flags & 1:
        return None, True
    if len(state) > 5 and isinstance(state[5], int) and state[5] > 0:
        return state[5], False
    digits = _DIGITS.search(descr)
    return (int(digits.group(1)), False) if digits else (None, False)
