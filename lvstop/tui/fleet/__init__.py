"""The fleet screen of `lvstop --host`: directors side by side over their agents."""
