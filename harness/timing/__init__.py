"""The time budget: retraining timed as its yardstick, the ratio's interval and the verdict."""
