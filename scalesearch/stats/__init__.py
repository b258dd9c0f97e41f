"""The decision statistics, pure: observations in, statements out.

The model every ranking rests on (twoway: accuracy = point + seed + noise, each point's
moderated noise), the simultaneous constants that make a family of intervals keep its
word (simultaneous: Hsu's MCB, Dunnett), the ranking, racing and differences built on
them (ranking), the agreement of two rankings (rank_agreement), the smooth fit of a grid's
surface (surface) and the stated rule that picks one contender of a tie (tie_break).
grid, compare, transfer and the reports use them; they import nothing above the spec.
"""
