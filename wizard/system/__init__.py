"""The running system: strongSwan's service and vici, network facts, charon's log, worker processes."""
