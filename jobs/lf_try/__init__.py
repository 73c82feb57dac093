"""The LF try-loop: an LF evaluated on a cached sample beside the stored votes, fitted as a run would."""
