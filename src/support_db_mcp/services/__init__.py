"""The query layer: every select and insert of the application lives below this package."""
