"""What people read: Markdown and HTML pages, display cells, PNG figures and report.html.

Rendering reads the numbers `scoring` computes and the documents `harness`
writes; it computes no metric and never imports a submission. The sandbox
worker does not import it.
"""
