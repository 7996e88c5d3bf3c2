"""The domain model: one definition of each thing rempart talks about."""
