"""Activations at hook points: capture into an `ActivationStore` (ground truth pooled to each layer's grid), and
a run read as tokens with their per-token truth."""
