"""Which imports a model pickle may make: an allowlist per framework, and a deny list that wins.

Loading a pickle imports every global it names (``GLOBAL``, ``STACK_GLOBAL``, ``INST``) and may
call any of them (``REDUCE``, ``OBJ``, ``NEWOBJ``, ``BUILD`` with ``__setstate__``): the imports
are the whole of what it can reach. So a pickle is refused when one import is not allowed.

An entry is ``module.name`` (exact) or a glob (``fnmatch``, case-sensitive): ``sklearn.*`` is
every name of scikit-learn and its submodules, ``torch.*Storage`` each storage class. The deny
list is matched against the module, each dotted part of the path and the whole name, and wins
over any allowlist entry, the user's included: ``numpy.*`` does not allow ``numpy.load``, nor
``numpy.lib.npyio.os.system`` (protocol 4 resolves dotted names attribute by attribute).
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable
from dataclasses import dataclass

# Python 2 names that a protocol 0-2 pickle may use: unpickled as their Python 3 modules.
_PY2_MODULES = {"__builtin__": "builtins", "copy_reg": "copyreg", "__builtins__": "builtins"}

SKLEARN = ("sklearn.*",)
NUMPY = (
    "numpy.*",
    "_codecs.encode",  # how protocol 2 writes bytes (numpy arrays' buffers)
)
SCIPY = ("scipy.sparse.*",)
XGBOOST = ("xgboost.*",)
LIGHTGBM = ("lightgbm.*",)
JOBLIB = ("joblib.numpy_pickle.NumpyArrayWrapper",)
TORCH = (
    "torch._utils._rebuild_tensor",
    "torch._utils._rebuild_tensor_v2",
    "torch._utils._rebuild_tensor_v3",
    "torch._utils._rebuild_parameter",
    "torch._utils._rebuild_parameter_with_state",
    "torch._utils._rebuild_qtensor",
    "torch._utils._rebuild_sparse_tensor",
    "torch._utils._rebuild_device_tensor_from_numpy",
    "torch._tensor._rebuild_from_type_v2",
    "torch.storage.TypedStorage",
    "torch.storage.UntypedStorage",
    "torch.*Storage",
    "torch.Size",
    "torch.device",
    "torch.Tensor",
    "torch.nn.parameter.Parameter",
    "torch.float*",
    "torch.int*",
    "torch.uint8",
    "torch.bool",
    "torch.bfloat16",
    "torch.complex*",
    "torch.half",
    "torch.double",
    "torch.long",
    "torch.nn.modules.*",
)
PYTHON = (
    "builtins.set",
    "builtins.frozenset",
    "builtins.complex",
    "builtins.slice",
    "builtins.bytearray",
    "builtins.bytes",
    "builtins.range",
    "builtins.object",
    "builtins.int",
    "builtins.float",
    "builtins.str",
    "builtins.bool",
    "builtins.list",
    "builtins.tuple",
    "builtins.dict",
    "collections.OrderedDict",
    "collections.defaultdict",
    "collections.Counter",
    "collections.deque",
    "copyreg._reconstructor",
    "copyreg.__newobj__",
    "copyreg.__newobj_ex__",
    "datetime.datetime",
    "datetime.date",
    "datetime.time",
    "datetime.timedelta",
    "datetime.timezone",
    "decimal.Decimal",
    "fractions.Fraction",
)
DEFAULT_ALLOWED: tuple[str, ...] = (
    *PYTHON, *SKLEARN, *NUMPY, *SCIPY, *XGBOOST, *LIGHTGBM, *JOBLIB, *TORCH
)  # fmt: skip
"""What scikit-learn (and joblib), XGBoost, LightGBM and PyTorch (a ``state_dict`` or a model of
``torch.nn`` modules only) write for their own models; anything else must be allowed by name."""

DENIED_MODULES = frozenset(
    {
        # processes, files, the interpreter
        "os", "posix", "nt", "posixpath", "ntpath", "subprocess", "sys", "pty", "shutil",
        "tempfile", "glob", "pathlib", "io", "_io", "fileinput", "linecache", "mmap", "signal",
        "_thread", "threading", "multiprocessing", "concurrent", "asyncio", "gc", "resource",
        "_posixsubprocess", "select", "fcntl", "termios",
        # code execution and imports
        "importlib", "runpy", "code", "codeop", "compileall", "py_compile", "timeit", "pdb",
        "bdb", "cProfile", "profile", "trace", "types", "inspect", "ast", "dis", "ctypes",
        "_ctypes", "cffi", "pkgutil", "zipimport", "imp", "site", "sysconfig", "operator",
        "_operator", "__main__",
        # serializers: a pickle that loads another
        "pickle", "_pickle", "pickletools", "marshal", "shelve", "dill", "cloudpickle",
        "jsonpickle", "yaml",
        # the network
        "socket", "_socket", "ssl", "http", "urllib", "urllib2", "urllib3", "requests",
        "httpx", "aiohttp", "ftplib", "smtplib", "telnetlib", "poplib", "imaplib", "xmlrpc",
        "webbrowser", "socketserver", "boto3", "botocore",
        # installers and build tools
        "pip", "setuptools", "distutils", "ensurepip", "venv",
        # logging configuration (it imports and calls what a config names)
        "logging",
    }
)  # fmt: skip
"""Modules never allowed, as the module or any dotted part of a name."""

DENIED_NAMES = frozenset(
    {
        "builtins.eval", "builtins.exec", "builtins.compile", "builtins.open",
        "builtins.getattr", "builtins.setattr", "builtins.delattr", "builtins.__import__",
        "builtins.globals", "builtins.locals", "builtins.vars", "builtins.input",
        "builtins.breakpoint", "builtins.help", "builtins.exit", "builtins.quit",
        "builtins.type", "builtins.memoryview", "builtins.classmethod",
        "builtins.staticmethod", "builtins.property", "builtins.super", "builtins.print",
        "builtins.dir", "builtins.hasattr", "builtins.map", "builtins.filter",
        "builtins.apply", "builtins.execfile", "builtins.reload", "builtins.file",
    }
)  # fmt: skip
"""Names never allowed, however the allowlist is widened."""

DENIED_PATTERNS = (
    "numpy.testing*", "numpy.distutils*", "numpy.f2py*", "numpy.ctypeslib*",
    "numpy.lib.npyio*", "numpy.lib._npyio_impl*", "numpy.lib.format*", "numpy.load",
    "numpy.save*", "numpy.loadtxt", "numpy.genfromtxt", "numpy.fromfile", "numpy.fromregex",
    "numpy.memmap", "numpy._core.memmap*", "numpy.core.memmap*", "numpy.lib.utils*",
    "numpy.*.load", "numpy.*.save", "numpy.*.fromfile", "numpy.*.tofile",
    "numpy*._ufunc_reconstruct",  # numpy 1.x: imports any module.name it is given
    "torch.load", "torch.hub*", "torch.jit*", "torch.serialization*", "torch.utils*",
    "torch.storage._load_from_bytes", "torch._C*", "torch.ops*", "torch._dynamo*",
    "torch.package*", "torch.classes*",
    "numpy.lib._datasource*", "numpy.DataSource", "numpy._pytesttester*",
    "sklearn.externals*", "sklearn.utils._testing*", "sklearn.utils._show_versions*",
    "sklearn.datasets*",
    "scipy.sparse.load_npz", "scipy.sparse.save_npz", "scipy.sparse._matrix_io*",
    "xgboost.dask*", "xgboost.spark*", "xgboost.collective*", "xgboost.federated*",
    "lightgbm.dask*",
    "joblib.load", "joblib.numpy_pickle.load", "joblib.numpy_pickle_compat*",
    "xgboost.compat*", "xgboost.testing*", "xgboost.tracker*",
)  # fmt: skip
"""Functions of allowed packages that read files, load pickles or run code."""

_ALLOWED_DUNDERS = frozenset({"__newobj__", "__newobj_ex__"})


def normalized(module: str, name: str) -> str:
    """``module.name`` as Python 3 unpickles it (``__builtin__.eval`` is ``builtins.eval``)."""
    return f"{_PY2_MODULES.get(module, module)}.{name}"


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    denied: bool  # on the deny list (worse than merely unlisted)
    reason: str


@dataclass(frozen=True)
class Policy:
    """The allowlist a scan applies: ``DEFAULT_ALLOWED`` and ``extra`` entries.

    ``extra`` also allows Keras custom objects by ``module.class_name``; ``keras.layers.Lambda``
    in it lets Lambda layers through (they hold Python code run on load).
    """

    extra: tuple[str, ...] = ()
    defaults: tuple[str, ...] = DEFAULT_ALLOWED

    @classmethod
    def with_extra(cls, entries: Iterable[str]) -> Policy:
        entries = tuple(entries)
        for entry in entries:
            check_entry(entry)
        return cls(extra=entries)

    @property
    def allowed(self) -> tuple[str, ...]:
        return (*self.defaults, *self.extra)

    @property
    def allows_lambda_layers(self) -> bool:
        return "keras.layers.Lambda" in self.extra

    def verdict(self, module: str, name: str) -> Verdict:
        full = normalized(module, name)
        why = denial(module, name)
        if why is not None:
            return Verdict(False, True, why)
        if any(fnmatch.fnmatchcase(full, pattern) for pattern in self.allowed):
            return Verdict(True, False, "allowed")
        return Verdict(
            False,
            False,
            f"{full} is not in the allowlist of model globals: loading this pickle would "
            "import and may call it (allow it with --allow / allowed_pickle_globals only if "
            "you trust it)",
        )

    def allows_name(self, full: str) -> bool:
        """Whether a Keras ``module.class_name`` is allowed (``keras.*``, or by ``extra``)."""
        module, _, name = full.rpartition(".")
        if denial(module, name) is not None:
            return False
        return full.startswith("keras.") or any(
            fnmatch.fnmatchcase(full, pattern) for pattern in self.extra
        )


def denial(module: str, name: str) -> str | None:
    """Why ``module.name`` is on the deny list, or None."""
    mapped = _PY2_MODULES.get(module, module)
    full = f"{mapped}.{name}"
    parts = name.split(".")  # the module is imported; a dotted name is walked by getattr
    if mapped.split(".")[0] in DENIED_MODULES:
        return (
            f"{full} is in {mapped.split('.')[0]}, a module that can run code, touch files "
            "or the network: denied"
        )
    if full in DENIED_NAMES or f"{module}.{name}" in DENIED_NAMES:
        return f"{full} can evaluate code or reach any object: denied"
    for part in parts:
        if part in DENIED_MODULES:
            return f"{full} reaches {part} through attributes: denied"
        if part.startswith("__") and part.endswith("__") and part not in _ALLOWED_DUNDERS:
            return f"{full} names the special attribute {part}: denied"
    if not all(parts) or not all(mapped.split(".")):
        return f"{full!r} is not a well-formed global name: denied"
    for pattern in DENIED_PATTERNS:
        if fnmatch.fnmatchcase(full, pattern):
            return f"{full} reads files, loads pickles or runs code ({pattern}): denied"
    return None


def check_entry(entry: object) -> str:
    """An allowlist entry: ``module.name`` or a glob like ``mypackage.*``; ``ValueError``
    otherwise (the message names the entry)."""
    if (
        not isinstance(entry, str)
        or "." not in entry
        or entry.startswith(".")
        or entry.endswith(".")
        or any(ch.isspace() for ch in entry)
        or entry in ("*", "*.*")
        or entry.startswith("*")
    ):
        raise ValueError(
            "an allowed pickle global must be 'module.name' or a glob under a module like "
            f"'mypackage.*', got {entry!r}"
        )
    return entry
