"""The named values of the run settings, shared by the command line, competition files and the modules that act on them.

A module of constants only, so that reading a competition file (harness.benchmarks, which a
submission in the sandbox may import too) needs neither the budget's maths nor the runner.
"""

DEFAULT_FRACTION = 0.2  # the time budget: unlearning may take this share of retraining's time
POLICIES = ("eligible", "rank-all")  # over budget: ranked after those within it, or by score alone
BORDERLINE = ("pass", "fail", "more-runs")  # what a borderline verdict counts as; more-runs: timed again on more runs, then as pass
YARDSTICKS = ("paired", "cached")  # retraining measured beside each submission's runs (default), or once per machine
