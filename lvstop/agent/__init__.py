"""`lvstop agent` (the director side of `lvstop --host`) and the lvstop.agent/1 protocol."""
