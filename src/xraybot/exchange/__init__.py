"""The ExchangeGateway port and its adapters: ccxt (live exchanges and the simulator) and paper."""
