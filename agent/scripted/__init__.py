"""`chatedit run`: session files, the headless runner, transcripts, checks, and the pinned-reply planner."""
