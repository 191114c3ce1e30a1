"""What participants hand in, read as untrusted bytes: files, notebooks, checkpoints made elsewhere and their timings."""
