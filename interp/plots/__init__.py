"""The PNG figures the runs write (matplotlib, no display)."""
