"""The command line: its arguments, the one table of exit codes, the errors that carry them, and `main`."""
