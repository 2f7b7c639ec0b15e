"""The session folder: content-addressed images and masks, the version tree, the conversation log,
the writer that lands files, the one-writer lock, and the listing of saved sessions."""
