"""frobnoscope.interp.activations."""
