"""frobnoscope.interp.evaluation."""
