"""The runs: sandboxed workers driven locally or on Dask, what a run's answer is worth, failures and the ledger that keeps them."""
