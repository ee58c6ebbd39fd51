"""Sparse autoencoders on a hook point's tokens: the model, streamed training batches, training, splicing, and
the stability and absorption diagnostics."""
