"""Shipping the user's function to pool workers and array tasks, and fingerprinting it.

The rule: a function, class or module that a compute node could not import by name travels
*by value* in ``function.pkl``: anything defined in ``__main__`` (a script, ``python -c``,
IPython, a Jupyter kernel) and any module whose file lives outside the interpreter's
installation (its standard library and site-packages), such as the user's ``accmod.py``
beside a notebook. Installed packages (numpy, scipy, xyzfarm itself) travel by reference and
are imported on the node. Local modules are found by walking the function's globals, closure,
defaults and the methods of the classes they reach (bounded), and registered with cloudpickle
only while ``function.pkl`` is pickled.

cloudpickle writes ``<dynamic-code>`` as the file of every function it ships by value; the
real file names travel beside the function and are put back on loading, so a failure's
traceback names the user's file and line.

The fingerprint identifies what a function computes, not where its text sits: bytecode,
constants (nested code included), names, defaults, closure values and the functions it calls
from local modules, with its module and qualified name; never line numbers or file names.

LEAN: the worker imports this module; it must not import xarray, pandas or jinja2.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import os
import re
import site
import sys
import sysconfig
import types
from collections.abc import Callable, Iterator
from typing import Any

import cloudpickle

from ..errors import FunctionPickleError
from ..store import storage

#: most objects visited when walking a function's references (a big module stays cheap)
MAX_WALK = 2000
#: cloudpickle's stand-in file name for code it ships by value
DYNAMIC_FILE = "<dynamic-code>"
_ADDRESS = re.compile(r" at 0x[0-9a-fA-F]+")


@functools.lru_cache(maxsize=1)
def installation_dirs() -> tuple[str, ...]:
    """Folders of this interpreter's installation: standard library and site-packages."""
    found: set[str] = set()
    base = {
        "base": sys.base_prefix,
        "platbase": sys.base_exec_prefix,
        "installed_base": sys.base_prefix,
        "installed_platbase": sys.base_exec_prefix,
    }
    for scheme_vars in ({}, base):
        paths = sysconfig.get_paths(vars=scheme_vars)
        found.update(paths[k] for k in ("stdlib", "platstdlib", "purelib", "platlib"))
    with contextlib.suppress(AttributeError):  # some embedded interpreters lack it
        found.update(site.getsitepackages())
    found.add(site.getusersitepackages())
    return tuple(sorted({os.path.realpath(p) for p in found if p}))


def is_installed(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` is part of the interpreter's installation (stdlib or site-packages)."""
    real = os.path.realpath(path)
    parts = real.split(os.sep)
    if "site-packages" in parts or "dist-packages" in parts:
        return True
    for folder in installation_dirs():
        if real == folder or real.startswith(folder + os.sep):
            return True
        # the zipped standard library (pythonXY.zip) sits beside the stdlib folder
        if os.path.dirname(real) == os.path.dirname(folder) and real.endswith(".zip"):
            return True
    return False


def travels_by_value(module: types.ModuleType) -> bool:
    """Whether the objects of ``module`` must travel by value (a node cannot import it)."""
    name = module.__name__
    if name in ("__main__", "__mp_main__"):
        return True
    if name.split(".")[0] == "xyzfarm":
        return False  # every task imports xyzfarm to run at all
    path = getattr(module, "__file__", None)
    return isinstance(path, str) and not is_installed(path)


def _module_of(obj: Any) -> types.ModuleType | None:
    if isinstance(obj, types.ModuleType):
        return obj
    name = getattr(obj, "__module__", None)
    return sys.modules.get(name) if isinstance(name, str) else None


def _references(obj: Any) -> Iterator[Any]:
    """What a function or class refers to that may lead to more local code."""
    if isinstance(obj, functools.partial):
        yield obj.func
        yield from obj.args
        yield from obj.keywords.values()
        return
    if isinstance(obj, types.MethodType):
        yield obj.__func__
        return
    if isinstance(obj, type):
        for value in vars(obj).values():
            if isinstance(value, (staticmethod, classmethod)):
                value = value.__func__
            if isinstance(value, (types.FunctionType, property)):
                yield from (value.fget, value.fset) if isinstance(value, property) else (value,)
        return
    if not isinstance(obj, types.FunctionType):
        # a callable object: its class (and so its __call__) travels
        if isinstance(vars(type(obj)).get("__call__"), types.FunctionType):
            yield type(obj)
        return
    for name in _global_names(obj.__code__):
        if name in obj.__globals__:
            yield obj.__globals__[name]
    for cell in obj.__closure__ or ():
        with contextlib.suppress(ValueError):  # an empty cell has no contents
            yield cell.cell_contents
    yield from obj.__defaults__ or ()
    yield from (obj.__kwdefaults__ or {}).values()


def _walk(fn: Any) -> Iterator[Any]:
    """``fn`` and the functions, classes and modules it reaches inside local modules."""
    seen: set[int] = set()
    stack = [fn]
    while stack and len(seen) < MAX_WALK:
        obj = stack.pop()
        if id(obj) in seen or not (callable(obj) or isinstance(obj, types.ModuleType)):
            continue
        seen.add(id(obj))
        module = _module_of(obj)
        local = module is not None and travels_by_value(module)
        if obj is not fn and not local:
            continue
        yield obj
        if not isinstance(obj, types.ModuleType):
            stack.extend(_references(obj))


def local_modules(fn: Any) -> list[types.ModuleType]:
    """The modules (other than ``__main__``) whose code ``fn`` needs and a node cannot import."""
    found: dict[str, types.ModuleType] = {}
    for obj in _walk(fn):
        module = _module_of(obj)
        main = module is not None and module.__name__ in ("__main__", "__mp_main__")
        if module is not None and not main and travels_by_value(module):
            found[module.__name__] = module
    return list(found.values())


def _code_files(fn: Any) -> dict[str, str]:
    """File name of every code object reachable from ``fn``, keyed without the file."""
    files: dict[str, str] = {}
    for obj in _walk(fn):
        for func in [obj, *(_references(obj) if isinstance(obj, type) else ())]:
            code = getattr(func, "__code__", None)
            stack = [code] if isinstance(code, types.CodeType) else []
            while stack:
                c = stack.pop()
                files.setdefault(_code_key(c), c.co_filename)
                stack.extend(k for k in c.co_consts if isinstance(k, types.CodeType))
    return files


def _code_key(code: types.CodeType) -> str:
    qualname = getattr(code, "co_qualname", code.co_name)
    return f"{qualname}:{code.co_firstlineno}"


def dumps_function(fn: Callable[..., Any], fixed: dict[str, Any]) -> bytes:
    """The bytes of ``function.pkl``: ``fn`` (local code by value), ``fixed`` and file names.

    Raises
    ------
    FunctionPickleError
        If something ``fn`` reads (or a constant or resource) cannot be pickled, naming it.
    """
    registered = []
    try:
        for module in local_modules(fn):
            if module.__name__ not in cloudpickle.list_registry_pickle_by_value():
                cloudpickle.register_pickle_by_value(module)
                registered.append(module)
        try:
            return storage.dumps({"fn": fn, "fixed": fixed, "files": _code_files(fn)})
        except Exception as exc:
            where = unpicklable_part(fn, fixed) or f"the function {qualname(fn)} itself"
            # from None: cloudpickle's frames name no value of the user's, this message does
            raise FunctionPickleError(
                f"the function {qualname(fn)} cannot be saved for worker processes and array "
                f"tasks: {where} cannot be pickled ({type(exc).__name__}: {exc}). Create "
                "that value inside the function (or give what it is made from as a constant), "
                "or sow with save_fn=False and grow in this process "
                "(crop.grow(subprocess=False)). Nothing was written."
            ) from None
    finally:
        # only for function.pkl: the user's own pickling must stay as they set it
        for module in registered:
            cloudpickle.unregister_pickle_by_value(module)


def _picklable(value: Any) -> bool:
    try:
        storage.dumps(value)
    except Exception:
        return False
    return True


def _parts(value: Any) -> Iterator[tuple[str, Any]]:
    """The pieces a value is pickled from: attributes, items."""
    if isinstance(value, dict):
        for key, item in list(value.items())[:100]:
            yield f"[{key!r}]", item
    elif isinstance(value, (list, tuple, set, frozenset)):
        for k, item in enumerate(list(value)[:100]):
            yield f"[{k}]", item
    else:
        with contextlib.suppress(TypeError):
            for key, item in list(vars(value).items())[:100]:
                yield f".{key}", item


def _unpicklable_within(path: str, value: Any, depth: int = 4) -> str:
    """The deepest part of ``value`` (not picklable itself) that cannot be pickled."""
    for suffix, part in _parts(value) if depth else ():
        if not _picklable(part):
            return _unpicklable_within(path + suffix, part, depth - 1)
    return f"{path} (a {type(value).__module__}.{type(value).__qualname__})"


def unpicklable_part(fn: Any, fixed: dict[str, Any]) -> str | None:
    """Where the first value that cannot be pickled sits in ``fn`` (its globals, closure
    variables, defaults, and those of the local code it calls) or in ``fixed``."""
    candidates: list[tuple[str, Any]] = [(f"the constant {k!r}", v) for k, v in fixed.items()]
    for obj in _walk(fn):
        if not isinstance(obj, types.FunctionType):
            continue
        name = qualname(obj)
        for glob in _global_names(obj.__code__):
            if glob in obj.__globals__ and not isinstance(obj.__globals__[glob], _CODE_TYPES):
                candidates.append((f"the global {glob!r} read by {name}", obj.__globals__[glob]))
        for var, cell in zip(obj.__code__.co_freevars, obj.__closure__ or ()):
            with contextlib.suppress(ValueError):  # an empty cell
                candidates.append((f"the variable {var!r} {name} closes over", cell.cell_contents))
        for k, default in enumerate(obj.__defaults__ or ()):
            candidates.append((f"default {k} of {name}", default))
    # code is walked above: name what it reads rather than the function that reads it
    candidates = [(w, v) for w, v in candidates if not isinstance(v, _CODE_TYPES)]
    for where, value in candidates:
        if not _picklable(value):
            return _unpicklable_within(where, value)
    return None


def _restore_code(code: types.CodeType, files: dict[str, str]) -> types.CodeType:
    consts = tuple(
        _restore_code(c, files) if isinstance(c, types.CodeType) else c for c in code.co_consts
    )
    filename = code.co_filename
    if filename == DYNAMIC_FILE:
        filename = files.get(_code_key(code), filename)
    if filename == code.co_filename and consts == code.co_consts:
        return code
    return code.replace(co_filename=filename, co_consts=consts)


def restore_file_names(fn: Any, files: dict[str, str]) -> None:
    """Put the real file names back on the code that cloudpickle shipped as dynamic."""
    if not files:
        return
    seen: set[int] = set()
    stack = [fn]
    while stack and len(seen) < MAX_WALK:
        obj = stack.pop()
        if id(obj) in seen:
            continue
        seen.add(id(obj))
        code = getattr(obj, "__code__", None)
        if isinstance(obj, types.FunctionType) and isinstance(code, types.CodeType):
            if code.co_filename != DYNAMIC_FILE:
                continue  # loaded by reference: its file is the node's own
            obj.__code__ = _restore_code(code, files)
        if callable(obj):
            stack.extend(r for r in _references(obj) if callable(r))


def loads_function(data: bytes) -> tuple[Callable[..., Any], dict[str, Any]]:
    """``(fn, fixed)`` from the bytes of ``function.pkl`` (only ever on trusted data)."""
    saved = storage.loads(data)
    restore_file_names(saved["fn"], saved.get("files") or {})
    return saved["fn"], saved["fixed"]


# -- what the function reads: module globals by value --------------------------------------------

#: globals that are code or imports, not data: the fingerprint covers code, a node imports
_CODE_TYPES = (
    types.ModuleType,
    types.FunctionType,
    types.BuiltinFunctionType,
    types.MethodType,
    type,
    functools.partial,
)


def read_globals(fn: Any) -> dict[str, Any]:
    """The data ``fn`` reads from module globals, as ``{name: value}``.

    Only code that travels by value counts (``fn`` defined in ``__main__``, a notebook or a
    module beside it, and the local functions it calls): its globals are pickled with it, so
    a notebook cell that changes one after sowing would make this process compute with
    other values than workers and array tasks loading ``function.pkl``. Names are
    ``module.name``, bare for ``__main__``.
    """
    found: dict[str, Any] = {}
    for obj in _walk(fn):
        if not isinstance(obj, types.FunctionType):
            continue
        module = _module_of(obj)
        if module is None or not travels_by_value(module):
            continue  # loaded by reference: every process imports the same module
        prefix = "" if module.__name__ in ("__main__", "__mp_main__") else module.__name__ + "."
        for name in _global_names(obj.__code__):
            value = obj.__globals__.get(name, _CODE_TYPES)
            if value is not _CODE_TYPES and not isinstance(value, _CODE_TYPES):
                found.setdefault(prefix + name, value)
    return found


def value_digest(value: Any) -> str:
    """A short hash of ``value`` as it would be pickled into ``function.pkl``."""
    try:
        return hashlib.sha256(storage.dumps(value)).hexdigest()[:16]
    except Exception:  # cannot be pickled: sowing said so already (see dumps_function)
        return "unpicklable"


def globals_digests(fn: Any) -> dict[str, str]:
    """``{name: digest}`` of every global ``fn`` reads (see :func:`read_globals`)."""
    return {name: value_digest(value) for name, value in sorted(read_globals(fn).items())}


def same_value(a: Any, b: Any) -> bool:
    """Whether two values of a global are equal (pickles can differ for equal values)."""
    if a is b:
        return True
    if type(a) is not type(b):
        return False
    try:
        equal = a == b
        if isinstance(equal, bool):
            return equal
        # an array's comparison: equal shapes and every element equal
        if getattr(a, "shape", None) != getattr(b, "shape", None):
            return False
        return bool(equal.all())
    except Exception:  # no comparison: the pickles decided already
        return False


def changed_globals(recorded: dict[str, str], fn: Any, sown_fn: Callable[[], Any]) -> list[str]:
    """The globals of ``recorded`` (name -> digest at sowing) whose value ``fn`` now reads
    differs; ``sown_fn()`` gives the sown function (None if there is none), whose values are
    compared where the digests differ (set order, a class tracker id) but the values may
    not."""
    live = read_globals(fn)
    changed: list[str] = []
    sown: dict[str, Any] | None = None
    for name, digest in sorted(recorded.items()):
        if name in live and value_digest(live[name]) == digest:
            continue
        if sown is None:
            saved = sown_fn()
            sown = {} if saved is None else read_globals(saved)
        if name in live and name in sown and same_value(sown[name], live[name]):
            continue
        changed.append(name)
    return changed


# -- fingerprint ---------------------------------------------------------------------------------


def _clean_repr(value: Any) -> str:
    # a memory address differs between sessions: it must not make the same function differ
    try:
        text = repr(value)
    except Exception:  # a broken __repr__ says nothing about the code
        text = f"<{type(value).__qualname__}>"
    return _ADDRESS.sub("", text)


def _global_names(code: types.CodeType) -> list[str]:
    names: set[str] = set()
    stack = [code]
    while stack:
        c = stack.pop()
        names.update(c.co_names)
        stack.extend(k for k in c.co_consts if isinstance(k, types.CodeType))
    return sorted(names)


def _hash_code(h: Any, code: types.CodeType) -> None:
    h.update(code.co_code)
    for name_tuple in (code.co_names, code.co_varnames, code.co_freevars, code.co_cellvars):
        h.update(repr(name_tuple).encode())
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            _hash_code(h, const)
        else:
            h.update(_clean_repr(const).encode())
        h.update(b"\0")


def fingerprint(fn: Any) -> str:
    """A short hash of what ``fn`` computes: its code, closure and defaults, and the code it
    calls from local modules, with its module and qualified name; line numbers and file
    names do not count, so moving the code does not change it."""
    h = hashlib.sha256()
    for obj in _walk(fn):
        h.update(qualname(obj).encode())
        if isinstance(obj, functools.partial):
            h.update(_clean_repr((obj.args, sorted(obj.keywords.items()))).encode())
        if not isinstance(obj, types.FunctionType):
            continue
        _hash_code(h, obj.__code__)
        h.update(_clean_repr((obj.__defaults__, obj.__kwdefaults__)).encode())
        for cell in obj.__closure__ or ():
            try:
                value = cell.cell_contents
            except ValueError:
                value = "<empty cell>"
            # functions in the closure are hashed by the walk, by code, not by address
            h.update(b"<fn>" if callable(value) else _clean_repr(value).encode())
        h.update(b"\1")
    return h.hexdigest()[:16]


def qualname(fn: Any) -> str:
    """A readable name of ``fn`` (module and qualified name) for messages."""
    if isinstance(fn, functools.partial):
        return f"partial({qualname(fn.func)})"
    if isinstance(fn, types.ModuleType):
        return fn.__name__
    name = getattr(fn, "__qualname__", None) or type(fn).__qualname__
    module = getattr(fn, "__module__", None)
    return f"{module}.{name}" if module else name
