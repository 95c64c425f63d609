"""Trivial functions for the benchmarks, in a module worker processes can import."""


def add_xy(x, y):
    return x + y


def add_one(x):
    return x + 1


def add4(a, b, c, d):
    return a + b + c + d
