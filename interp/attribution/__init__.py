"""frobnoscope.interp.attribution."""
