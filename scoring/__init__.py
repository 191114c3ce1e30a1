"""Pure maths on arrays: confidences, epsilon, forgetting quality, final score.

Nothing here imports torch models, reads files or knows about submissions:
every function takes arrays and returns arrays or numbers.
"""
