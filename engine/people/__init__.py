"""Every person in a video: detection, offline tracking, subject choice and per-person landmarks.

``detect``: BlazePose's detector over square tiles of each sampled frame, one box per person.
``tracker``: per-frame links (Hungarian on motion and overlap) into tracklets, stitched across
gaps by position, size and colour. ``subject``: ranking, automatic or user choice, swaps.
``landmarks``: the landmark model on one person's own region, as a skeleton ``Track``.
``people``: the ``People`` container. ``export``: CSV and TRC files. ``metrics``: identity
scores against known truth. ``api``: what the extraction and the CLI call.
"""
