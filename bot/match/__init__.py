"""Topic matching and story clustering: pure functions over normalized items."""
