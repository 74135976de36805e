"""Everything that talks HTTP to a source API lives here, and only here."""
