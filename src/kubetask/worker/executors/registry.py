"""Which executor runs which task type; user modules loaded with --import."""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable, Iterable
from typing import Any

from kubetask.errors import ValidationError
from kubetask.model import validate_name
from kubetask.worker.executors.base import MARK, Executor, FunctionExecutor
from kubetask.worker.executors.builtins import BUILTINS


class ExecutorRegistry:
    def __init__(self, *, builtins: bool = True) -> None:
        self._executors: dict[str, Executor] = {}
        if builtins:
            for cls in BUILTINS:
                self.register(cls())

    def register(self, ex: Executor) -> Executor:
        validate_name("task type", ex.type)
        self._executors[ex.type] = ex
        return ex

    def register_function(self, type_: str, fn: Callable[..., Any]) -> Executor:
        return self.register(FunctionExecutor(type_, fn))

    def get(self, type_: str) -> Executor | None:
        return self._executors.get(type_)

    @property
    def types(self) -> tuple[str, ...]:
        return tuple(sorted(self._executors))

    def load_module(self, name: str) -> list[str]:
        """Import `name` and register each object marked with @kubetask.executor."""
        try:
            module = importlib.import_module(name)
        except ImportError as exc:
            raise ValidationError(f"--import {name}: cannot import it ({exc}); is it on "
                                  "PYTHONPATH?") from exc
        found = []
        for obj in vars(module).values():
            type_ = getattr(obj, MARK, None)
            if not isinstance(type_, str):
                continue
            if inspect.isclass(obj) and issubclass(obj, Executor):
                instance = obj()
                instance.type = type_
                self.register(instance)
            elif callable(obj):
                self.register_function(type_, obj)
            found.append(type_)
        if not found:
            raise ValidationError(f"--import {name}: no @kubetask.executor found in the module")
        return found

    def load_modules(self, names: Iterable[str]) -> None:
        for name in names:
            self.load_module(name)
