"""The wizard's own widgets: each module one control (the step bar, a labelled field, a secret, a choice,
checkbox and radio button that show without colour, charon's live log)."""
