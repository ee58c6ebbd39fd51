"""Linear probes of every hook point x ground-truth factor, their controls, and disentanglement metrics."""
