"""A local exchange on 127.0.0.1 that speaks MEXC to the unmodified ccxt client."""
