"""What a score becomes: score.json's document built from the runs, the console summary and its context line."""
