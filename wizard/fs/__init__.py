"""The target root's files: paths under a root, link-refusing writes, bounded reads, the change set."""
