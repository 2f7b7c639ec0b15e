"""chatedit's agent: the LangGraph dialog planner, edit history with undo, and sessions."""
