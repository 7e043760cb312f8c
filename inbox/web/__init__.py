"""The human inbox: server-rendered pages with htmx swaps."""
