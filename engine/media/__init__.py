"""Media files: probing (what is in a file) and decoding (frames and audio, streamed)."""
