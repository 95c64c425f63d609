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


def test_every_error_class_of_the_package_is_defined_in_xyzfarm_errors():
    # so that the errors page (written from xyzfarm/errors.py) lists the whole tree
    import importlib
    import pkgutil

    import xyzfarm

    for info in pkgutil.walk_packages(xyzfarm.__path__, "xyzfarm."):
        if info.name.endswith("__main__"):
            continue
        module = importlib.import_module(info.name)
        for name, cls in inspect.getmembers(module, inspect.isclass):
            if issubclass(cls, errors.XyzfarmError):
                assert cls.__module__ == errors.__name__, f"{info.name}.{name}"
                assert getattr(errors, cls.__name__) is cls


def test_the_resource_error_is_an_invalid_input_error_and_a_value_error():
    assert issubclass(errors.ResourceError, errors.InvalidInputError)
    assert issubclass(errors.ResourceError, ValueError)
