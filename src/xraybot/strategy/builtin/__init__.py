"""Built-in strategies, one module each; ``xraybot.strategy.registry`` imports them by name.

Nothing is imported here so that loading one built-in never loads the others.
"""
