"""The graph's nodes, one small module each: plan, locate, clarify, segment, edit, verify, history, talk,
commit, respond."""
