"""frobnoscope.interp.features."""
