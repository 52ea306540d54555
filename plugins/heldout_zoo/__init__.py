"""The built-in model zoo: experiments registered through the same pluggy hooks as any plugin."""
