"""The package's public names are exactly what ``__all__`` says, and every error a user
can catch is exported."""

from __future__ import annotations

import inspect

import icehouse
from icehouse import errors


def test_every_name_in_all_is_importable_from_the_package() -> None:
    for name in icehouse.__all__:
        assert hasattr(icehouse, name), name


def test_every_exception_class_is_exported_and_rooted_in_icehouse_error() -> None:
    classes = {
        name
        for name, value in inspect.getmembers(errors, inspect.isclass)
        if issubclass(value, Exception) and value.__module__ == errors.__name__
    }
    assert classes <= set(icehouse.__all__)
    assert all(issubclass(getattr(errors, name), errors.IcehouseError) for name in classes)
    assert set(errors.__all__) == classes
