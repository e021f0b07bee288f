"""Kinematics from a COCO-17 skeleton: joint angles, held postures, repetitions, time-to-complete,
per-item measurements defined in the protocol files, and per-frame features for the models."""
