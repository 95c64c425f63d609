from __future__ import annotations

import inspect

from xyzfarm import errors


def test_every_error_subclasses_xyzfarm_error_and_a_builtin():
    classes = [
        c for _, c in inspect.getmembers(errors, inspect.isclass) if c.__module__ == errors.__name__
    ]
    assert len(classes) > 5
    for cls in classes:
        if cls is errors.XyzfarmError:
            continue
        assert issubclass(cls, errors.XyzfarmError)
        builtin = [
            b
            for b in cls.__mro__
            if b.__module__ == "builtins" and b not in (object, BaseException, Exception)
        ]
        assert builtin, f"{cls.__name__} refines no builtin exception"
