"""Pure maths on arrays: confidences, epsilon, forgetting quality, final score.

Nothing here imports torch models, reads files or knows about submissions:
every function takes arrays and returns arrays or numbers. The one
exception, `text`, is the escaping of hidden characters that every layer
shares, the sandbox worker included, and this is the layer all may import.
"""
