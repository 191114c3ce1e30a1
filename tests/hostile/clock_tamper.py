"""Slow, but tries to look fast to a clock inside its own process."""

import time

_real_sleep = time.sleep


def unlearning(net, retain, forget, validation):
    _real_sleep(1.0)
    time.perf_counter = lambda: 0.0
    time.monotonic = lambda: 0.0
    time.time = lambda: 0.0
    return net
