"""frobnoscope.models.autoencoders."""
