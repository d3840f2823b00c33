"""Parsers: text in, data out, no I/O. Every parser accepts any input without raising."""
