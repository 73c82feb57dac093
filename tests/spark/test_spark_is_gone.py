"""Telling a dead driver JVM from a failing call: the error py4j raises depends on when the JVM died
(seen in CI: a bare ``Py4JError`` from a call the JVM died in, which was not recognised and made the
run exit 1 with a traceback instead of 3 with one line)."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from py4j.protocol import Py4JError, Py4JJavaError, Py4JNetworkError

from jobs.spark.session import spark_is_gone


def _spark(exit_code: int | None) -> Any:
    """A SparkSession stand-in whose driver JVM process has exited with ``exit_code`` (None: alive)."""
    proc = SimpleNamespace(poll=lambda: exit_code)
    return SimpleNamespace(sparkContext=SimpleNamespace(_gateway=SimpleNamespace(proc=proc)))


def _chained(outer: BaseException, inner: BaseException) -> BaseException:
    try:
        try:
            raise inner
        except BaseException:
            raise outer  # noqa: B904 - the implicit context is the point
    except BaseException as exc:
        return exc


def test_a_bare_py4j_error_from_a_killed_jvm_is_a_dead_driver() -> None:
    dead, alive = _spark(-9), _spark(None)
    bare = Py4JError("An error occurred while calling o64.read")
    assert spark_is_gone(dead, bare)
    assert spark_is_gone(dead, _chained(RuntimeError("stage failed"), bare))
    assert spark_is_gone(dead, Py4JNetworkError("Answer from Java side is empty"))
    assert not spark_is_gone(alive, bare, wait_s=0.1)
    assert not spark_is_gone(alive, ConnectionRefusedError(), wait_s=0.1)


def test_a_java_exception_or_a_plain_error_is_not_a_dead_driver() -> None:
    dead = _spark(-9)
    assert not spark_is_gone(dead, ValueError("a bad value"))
    java = Py4JJavaError.__new__(Py4JJavaError)  # thrown by a JVM that answered
    assert not spark_is_gone(dead, java)
