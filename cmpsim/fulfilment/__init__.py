"""Service order fulfilment (seed 004): order lines with actions, assets, revisions, follow-on and
future-dated orders, price lists, priorities under limited capacity."""
