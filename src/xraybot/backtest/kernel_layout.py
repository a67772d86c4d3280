"""The array layouts of the compiled backtest loops: what each slot of their vectors means.

The loops (``backtest.kernel`` for one symbol, ``backtest.portfolio_kernel`` for a shared
account) and their steps (``backtest.kernel``, ``backtest.kernel_risk``) pass flat float64
vectors and 2-D record arrays; the index constants below name their slots. Plain constants,
no numba, so ``backtest.results`` can read the records too. numba compiles a module-level
constant into the code, so this module is one of ``numba_cache.COMPILED_IN``.
"""

from __future__ import annotations

# -- ``rules``: one float64 vector of settings; NaN switches a level off ------------------
R_FEE = 0
R_LEVERAGE = 1  # the leverage, or with auto leverage its cap
R_MMR = 2  # maintenance margin rate; NaN on spot (no liquidation)
R_STOP_PCT = 3
R_TARGET_PCT = 4
R_STOP_ATR = 5
R_TARGET_ATR = 6
R_TRAIL_PCT = 7
R_TRAIL_ACTIVATION = 8
R_BREAKEVEN_PCT = 9
R_TIME_CANDLES = 10  # 0 = off
R_FUNDING_RATE = 11
R_FUNDING_MS = 12
R_STAKE_MODE = 13
R_STAKE_AMOUNT = 14
R_ALLOW_LONG = 15
R_ALLOW_SHORT = 16
R_MAX_OPEN = 17
N_RULES = 18

STAKE_ALL = 0
STAKE_FRACTION = 1
STAKE_FIXED = 2

# -- one open position: a float64 vector, flat when ``P_DIR`` is 0 ------------------------
P_DIR = 0
P_QTY = 1  # amount still held
P_QTY0 = 2  # amount opened (partial targets are fractions of it)
P_ENTRY = 3
P_ENTRY_INDEX = 4
P_STOP = 5
P_TARGET = 6
P_BEST = 7  # best price of the closed candles since entry
P_NEXT_PARTIAL = 8
P_COST = 9  # cash committed for the amount still held: margin + entry fee
P_FEE = 10  # entry fee of the amount still held
P_FUNDING = 11  # funding received for the amount still held
P_LIQ = 12
P_LEVERAGE = 13  # the position's own leverage (auto leverage picks one per trade)
N_POS = 14

# -- closed trades: float columns and int columns, one row per trade (partials included) --
F_ENTRY_PRICE = 0
F_EXIT_PRICE = 1
F_AMOUNT = 2
F_FEE = 3
F_FUNDING = 4
F_PNL = 5
F_LEVERAGE = 6
N_F = 7
I_ENTRY = 0  # candle index of the entry (per symbol)
I_EXIT = 1
I_DIR = 2
I_REASON = 3
I_SYMBOL = 4
N_I = 5

# -- ``risk``: the risk layer's settings, one float64 vector (NaN = off) ------------------
K_ACTIVE = 0  # 1: any risk step runs (sizing other than the stake, or the rules)
K_RULES = 1  # 1: protections and limits run
K_SIZING = 2  # SIZING_STAKE, or a ``risk.sizing`` SIZE_* mode
K_AMOUNT = 3  # stake_notional's ``amount`` (the risk per trade for SIZE_RISK)
K_TARGET_VOL = 4  # per-candle volatility the SIZE_VOL_TARGET position aims at
K_KELLY_CAP = 5
K_KELLY_MIN_TRADES = 6  # closed trades before Kelly sizes; the stake sizes until then
K_AUTO_LEVERAGE = 7  # 1: leverage_for picks each trade's leverage, R_LEVERAGE caps it
K_LEVERAGE_SAFETY = 8
K_MIN_NOTIONAL = 9  # smaller entries are skipped (0 = any)
K_MAX_OPEN = 10
K_MAX_SYMBOL = 11
K_MAX_TOTAL = 12
K_MAX_CLUSTER = 13
K_MARGIN_MULTIPLIER = 14
K_SHRINK = 15  # 1: an entry over a limit shrinks to the room left; 0: it is skipped
K_CLOSE_MS = 16  # open to close of a candle (its length - 1 ms): when closes are dated
K_KILL_AT = 17  # the kill switch trips at this time (NaN: never)
N_RISK = 18

SIZING_STAKE = -1  # size as ``BacktestSettings.stake`` says (the kernel's stake_cost)

# Running statistics of closed trades (one account), for Kelly sizing.
S_TRADES = 0
S_WINS = 1  # return > 0
S_LOSSES = 2  # return < 0
S_WIN_SUM = 3  # sum of the winners' returns on notional
S_LOSS_SUM = 4  # sum of the losers' returns on notional, as a positive number
N_STATS = 5

# Risk events: an entry the risk layer refused or shrank, one int64 row each.
E_INDEX = 0  # candle index (per symbol) of the open where the entry was due
E_SYMBOL = 1
E_KIND = 2  # KIND_*
E_CODE = 3  # the reason code within the kind
N_E = 4
KIND_PROTECTION = 1  # code: a ``risk.protections`` BLOCK_* code; the entry was skipped
KIND_LIMIT = 2  # code: a ``risk.limits`` LIMIT_* code; the entry was skipped
KIND_SIZING = 3  # code: SIZING_*; the entry was skipped
KIND_SHRUNK = 4  # code: the LIMIT_* code whose room the entry was shrunk to; it opened
SIZING_NOTHING = 1  # the sizing gave no notional (no cash, no edge, no volatility...)
SIZING_BELOW_MIN = 2  # below K_MIN_NOTIONAL

# Entries the risk layer sized: one float64 row per position opened.
EN_INDEX = 0
EN_SYMBOL = 1
EN_EQUITY = 2  # account equity the sizing and the limits used
EN_CASH = 3  # free cash before the entry
EN_OPEN_NOTIONAL = 4  # the account's open notional before the entry
EN_CLUSTER_NOTIONAL = 5  # the open notional of the symbol's cluster before it
EN_NOTIONAL = 6  # the notional opened
EN_COST = 7  # cash committed: margin + entry fee
EN_LEVERAGE = 8
EN_SCALE = 9  # the protections' dynamic risk multiplier applied
N_EN = 10
