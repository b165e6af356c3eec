"""Functions the Mitogen benchmark calls inside its child contexts."""

import os

_ticks = 0


def getpid():
    return os.getpid()


def echo(x):
    return x


def tick():
    global _ticks
    _ticks += 1


def how_many():
    global _ticks
    n, _ticks = _ticks, 0
    return n
