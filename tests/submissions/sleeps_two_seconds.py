"""Sleeps two seconds on every run: past a one-second --timeout, well within a longer one."""

import time


def unlearning(net, retain, forget, validation):
    time.sleep(2)
    return net
