"""Per-frame extraction backends: skeleton, optical flow, audio."""
