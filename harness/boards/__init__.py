"""Boards: a folder of entries scored and ranked, at a fixed N, adaptively, or at several N for stability."""
