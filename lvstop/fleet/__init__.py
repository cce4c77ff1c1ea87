"""The fleet: several directors over their agents (`lvstop --host`); no Textual here."""
